// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kinds of Op for issue 24's names: a file that already has a name gets a
// new one, Path (relative to the child's directory, which is also its cwd),
// from For (absolute, or relative to the cwd).
const (
	OpRenameat        = "renameat"            // renameat(AT_FDCWD, For, dir, Path)
	OpRenameNoReplace = "renameat2_noreplace" // renameat2(AT_FDCWD, For, dir, Path, RENAME_NOREPLACE)
	OpRenameExchange  = "renameat2_exchange"  // renameat2(AT_FDCWD, For, dir, Path, RENAME_EXCHANGE)
	OpLinkat          = "linkat"              // linkat(AT_FDCWD, For, dir, Path, 0)
	OpRenameLegacy    = "rename"              // rename(For, Path) (amd64 only)
	OpLinkLegacy      = "link"                // link(For, Path) (amd64 only)
	OpIOUringRenameat = "io_uring_renameat"   // IORING_OP_RENAMEAT AT_FDCWD For to dir Path
	OpIOUringExchange = "io_uring_exchange"   // IORING_OP_RENAMEAT, RENAME_EXCHANGE
	OpIOUringLinkat   = "io_uring_linkat"     // IORING_OP_LINKAT AT_FDCWD For to dir Path
	// Symbolic links to For (their target, never followed) named Path.
	OpSymlinkat        = "symlinkat"          // symlinkat(For, dir, Path)
	OpSymlinkLegacy    = "symlink"            // symlink(For, Path) (amd64 only)
	OpIOUringSymlinkat = "io_uring_symlinkat" // IORING_OP_SYMLINKAT For to dir Path
	OpMkdir            = "mkdir"              // mkdirat(dir, Path, 0755)
	// OpTmpfileLinkIOUring opens an O_TMPFILE file in the dir and names it
	// Path by IORING_OP_LINKAT of /proc/self/fd/N (AT_SYMLINK_FOLLOW).
	OpTmpfileLinkIOUring = "tmpfile_link_io_uring"
	// OpIOUringDirectNoSlot opens Path O_CREAT through io_uring into direct
	// descriptor slot 5 of a ring that registered one slot: the file is
	// made, then the ring cannot take it (-EINVAL), which the op expects.
	OpIOUringDirectNoSlot = "io_uring_direct_no_slot"
)

// nameOp performs the ops of this file; ok is false for other kinds.
func nameOp(dir int, op Op) (ok bool, err error) {
	switch op.Kind {
	case OpRenameat:
		return true, unix.Renameat(unix.AT_FDCWD, op.For, dir, op.Path)
	case OpRenameNoReplace:
		return true, unix.Renameat2(unix.AT_FDCWD, op.For, dir, op.Path, unix.RENAME_NOREPLACE)
	case OpRenameExchange:
		return true, unix.Renameat2(unix.AT_FDCWD, op.For, dir, op.Path, unix.RENAME_EXCHANGE)
	case OpLinkat:
		return true, unix.Linkat(unix.AT_FDCWD, op.For, dir, op.Path, 0)
	case OpRenameLegacy, OpLinkLegacy, OpSymlinkLegacy:
		return true, legacyName(op.Kind, op.For, op.Path)
	case OpMkdir:
		return true, unix.Mkdirat(dir, op.Path, 0o755)
	case OpSymlinkat:
		return true, unix.Symlinkat(op.For, dir, op.Path)
	case OpIOUringSymlinkat:
		o, err := unix.BytePtrFromString(op.For)
		if err != nil {
			return true, err
		}
		n, err := unix.BytePtrFromString(op.Path)
		if err != nil {
			return true, err
		}
		// io_uring/fs.c io_symlinkat_prep: fd the new name's directory,
		// addr the target, addr2 the new name
		res, err := uringRun(false, 0, func(e *sqe) {
			*e = sqe{Opcode: ioringOpSymlinkat, Fd: int32(dir), Addr: uint64(uintptr(unsafe.Pointer(o))),
				Off: uint64(uintptr(unsafe.Pointer(n))), UserData: 45}
		})
		runtime.KeepAlive(o)
		runtime.KeepAlive(n)
		if err == nil && res < 0 {
			err = fmt.Errorf("io_uring symlinkat: %w", unix.Errno(-res))
		}
		return true, err
	case OpTmpfileLinkIOUring:
		fd, err := unix.Openat(dir, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return true, fmt.Errorf("open O_TMPFILE: %w", err)
		}
		defer unix.Close(fd)
		res, err := uringName(ioringOpLinkat, fmt.Sprintf("/proc/self/fd/%d", fd), dir, op.Path, unix.AT_SYMLINK_FOLLOW)
		if err == nil && res < 0 {
			err = fmt.Errorf("io_uring linkat: %w", unix.Errno(-res))
		}
		return true, err
	case OpIOUringDirectNoSlot:
		name, err := unix.BytePtrFromString(op.Path)
		if err != nil {
			return true, err
		}
		fl := uint32(unix.O_CREAT | unix.O_WRONLY)
		res, err := uringRun(false, 1, func(e *sqe) {
			*e = sqe{Opcode: ioringOpOpenat, Fd: int32(dir), Addr: uint64(uintptr(unsafe.Pointer(name))), Len: 0o644, OpenFlags: fl, UserData: 44, FileIndex: 6}
		})
		runtime.KeepAlive(name)
		if err == nil && res != -int32(unix.EINVAL) {
			err = fmt.Errorf("io_uring open into a slot past the table: want -EINVAL, got %d", res)
		}
		return true, err
	case OpIOUringRenameat, OpIOUringExchange, OpIOUringLinkat:
		code, flags := uint8(ioringOpRenameat), uint32(0)
		switch op.Kind {
		case OpIOUringExchange:
			flags = unix.RENAME_EXCHANGE
		case OpIOUringLinkat:
			code = ioringOpLinkat
		}
		res, err := uringName(code, op.For, dir, op.Path, flags)
		if err == nil && res < 0 {
			err = fmt.Errorf("io_uring %s: %w", op.Kind, unix.Errno(-res))
		}
		return true, err
	}
	return false, nil
}
