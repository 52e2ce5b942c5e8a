// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Kinds of Op for the evasion tests of issue 14: ways to make a file that
// the hooks once missed.
const (
	// 32-bit syscalls (amd64: int $0x80), see HasCompatSyscalls.
	OpCompatOpen        = "compat_open"         // ia32 open(2) O_CREAT
	OpCompatCreat       = "compat_creat"        // ia32 creat(2)
	OpCompatOpenat      = "compat_openat"       // ia32 openat(2) O_CREAT, relative to the dir
	OpCompatMknod       = "compat_mknod"        // ia32 mknod(2) S_IFREG
	OpCompatMknodat     = "compat_mknodat"      // ia32 mknodat(2) S_IFREG, relative to the dir
	OpCompatSymlink     = "compat_symlink"      // ia32 symlink(2) to CompatSymlinkTarget
	OpCompatSymlinkat   = "compat_symlinkat"    // ia32 symlinkat(2) to CompatSymlinkTarget, relative to the dir
	OpCompatTmpfileLink = "compat_tmpfile_link" // O_TMPFILE, then ia32 linkat(fd, "", dir, Path, AT_EMPTY_PATH)

	// CompatSymlinkTarget is what the 32-bit symlinks point to.
	CompatSymlinkTarget = "compat-target"

	// OpMknodAs is mknodat(AT_FDCWD, Path, S_IFREG) with Path exactly as
	// written ("//", ".", "..", symlinks, long names).
	OpMknodAs = "mknod_as_written"
	// OpSymlinkAs is symlinkat(For, AT_FDCWD, Path) with Path exactly as
	// written.
	OpSymlinkAs = "symlink_as_written"

	// O_TMPFILE files: created unnamed in the dir, then linked (or not).
	OpTmpfileLinkEmpty   = "tmpfile_link_empty"   // linkat(fd, "", dir, Path, AT_EMPTY_PATH)
	OpTmpfileLinkProc    = "tmpfile_link_proc"    // linkat(AT_FDCWD, "/proc/self/fd/N", dir, Path, AT_SYMLINK_FOLLOW)
	OpTmpfileLinkSymlink = "tmpfile_link_symlink" // the same through a symlink Path+".lnk" to /proc/self/fd/N
	OpTmpfileUnlinked    = "tmpfile_unlinked"     // O_TMPFILE opened and closed, never linked: no creation
	OpHardLink           = "hard_link"            // linkat of the existing file For to Path: no creation

	// OpFDRace creates Spread files "Path-i" with O_CREAT|O_EXCL on one
	// thread while another closes and dup2()s over the fds they get. It
	// reports the creations as count "created" and how many of their fds
	// the other thread had touched as "tampered".
	OpFDRace = "fd_race"
)

// extraOp performs the ops of this file; ok is false for other kinds.
func extraOp(dir int, op Op) (ok bool, err error) {
	switch op.Kind {
	case OpCompatOpen, OpCompatCreat, OpCompatOpenat, OpCompatMknod, OpCompatMknodat, OpCompatTmpfileLink, OpCompatSymlink, OpCompatSymlinkat:
		return true, compat(op.Kind, dir, op.Path)
	case OpMknodAs:
		return true, unix.Mknodat(unix.AT_FDCWD, op.Path, unix.S_IFREG|0o644, 0)
	case OpSymlinkAs:
		return true, unix.Symlinkat(op.For, unix.AT_FDCWD, op.Path)
	case OpTmpfileLinkEmpty, OpTmpfileLinkProc, OpTmpfileLinkSymlink, OpTmpfileUnlinked:
		return true, tmpfile(dir, op)
	case OpHardLink:
		return true, unix.Linkat(dir, op.For, dir, op.Path, 0)
	case OpFDRace:
		return true, fdRace(dir, op)
	case OpWaitGone:
		return true, waitGone(dir, op)
	case OpLandlockDenied:
		return true, landlockDenied(dir, op.Path, op.For == "io_uring")
	}
	return false, nil
}

func tmpfile(dir int, op Op) error {
	fd, err := unix.Openat(dir, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("open O_TMPFILE: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte("x")); err != nil {
		return err
	}
	proc := "/proc/self/fd/" + strconv.Itoa(fd)
	switch op.Kind {
	case OpTmpfileLinkEmpty:
		return unix.Linkat(fd, "", dir, op.Path, unix.AT_EMPTY_PATH)
	case OpTmpfileLinkProc:
		return unix.Linkat(unix.AT_FDCWD, proc, dir, op.Path, unix.AT_SYMLINK_FOLLOW)
	case OpTmpfileLinkSymlink:
		if err := unix.Symlinkat(proc, dir, op.Path+".lnk"); err != nil {
			return err
		}
		return unix.Linkat(dir, op.Path+".lnk", dir, op.Path, unix.AT_SYMLINK_FOLLOW)
	}
	return nil
}

func reportCount(key string, n int) {
	fmt.Printf("%s%s %d\n", countPrefix, key, n)
}

func fdRace(dir int, op Op) error {
	junk, err := unix.Openat(dir, op.For, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", op.For, err)
	}
	defer unix.Close(junk)
	// The fds the creations will get: the lowest free ones.
	probe, err := unix.Dup(junk)
	if err != nil {
		return err
	}
	unix.Close(probe)
	lo := probe

	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		for i := 0; !stop.Load(); i++ {
			fd := lo + i%2
			if i%3 == 0 {
				_ = unix.Dup3(junk, fd, unix.O_CLOEXEC) // racing the creator: failing is part of the race
			} else {
				unix.Close(fd)
			}
		}
	}()
	const flags = unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY | unix.O_CLOEXEC
	created, tampered := 0, 0
	var st unix.Stat_t
	var errs []error
	for i := 0; i < op.Spread; i++ {
		fd, err := unix.Openat(dir, op.Path+"-"+strconv.Itoa(i), flags, 0o644)
		if err != nil {
			errs = append(errs, err)
			break
		}
		created++
		// Ours if it is still the empty file we made; else the other
		// thread closed it or put the junk file there.
		if unix.Fstat(fd, &st) != nil || st.Size != 0 {
			tampered++
		}
		unix.Close(fd)
	}
	stop.Store(true)
	<-done
	reportCount("created", created)
	reportCount("tampered", tampered)
	return errors.Join(errs...)
}
