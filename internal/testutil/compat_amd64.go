// SPDX-License-Identifier: Apache-2.0

//go:build linux && amd64

package testutil

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// HasCompatSyscalls reports whether the child can make 32-bit syscalls
// (ia32 through int $0x80 on amd64); the kernel may still refuse them
// (ia32_emulation=0): see CompatSyscallsEnabled.
const HasCompatSyscalls = true

func int80(nr, a1, a2, a3, a4, a5 uintptr) uintptr

// ia32 syscall numbers, arch/x86/entry/syscalls/syscall_32.tbl.
const (
	ia32Getpid    = 20
	ia32Open      = 5
	ia32Creat     = 8
	ia32Mknod     = 14
	ia32Openat    = 295
	ia32Mknodat   = 297
	ia32Linkat    = 303
	ia32Close     = 6
	ia32Symlink   = 83
	ia32Symlinkat = 304
)

// CompatSyscallsEnabled reports whether the kernel runs ia32 syscalls: an
// int $0x80 getpid returns this process's pid, not -ENOSYS.
func CompatSyscallsEnabled() bool {
	return int(int32(int80(ia32Getpid, 0, 0, 0, 0, 0))) == unix.Getpid()
}

// low32 holds strings below 4 GiB, where 32-bit syscalls can address them.
var low32 []byte

// lowString returns a 32-bit address of a NUL-terminated copy of s.
func lowString(s string) (uintptr, error) {
	if low32 == nil {
		b, err := unix.Mmap(-1, 0, 1<<16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_32BIT)
		if err != nil {
			return 0, fmt.Errorf("mmap below 4 GiB: %w", err)
		}
		low32 = b
	}
	if len(s)+1 > len(low32) {
		return 0, fmt.Errorf("string of %d bytes does not fit", len(s))
	}
	copy(low32, s)
	low32[len(s)] = 0
	return uintptr(unsafe.Pointer(&low32[0])), nil
}

func compatResult(r uintptr) (int, error) {
	n := int(int32(r))
	if n < 0 && n > -4096 {
		return 0, unix.Errno(-n)
	}
	return n, nil
}

// compat performs op kind as a 32-bit syscall on path, relative to the cwd
// (dir's fd for the *at forms).
func compat(kind string, dir int, path string) error {
	p, err := lowString(path)
	if err != nil {
		return err
	}
	const flags = unix.O_CREAT | unix.O_WRONLY
	var r uintptr
	switch kind {
	case OpCompatOpen:
		r = int80(ia32Open, p, flags, 0o644, 0, 0)
	case OpCompatCreat:
		r = int80(ia32Creat, p, 0o644, 0, 0, 0)
	case OpCompatOpenat:
		r = int80(ia32Openat, uintptr(uint32(dir)), p, flags, 0o644, 0)
	case OpCompatMknod:
		r = int80(ia32Mknod, p, unix.S_IFREG|0o644, 0, 0, 0)
		_, err := compatResult(r)
		return err
	case OpCompatMknodat:
		r = int80(ia32Mknodat, uintptr(uint32(dir)), p, unix.S_IFREG|0o644, 0, 0)
		_, err := compatResult(r)
		return err
	case OpCompatSymlink, OpCompatSymlinkat:
		// the target after the name in the low buffer (never followed)
		if len(path)+len(CompatSymlinkTarget)+2 > len(low32) {
			return fmt.Errorf("string of %d bytes does not fit", len(path))
		}
		copy(low32[len(path)+1:], CompatSymlinkTarget)
		low32[len(path)+1+len(CompatSymlinkTarget)] = 0
		target := uintptr(unsafe.Pointer(&low32[len(path)+1]))
		if kind == OpCompatSymlink {
			r = int80(ia32Symlink, target, p, 0, 0, 0)
		} else {
			r = int80(ia32Symlinkat, target, uintptr(uint32(dir)), p, 0, 0)
		}
		_, err := compatResult(r)
		return err
	case OpCompatTmpfileLink:
		fd, err := unix.Openat(dir, ".", unix.O_TMPFILE|unix.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("open O_TMPFILE: %w", err)
		}
		defer unix.Close(fd)
		empty, err := lowEmptyAfter(path)
		if err != nil {
			return err
		}
		r = int80(ia32Linkat, uintptr(uint32(fd)), empty, uintptr(uint32(dir)), p, unix.AT_EMPTY_PATH)
		_, err = compatResult(r)
		return err
	default:
		return fmt.Errorf("not a 32-bit op: %s", kind)
	}
	fd, err := compatResult(r)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// lowEmptyAfter returns the address of an empty string placed after the
// copy of path that lowString made.
func lowEmptyAfter(path string) (uintptr, error) {
	if len(path)+2 > len(low32) {
		return 0, fmt.Errorf("string of %d bytes does not fit", len(path))
	}
	low32[len(path)+1] = 0
	return uintptr(unsafe.Pointer(&low32[len(path)+1])), nil
}
