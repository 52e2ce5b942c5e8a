// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A minimal io_uring client for the tests: one ring per operation, one SQE,
// one CQE. Layouts from include/uapi/linux/io_uring.h.

const (
	sysIOUringSetup    = 425 // same number on amd64 and arm64
	sysIOUringEnter    = 426
	sysIOUringRegister = 427

	ioringSetupSQPoll    = 1 << 1
	ioringEnterGetEvents = 1 << 0
	ioringEnterSQWakeup  = 1 << 1
	ioringSQNeedWakeup   = 1 << 0
	ioringFeatSingleMmap = 1 << 0
	ioringRegisterFiles  = 2

	ioringOpOpenat    = 18
	ioringOpOpenat2   = 28
	ioringOpRenameat  = 35
	ioringOpLinkat    = 39
	ioringOpSymlinkat = 38

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000
)

type sqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

type cqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

type uringParams struct {
	SQEntries, CQEntries, Flags, SQThreadCPU, SQThreadIdle, Features, WQFd uint32
	Resv                                                                   [3]uint32
	SQOff                                                                  sqringOffsets
	CQOff                                                                  cqringOffsets
}

type sqe struct {
	Opcode      uint8
	Flags       uint8
	Ioprio      uint16
	Fd          int32
	Off         uint64
	Addr        uint64
	Len         uint32
	OpenFlags   uint32
	UserData    uint64
	BufIndex    uint16
	Personality uint16
	FileIndex   uint32
	Addr3       uint64
	Pad         uint64
}

type openHow struct {
	Flags, Mode, Resolve uint64
}

// ErrNoIOUring is returned when this kernel does not offer io_uring.
var ErrNoIOUring = errors.New("io_uring is not available")

// uringOpen opens path relative to dirfd through io_uring and returns the
// CQE result: an fd, 0 for a direct descriptor, or -errno. slot > 0 asks
// for direct descriptor slot-1 (a sparse file table is registered first).
func uringOpen(dirfd int, path string, flags uint32, sqpoll, openat2 bool, slot uint32) (int32, error) {
	name, err := unix.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	how := openHow{Flags: uint64(flags), Mode: 0o644}
	res, err := uringRun(sqpoll, slot, func(e *sqe) {
		*e = sqe{Opcode: ioringOpOpenat, Fd: int32(dirfd), Addr: uint64(uintptr(unsafe.Pointer(name))), Len: 0o644, OpenFlags: flags, UserData: 42, FileIndex: slot}
		if openat2 {
			*e = sqe{Opcode: ioringOpOpenat2, Fd: int32(dirfd), Addr: uint64(uintptr(unsafe.Pointer(name))), Len: uint32(unsafe.Sizeof(how)), Off: uint64(uintptr(unsafe.Pointer(&how))), UserData: 42, FileIndex: slot}
		}
	})
	runtime.KeepAlive(name)
	runtime.KeepAlive(&how)
	if err == nil && res >= 0 && slot == 0 {
		unix.Close(int(res))
	}
	return res, err
}

// uringName runs IORING_OP_RENAMEAT or IORING_OP_LINKAT (op) from oldPath
// (relative to the cwd) to newPath relative to newDir, with flags
// (renameat2's or linkat's), and returns the CQE result.
func uringName(op uint8, oldPath string, newDir int, newPath string, flags uint32) (int32, error) {
	o, err := unix.BytePtrFromString(oldPath)
	if err != nil {
		return 0, err
	}
	n, err := unix.BytePtrFromString(newPath)
	if err != nil {
		return 0, err
	}
	res, err := uringRun(false, 0, func(e *sqe) {
		*e = sqe{Opcode: op, Fd: unix.AT_FDCWD, Addr: uint64(uintptr(unsafe.Pointer(o))), Len: uint32(newDir),
			Off: uint64(uintptr(unsafe.Pointer(n))), OpenFlags: flags, UserData: 43}
	})
	runtime.KeepAlive(o)
	runtime.KeepAlive(n)
	return res, err
}

// uringRun submits the one SQE fill writes on a new ring and returns its
// CQE's result.
func uringRun(sqpoll bool, slot uint32, fill func(*sqe)) (int32, error) {
	runtime.LockOSThread() // the worker's comm comes from the group leader anyway
	var p uringParams
	if sqpoll {
		p.Flags |= ioringSetupSQPoll
		p.SQThreadIdle = 1000
	}
	fd, _, errno := unix.Syscall(sysIOUringSetup, 4, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("%w: io_uring_setup: %v", ErrNoIOUring, errno)
	}
	ring := int(fd)
	defer unix.Close(ring)

	sqSize := int(p.SQOff.Array + p.SQEntries*4)
	cqSize := int(p.CQOff.Cqes + p.CQEntries*16)
	if p.Features&ioringFeatSingleMmap != 0 && cqSize > sqSize {
		sqSize = cqSize
	}
	sq, err := unix.Mmap(ring, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return 0, fmt.Errorf("mmap sq ring: %w", err)
	}
	defer unix.Munmap(sq)
	cq := sq
	if p.Features&ioringFeatSingleMmap == 0 {
		cq, err = unix.Mmap(ring, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return 0, fmt.Errorf("mmap cq ring: %w", err)
		}
		defer unix.Munmap(cq)
	}
	sqes, err := unix.Mmap(ring, offSQEs, int(p.SQEntries)*64, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return 0, fmt.Errorf("mmap sqes: %w", err)
	}
	defer unix.Munmap(sqes)

	if slot > 0 {
		files := make([]int32, slot)
		for i := range files {
			files[i] = -1
		}
		if _, _, errno := unix.Syscall6(sysIOUringRegister, uintptr(ring), ioringRegisterFiles, uintptr(unsafe.Pointer(&files[0])), uintptr(len(files)), 0, 0); errno != 0 {
			return 0, fmt.Errorf("register sparse files: %v", errno)
		}
	}

	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	fill((*sqe)(unsafe.Pointer(&sqes[0])))
	mask := *u32(sq, p.SQOff.RingMask)
	tail := atomic.LoadUint32(u32(sq, p.SQOff.Tail))
	*u32(sq, p.SQOff.Array+(tail&mask)*4) = 0
	atomic.StoreUint32(u32(sq, p.SQOff.Tail), tail+1)

	enterFlags := uintptr(ioringEnterGetEvents)
	toSubmit := uintptr(1)
	if sqpoll {
		toSubmit = 0 // the SQPOLL thread submits
		if atomic.LoadUint32(u32(sq, p.SQOff.Flags))&ioringSQNeedWakeup != 0 {
			enterFlags |= ioringEnterSQWakeup
		}
	}
	for {
		_, _, errno = unix.Syscall6(sysIOUringEnter, uintptr(ring), toSubmit, 1, enterFlags, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, fmt.Errorf("io_uring_enter: %v", errno)
		}
		head := atomic.LoadUint32(u32(cq, p.CQOff.Head))
		if head != atomic.LoadUint32(u32(cq, p.CQOff.Tail)) {
			cmask := *u32(cq, p.CQOff.RingMask)
			off := p.CQOff.Cqes + (head&cmask)*16
			res := int32(*u32(cq, off+8))
			atomic.StoreUint32(u32(cq, p.CQOff.Head), head+1)
			return res, nil
		}
		toSubmit = 0
		enterFlags = ioringEnterGetEvents
	}
}
