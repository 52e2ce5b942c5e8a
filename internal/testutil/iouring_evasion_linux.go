// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The io_uring ways around a completion-based observer (issue 14, gap 3),
// each creating one file that a hook must count or count as lost.

const (
	ioringSetupSingleIssuer = 1 << 12
	ioringSetupDeferTaskrun = 1 << 13
	iosqeCQESkipSuccess     = 1 << 6
	iosqeAsync              = 1 << 4
	ioringOpSetxattr        = 42
	ioringSQCQOverflow      = 1 << 1
	ioringOpNop             = 0
)

// Kinds of Op for the io_uring evasions. Each creates Path (relative to
// the child's directory).
const (
	// OpIOUringSkip opens with IOSQE_CQE_SKIP_SUCCESS: no completion is
	// posted for it.
	OpIOUringSkip = "io_uring_cqe_skip"
	// OpIOUringSkipDirect does the same into a direct descriptor slot.
	OpIOUringSkipDirect = "io_uring_cqe_skip_direct"
	// OpIOUringOverflow fills the CQ ring with NOP completions first, so
	// the open's completion goes to the overflow list.
	OpIOUringOverflow = "io_uring_cq_overflow"
	// OpIOUringDeferClose opens on an IORING_SETUP_DEFER_TASKRUN ring and
	// closes the new fd before reaping the completion.
	OpIOUringDeferClose = "io_uring_defer_close"
	// OpIOUringDeferDup2 does the same but dup2()s the child's directory fd
	// over the new fd (a file that was not created) before reaping.
	OpIOUringDeferDup2 = "io_uring_defer_dup2"
	// OpIOUringDeferRenameChdir renames For's "<old>" (relative to the cwd)
	// to Path (relative to the cwd, the child's directory) on an
	// IORING_SETUP_DEFER_TASKRUN ring, then changes the cwd to For's
	// "<decoy>" before reaping the completion (which the submitter then
	// posts, with that cwd), and back. For is "<old>:<decoy>".
	OpIOUringDeferRenameChdir = "io_uring_defer_rename_chdir"
)

type uring struct {
	fd     int
	p      uringParams
	sq, cq []byte
	sqes   []byte
}

func newURing(entries, flags uint32) (*uring, error) {
	r := &uring{}
	r.p.Flags = flags
	fd, _, errno := unix.Syscall(sysIOUringSetup, uintptr(entries), uintptr(unsafe.Pointer(&r.p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("%w: io_uring_setup flags %#x: %v", ErrNoIOUring, flags, errno)
	}
	r.fd = int(fd)
	sqSize := int(r.p.SQOff.Array + r.p.SQEntries*4)
	cqSize := int(r.p.CQOff.Cqes + r.p.CQEntries*16)
	if cqSize > sqSize {
		sqSize = cqSize
	}
	if r.p.Features&ioringFeatSingleMmap == 0 {
		r.close()
		return nil, errors.New("io_uring without IORING_FEAT_SINGLE_MMAP")
	}
	var err error
	if r.sq, err = unix.Mmap(r.fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("mmap sq ring: %w", err)
	}
	r.cq = r.sq
	if r.sqes, err = unix.Mmap(r.fd, offSQEs, int(r.p.SQEntries)*64, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("mmap sqes: %w", err)
	}
	return r, nil
}

func (r *uring) close() {
	if r.sqes != nil {
		unix.Munmap(r.sqes)
	}
	if r.sq != nil {
		unix.Munmap(r.sq)
	}
	unix.Close(r.fd)
}

func (r *uring) u32(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// push queues e.
func (r *uring) push(e sqe) {
	mask := *r.u32(r.sq, r.p.SQOff.RingMask)
	tail := atomic.LoadUint32(r.u32(r.sq, r.p.SQOff.Tail))
	*(*sqe)(unsafe.Pointer(&r.sqes[(tail&mask)*64])) = e
	*r.u32(r.sq, r.p.SQOff.Array+(tail&mask)*4) = tail & mask
	atomic.StoreUint32(r.u32(r.sq, r.p.SQOff.Tail), tail+1)
}

func (r *uring) enter(submit, wait uint32, flags uintptr) error {
	for {
		_, _, errno := unix.Syscall6(sysIOUringEnter, uintptr(r.fd), uintptr(submit), uintptr(wait), flags, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("io_uring_enter: %v", errno)
		}
		return nil
	}
}

// reap returns the completions in the CQ ring.
func (r *uring) reap() map[uint64]int32 {
	out := map[uint64]int32{}
	for {
		head := atomic.LoadUint32(r.u32(r.cq, r.p.CQOff.Head))
		if head == atomic.LoadUint32(r.u32(r.cq, r.p.CQOff.Tail)) {
			return out
		}
		off := r.p.CQOff.Cqes + (head&*r.u32(r.cq, r.p.CQOff.RingMask))*16
		out[*(*uint64)(unsafe.Pointer(&r.cq[off]))] = int32(*r.u32(r.cq, off+8))
		atomic.StoreUint32(r.u32(r.cq, r.p.CQOff.Head), head+1)
	}
}

const openUserData = 7

// uringOpenWrite opens path (as written) O_WRONLY through io_uring, with
// IOSQE_ASYNC for mode "async", also on an IORING_SETUP_DEFER_TASKRUN ring
// for "defer" (see OpIOUringOpenWrite), and closes the file ("defer-unlink":
// and unlinks path, the ring still open); the ring stays open for hold
// after that.
func uringOpenWrite(path, mode string, hold time.Duration) error {
	runtime.LockOSThread() // one submitter thread (SINGLE_ISSUER, task work)
	name, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(name)
	var setup uint32
	var flags uint8
	switch mode {
	case "":
	case "async":
		flags = iosqeAsync
	case "defer", "defer-unlink":
		flags = iosqeAsync
		setup = ioringSetupSingleIssuer | ioringSetupDeferTaskrun
	case "flood":
		flags = iosqeAsync
	default:
		return fmt.Errorf("io_uring open_write: For %q: want \"\", \"async\", \"defer\" or \"defer-unlink\"", mode)
	}
	r, err := newURing(4, setup)
	if err != nil {
		return err
	}
	defer r.close()
	var res int32
	if mode == "flood" {
		res, err = r.flood(openSQE(unix.AT_FDCWD, name, unix.O_WRONLY|unix.O_CLOEXEC, flags, 0))
	} else {
		res, err = r.one(openSQE(unix.AT_FDCWD, name, unix.O_WRONLY|unix.O_CLOEXEC, flags, 0))
	}
	if err != nil {
		return err
	}
	if res < 0 {
		return fmt.Errorf("io_uring open_write: %w", unix.Errno(-res))
	}
	err = unix.Close(int(res))
	if mode == "defer-unlink" && err == nil {
		err = unix.Unlinkat(unix.AT_FDCWD, path, 0)
	}
	time.Sleep(hold)
	return err
}

// one submits e (its user_data openUserData) and returns its result, the
// task work run meanwhile.
func (r *uring) one(e sqe) (int32, error) {
	r.push(e)
	if err := r.enter(1, 1, ioringEnterGetEvents); err != nil {
		return 0, err
	}
	var res int32
	err := waitFor("the request's completion", func() bool {
		v, ok := r.reap()[openUserData]
		if ok {
			res = v
			return true
		}
		_ = r.enter(0, 0, ioringEnterGetEvents) // runs the task work
		return false
	})
	return res, err
}

// flood submits e (its user_data openUserData) and, until it completes,
// IORING_OP_NOPs one by one (each completed inline by this thread while e
// runs in a worker), and returns e's result.
func (r *uring) flood(e sqe) (int32, error) {
	r.push(e)
	if err := r.enter(1, 0, 0); err != nil {
		return 0, err
	}
	var res int32
	err := waitFor("the request's completion", func() bool {
		v, ok := r.reap()[openUserData]
		if ok {
			res = v
			return true
		}
		r.push(sqe{Opcode: ioringOpNop, UserData: 100})
		_ = r.enter(1, 1, ioringEnterGetEvents)
		return false
	})
	return res, err
}

// uringSetxattr sets the xattr user.kernelevents of path (as written)
// through IORING_OP_SETXATTR (always run in an io-wq worker); with mode
// "unlink", then unlinks path, the ring still open.
func uringSetxattr(path, mode string) error {
	runtime.LockOSThread()
	var flags uint8
	switch mode {
	case "", "unlink":
	case "skip", "skip-unlink":
		flags = iosqeCQESkipSuccess
	default:
		return fmt.Errorf("io_uring setxattr: For %q: want \"\", \"unlink\", \"skip\" or \"skip-unlink\"", mode)
	}
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	n, err := unix.BytePtrFromString("user.kernelevents")
	if err != nil {
		return err
	}
	v := []byte("x")
	r, err := newURing(4, 0)
	if err != nil {
		return err
	}
	defer r.close()
	// io_uring/xattr.c io_setxattr_prep: addr the name, addr2 the value,
	// addr3 the path, len the value's length
	e := sqe{Opcode: ioringOpSetxattr, Flags: flags, Addr: uint64(uintptr(unsafe.Pointer(n))),
		Off: uint64(uintptr(unsafe.Pointer(&v[0]))), Addr3: uint64(uintptr(unsafe.Pointer(p))), Len: uint32(len(v)),
		UserData: openUserData}
	defer runtime.KeepAlive(p)
	defer runtime.KeepAlive(n)
	defer runtime.KeepAlive(v)
	if flags != 0 {
		// no completion: wait for the xattr itself (syscalls, no CQE)
		r.push(e)
		if err := r.enter(1, 0, 0); err != nil {
			return err
		}
		buf := make([]byte, 8)
		if err := waitFor("the xattr", func() bool {
			_, err := unix.Getxattr(path, "user.kernelevents", buf)
			return err == nil
		}); err != nil {
			return err
		}
	} else {
		res, err := r.one(e)
		if err != nil {
			return err
		}
		if res < 0 {
			return fmt.Errorf("io_uring setxattr: %w", unix.Errno(-res))
		}
	}
	if mode == "unlink" || mode == "skip-unlink" {
		return unix.Unlinkat(unix.AT_FDCWD, path, 0)
	}
	return nil
}

func openSQE(dirfd int, name *byte, flags uint32, sqeFlags uint8, slot uint32) sqe {
	return sqe{Opcode: ioringOpOpenat, Flags: sqeFlags, Fd: int32(dirfd), Addr: uint64(uintptr(unsafe.Pointer(name))), Len: 0o644, OpenFlags: flags, UserData: openUserData, FileIndex: slot}
}

// waitFor polls cond (each poll is a syscall, which also runs the task
// work io_uring queued for this thread) for up to ten seconds.
func waitFor(what string, cond func() bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

func exists(dir int, name string) func() bool {
	return func() bool {
		var st unix.Stat_t
		return unix.Fstatat(dir, name, &st, 0) == nil
	}
}

func uringEvasion(dir int, dirPath string, op Op) error {
	runtime.LockOSThread() // one submitter thread (SINGLE_ISSUER, task work)
	name, err := unix.BytePtrFromString(op.Path)
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(name)
	const flags = unix.O_CREAT | unix.O_WRONLY
	switch op.Kind {
	case OpIOUringSkip, OpIOUringSkipDirect:
		r, err := newURing(4, 0)
		if err != nil {
			return err
		}
		defer r.close()
		var slot uint32
		if op.Kind == OpIOUringSkipDirect {
			files := []int32{-1, -1}
			if _, _, errno := unix.Syscall6(sysIOUringRegister, uintptr(r.fd), ioringRegisterFiles, uintptr(unsafe.Pointer(&files[0])), 2, 0, 0); errno != 0 {
				return fmt.Errorf("register sparse files: %v", errno)
			}
			slot = 2
		}
		r.push(openSQE(dir, name, flags, iosqeCQESkipSuccess, slot))
		if err := r.enter(1, 0, 0); err != nil {
			return err
		}
		if err := waitFor("the skipped open's file", exists(dir, op.Path)); err != nil {
			return err
		}
		// Completions: none on success; an error would post one.
		if err := r.enter(0, 0, ioringEnterGetEvents); err != nil {
			return err
		}
		if cqes := r.reap(); len(cqes) != 0 {
			return fmt.Errorf("want no completion, got %v", cqes)
		}
		return nil
	case OpIOUringOverflow:
		r, err := newURing(2, 0)
		if err != nil {
			return err
		}
		defer r.close()
		for i := uint32(0); i < r.p.CQEntries; i++ {
			r.push(sqe{Opcode: ioringOpNop, UserData: 100 + uint64(i)})
			if err := r.enter(1, 0, 0); err != nil {
				return err
			}
		}
		r.push(openSQE(dir, name, flags, 0, 0))
		if err := r.enter(1, 0, 0); err != nil {
			return err
		}
		sqFlags := r.u32(r.sq, r.p.SQOff.Flags)
		if err := waitFor("the CQ overflow flag", func() bool { return atomic.LoadUint32(sqFlags)&ioringSQCQOverflow != 0 }); err != nil {
			return err
		}
		cqes := r.reap()
		if err := r.enter(0, 0, ioringEnterGetEvents); err != nil { // flushes the overflow list
			return err
		}
		for k, v := range r.reap() {
			cqes[k] = v
		}
		res, ok := cqes[openUserData]
		if !ok || res < 0 {
			return fmt.Errorf("open completion after overflow: %v", cqes)
		}
		return unix.Close(int(res))
	case OpIOUringDeferRenameChdir:
		return uringDeferRenameChdir(dir, op)
	case OpIOUringDeferClose, OpIOUringDeferDup2:
		r, err := newURing(4, ioringSetupSingleIssuer|ioringSetupDeferTaskrun)
		if err != nil {
			return err
		}
		defer r.close()
		// The worker takes the lowest free fd: find it.
		fd, err := unix.Dup(r.fd)
		if err != nil {
			return err
		}
		unix.Close(fd)
		r.push(openSQE(dir, name, flags, 0, 0))
		if err := r.enter(1, 0, 0); err != nil {
			return err
		}
		link := "/proc/self/fd/" + strconv.Itoa(fd)
		want := dirPath + "/" + op.Path
		if err := waitFor("the new fd "+link, func() bool { got, err := os.Readlink(link); return err == nil && got == want }); err != nil {
			return err
		}
		if op.Kind == OpIOUringDeferClose {
			err = unix.Close(fd)
		} else {
			err = unix.Dup2(dir, fd)
		}
		if err != nil {
			return err
		}
		if err := r.enter(0, 1, ioringEnterGetEvents); err != nil {
			return err
		}
		cqes := r.reap()
		if res := cqes[openUserData]; int(res) != fd {
			return fmt.Errorf("open completion %v, want fd %d", cqes, fd)
		}
		if op.Kind == OpIOUringDeferDup2 {
			unix.Close(fd)
		}
		return nil
	}
	return fmt.Errorf("unknown io_uring op")
}

func uringDeferRenameChdir(dir int, op Op) error {
	old, decoy, ok := strings.Cut(op.For, ":")
	if !ok {
		return fmt.Errorf("want old:decoy, got %q", op.For)
	}
	o, err := unix.BytePtrFromString(old)
	if err != nil {
		return err
	}
	n, err := unix.BytePtrFromString(op.Path)
	if err != nil {
		return err
	}
	r, err := newURing(4, ioringSetupSingleIssuer|ioringSetupDeferTaskrun)
	if err != nil {
		return err
	}
	defer r.close()
	cwd := int32(unix.AT_FDCWD)
	r.push(sqe{Opcode: ioringOpRenameat, Fd: cwd, Addr: uint64(uintptr(unsafe.Pointer(o))), Len: uint32(cwd),
		Off: uint64(uintptr(unsafe.Pointer(n))), UserData: 44})
	if err := r.enter(1, 0, 0); err != nil {
		return err
	}
	// an io-wq worker renames; its completion waits for this thread
	if err := waitFor("the renamed "+op.Path, exists(dir, op.Path)); err != nil {
		return err
	}
	if err := unix.Chdir(decoy); err != nil {
		return err
	}
	defer func() { _ = unix.Fchdir(dir) }() // back where the child was
	if err := r.enter(0, 1, ioringEnterGetEvents); err != nil {
		return err
	}
	runtime.KeepAlive(o)
	runtime.KeepAlive(n)
	if res, ok := r.reap()[44]; !ok || res != 0 {
		return fmt.Errorf("rename completion %d (posted: %v)", res, ok)
	}
	return nil
}
