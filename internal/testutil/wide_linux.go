// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"fmt"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WideBit is set above the 32 bits of a syscall number by the Wide ops. The
// kernel takes the number as an int (x86-64 do_syscall_64, arm64
// el0_svc_common) and ignores the bit, so the syscall runs as usual; the
// saved register keeps it (x86-64 pt_regs->orig_ax), where a program that
// compares all 64 bits does not recognise the syscall.
const WideBit = uintptr(1) << 32

// Wide ops: the creations of the plain ops, each made with WideBit in its
// syscall number. OpWideOpen, OpWideCreat and OpWideMknod need
// HasLegacySyscalls.
const (
	OpWideOpen        = "wide_open"
	OpWideCreat       = "wide_creat"
	OpWideMknod       = "wide_mknod"
	OpWideOpenat      = "wide_openat"
	OpWideOpenat2     = "wide_openat2"
	OpWideMknodat     = "wide_mknodat"
	OpWideTmpfileLink = "wide_tmpfile_link" // O_TMPFILE, then linkat(fd, "", dir, Path, AT_EMPTY_PATH)
)

// WideOps are the Wide op kinds this architecture has.
func WideOps() []string {
	ops := []string{OpWideOpenat, OpWideOpenat2, OpWideMknodat, OpWideTmpfileLink}
	if HasLegacySyscalls {
		ops = append(ops, OpWideOpen, OpWideCreat, OpWideMknod)
	}
	return ops
}

func wide(dir int, dirPath string, op Op) error {
	switch op.Kind {
	case OpWideOpen:
		return legacyNr(OpOpen, filepath.Join(dirPath, op.Path), WideBit)
	case OpWideCreat:
		return legacyNr(OpCreat, filepath.Join(dirPath, op.Path), WideBit)
	case OpWideMknod:
		return legacyNr(OpMknod, filepath.Join(dirPath, op.Path), WideBit)
	}
	p, err := unix.BytePtrFromString(op.Path)
	if err != nil {
		return err
	}
	const flags = unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC
	var r uintptr
	var errno unix.Errno
	switch op.Kind {
	case OpWideOpenat:
		r, _, errno = unix.Syscall6(WideBit|unix.SYS_OPENAT, uintptr(dir), uintptr(unsafe.Pointer(p)), flags, 0o644, 0, 0)
	case OpWideOpenat2:
		how := unix.OpenHow{Flags: flags, Mode: 0o644}
		r, _, errno = unix.Syscall6(WideBit|unix.SYS_OPENAT2, uintptr(dir), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
	case OpWideMknodat:
		_, _, errno = unix.Syscall6(WideBit|unix.SYS_MKNODAT, uintptr(dir), uintptr(unsafe.Pointer(p)), unix.S_IFREG|0o644, 0, 0, 0)
		if errno != 0 {
			return errno
		}
		return nil
	case OpWideTmpfileLink:
		fd, err := unix.Openat(dir, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("open O_TMPFILE: %w", err)
		}
		defer unix.Close(fd)
		empty, err := unix.BytePtrFromString("")
		if err != nil {
			return err
		}
		_, _, errno = unix.Syscall6(WideBit|unix.SYS_LINKAT, uintptr(fd), uintptr(unsafe.Pointer(empty)), uintptr(dir), uintptr(unsafe.Pointer(p)), unix.AT_EMPTY_PATH, 0)
		if errno != 0 {
			return errno
		}
		return nil
	default:
		return fmt.Errorf("not a wide op: %s", op.Kind)
	}
	if errno != 0 {
		return errno
	}
	return unix.Close(int(r))
}
