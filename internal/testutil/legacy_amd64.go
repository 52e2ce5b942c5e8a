// SPDX-License-Identifier: Apache-2.0

//go:build linux && amd64

package testutil

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// HasLegacySyscalls reports whether open(2), creat(2) and mknod(2) exist on
// this architecture (arm64 has only the *at forms).
const HasLegacySyscalls = true

func legacy(kind, path string) error { return legacyNr(kind, path, 0) }

// legacyNr is legacy with hi or-ed into the syscall number (see WideBit).
func legacyNr(kind, path string, hi uintptr) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	var r1 uintptr
	var errno unix.Errno
	switch kind {
	case OpOpen:
		r1, _, errno = unix.Syscall(hi|unix.SYS_OPEN, uintptr(unsafePointer(p)), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	case OpCreat:
		r1, _, errno = unix.Syscall(hi|unix.SYS_CREAT, uintptr(unsafePointer(p)), 0o644, 0)
	case OpMknod:
		_, _, errno = unix.Syscall(hi|unix.SYS_MKNOD, uintptr(unsafePointer(p)), unix.S_IFREG|0o644, 0)
		if errno != 0 {
			return errno
		}
		return nil
	default:
		return fmt.Errorf("not a legacy syscall: %s", kind)
	}
	if errno != 0 {
		return errno
	}
	return unix.Close(int(r1))
}

// legacyName runs rename(2), link(2) or symlink(2) (OpRenameLegacy,
// OpLinkLegacy, OpSymlinkLegacy).
func legacyName(kind, oldPath, newPath string) error {
	o, err := unix.BytePtrFromString(oldPath)
	if err != nil {
		return err
	}
	n, err := unix.BytePtrFromString(newPath)
	if err != nil {
		return err
	}
	nr := uintptr(unix.SYS_RENAME)
	switch kind {
	case OpLinkLegacy:
		nr = unix.SYS_LINK
	case OpSymlinkLegacy:
		nr = unix.SYS_SYMLINK
	}
	if _, _, errno := unix.Syscall(nr, uintptr(unsafePointer(o)), uintptr(unsafePointer(n)), 0); errno != 0 {
		return errno
	}
	return nil
}
