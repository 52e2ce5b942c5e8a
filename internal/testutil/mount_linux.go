// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Kinds of Op for the tests of where a file is (issue 24): a child in its
// own user and mount namespace (started with CLONE_NEWUSER|CLONE_NEWNS)
// shows the kernel a watched directory under another path.
const (
	// OpPrivateMounts makes every mount of the child's namespace private,
	// so nothing it mounts propagates to the node's.
	OpPrivateMounts = "private_mounts"
	// OpBind bind-mounts the directory For on Path (made when missing).
	OpBind = "bind"
	// OpChroot chroots to Path and changes to its root.
	OpChroot = "chroot"
	// OpChdir changes the working directory to Path.
	OpChdir = "chdir"
	// OpOverlay mounts an overlayfs on Path; For is
	// "<lowerdir>:<upperdir>:<workdir>[:<more options>]".
	OpOverlay = "overlay"
	// OpOpenTreeCreate clones the mount of directory For into a detached
	// mount (open_tree OPEN_TREE_CLONE), attached nowhere, and creates Path
	// relative to that fd (openat O_CREAT).
	OpOpenTreeCreate = "open_tree_create"
	// OpTmpfs mounts a fresh tmpfs on Path (made when missing).
	OpTmpfs = "tmpfs"
	// OpPidFile writes the child's pid to the file Path.
	OpPidFile = "pid_file"
	// OpSymlinkSwap replaces the symlink Path with one to For (a new link
	// renamed over it).
	OpSymlinkSwap = "symlink_swap"
	// OpOpenAbs is openat(AT_FDCWD, Path, O_CREAT) with Path as written.
	OpOpenAbs = "open_as_written"
	// OpOpenWrite opens the existing file Path for writing, without
	// O_CREAT (an overlayfs copy-up).
	OpOpenWrite = "open_write"
	// OpChmod chmods the existing file Path to 0600 (through an overlay:
	// a copy-up with no open).
	OpChmod = "chmod"
	// OpMknodAbs is mknodat(AT_FDCWD, Path, S_IFREG) with Path as
	// written.
	OpMknodAbs = "mknod_as_written"
	// Ops on the existing file Path as written that copy a lower file up
	// through an overlay without opening it for write, or (OpAppend) write
	// to it: truncate(2) to one byte, utimensat to now (touch), setxattr
	// of a user.* xattr, fchownat to uid and gid 0 (the child's own in its
	// user namespace), open O_WRONLY|O_TRUNC, open O_WRONLY|O_APPEND and
	// write a byte, unlink (a lower file's: a whiteout).
	OpTruncate  = "truncate"
	OpTouch     = "touch"
	OpSetxattr  = "setxattr"
	OpChown     = "chown"
	OpOpenTrunc = "open_trunc"
	OpAppend    = "append"
	OpUnlinkAbs = "unlink_as_written"
	// OpIOUringOpenWrite is IORING_OP_OPENAT(AT_FDCWD, Path, O_WRONLY), no
	// O_CREAT (through an overlay: a copy-up by io_uring); For "async"
	// sets IOSQE_ASYNC (run in an io-wq worker), "defer" does too on an
	// IORING_SETUP_DEFER_TASKRUN ring (the worker then posts no
	// completion: the submitter does, from task work), "defer-unlink" the
	// same, then unlinks Path while the ring is still open, "flood" sets
	// IOSQE_ASYNC and completes NOPs in the submitter until the open
	// completes (takes racing the worker's copy-up); Spread, when set,
	// keeps the ring (and its worker) that many seconds after the
	// completion.
	OpIOUringOpenWrite = "io_uring_open_write"
	// OpIOUringSetxattr sets the xattr user.kernelevents of Path through
	// IORING_OP_SETXATTR (run in an io-wq worker); For "unlink" then
	// unlinks Path while the ring is still open; "skip" and "skip-unlink"
	// the same with IOSQE_CQE_SKIP_SUCCESS (no completion: the op waits
	// for the xattr).
	OpIOUringSetxattr = "io_uring_setxattr"
)

// mountOp performs the ops of this file; ok is false for other kinds.
func mountOp(op Op) (ok bool, err error) {
	switch op.Kind {
	case OpPrivateMounts:
		return true, unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
	case OpBind:
		if err := os.MkdirAll(op.Path, 0o755); err != nil {
			return true, err
		}
		return true, unix.Mount(op.For, op.Path, "", unix.MS_BIND, "")
	case OpChroot:
		if err := unix.Chroot(op.Path); err != nil {
			return true, err
		}
		return true, unix.Chdir("/")
	case OpChdir:
		return true, unix.Chdir(op.Path)
	case OpOverlay:
		l := strings.Split(op.For, ":")
		if len(l) != 3 && len(l) != 4 {
			return true, fmt.Errorf("want lower:upper:work[:options], got %q", op.For)
		}
		if err := os.MkdirAll(op.Path, 0o755); err != nil {
			return true, err
		}
		opts := "lowerdir=" + l[0] + ",upperdir=" + l[1] + ",workdir=" + l[2]
		if len(l) == 4 {
			opts += "," + l[3]
		}
		return true, unix.Mount("overlay", op.Path, "overlay", 0, opts)
	case OpOpenTreeCreate:
		fd, err := unix.OpenTree(unix.AT_FDCWD, op.For, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return true, fmt.Errorf("open_tree: %w", err)
		}
		defer unix.Close(fd)
		return true, closeFd(unix.Openat(fd, op.Path, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644))
	case OpTmpfs:
		if err := os.MkdirAll(op.Path, 0o755); err != nil {
			return true, err
		}
		return true, unix.Mount("tmpfs", op.Path, "tmpfs", 0, "")
	case OpPidFile:
		return true, os.WriteFile(op.Path, []byte(strconv.Itoa(os.Getpid())), 0o644)
	case OpSymlinkSwap:
		tmp := op.Path + ".new"
		if err := os.Symlink(op.For, tmp); err != nil {
			return true, err
		}
		return true, os.Rename(tmp, op.Path)
	case OpOpenAbs:
		return true, closeFd(unix.Openat(unix.AT_FDCWD, op.Path, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644))
	case OpOpenWrite:
		return true, closeFd(unix.Openat(unix.AT_FDCWD, op.Path, unix.O_WRONLY|unix.O_CLOEXEC, 0))
	case OpChmod:
		return true, unix.Fchmodat(unix.AT_FDCWD, op.Path, 0o600, 0)
	case OpMknodAbs:
		return true, unix.Mknodat(unix.AT_FDCWD, op.Path, unix.S_IFREG|0o644, 0)
	case OpTruncate:
		return true, unix.Truncate(op.Path, 1)
	case OpTouch:
		now := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
		return true, unix.UtimesNanoAt(unix.AT_FDCWD, op.Path, now, 0)
	case OpSetxattr:
		return true, unix.Setxattr(op.Path, "user.kernelevents", []byte("x"), 0)
	case OpChown:
		return true, unix.Fchownat(unix.AT_FDCWD, op.Path, 0, 0, 0)
	case OpOpenTrunc:
		return true, closeFd(unix.Openat(unix.AT_FDCWD, op.Path, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0))
	case OpAppend:
		fd, err := unix.Openat(unix.AT_FDCWD, op.Path, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
		if err != nil {
			return true, err
		}
		_, err = unix.Write(fd, []byte("x"))
		return true, errors.Join(err, unix.Close(fd))
	case OpUnlinkAbs:
		return true, unix.Unlinkat(unix.AT_FDCWD, op.Path, 0)
	case OpIOUringSetxattr:
		return true, uringSetxattr(op.Path, op.For)
	case OpIOUringOpenWrite:
		return true, uringOpenWrite(op.Path, op.For, time.Duration(op.Spread)*time.Second)
	}
	return false, nil
}
