// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func runChild(spec *ChildSpec) error {
	spec.Dir, spec.Cgroup = unraw(spec.Dir), unraw(spec.Cgroup)
	for i := range spec.Ops {
		spec.Ops[i].Path = unraw(spec.Ops[i].Path)
	}
	if spec.Cgroup != "" {
		if err := os.WriteFile(filepath.Join(spec.Cgroup, "cgroup.procs"), []byte("0"), 0); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	// comm is per thread: name the one thread that does all the work.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafePtr(ChildComm)), 0, 0, 0); err != nil {
		return fmt.Errorf("set comm: %w", err)
	}
	// Name every other thread too, the group leader above all: io_uring
	// workers report the group leader's name.
	nameThreads(ChildComm)
	dir, err := unix.Open(spec.Dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	defer unix.Close(dir)
	if err := unix.Fchdir(dir); err != nil {
		return fmt.Errorf("chdir: %w", err)
	}
	if spec.UID != nil {
		// Go applies these to every thread of the process.
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setgid(int(*spec.GID)); err != nil {
			return fmt.Errorf("setgid: %w", err)
		}
		if err := syscall.Setuid(int(*spec.UID)); err != nil {
			return fmt.Errorf("setuid: %w", err)
		}
	}
	if len(spec.Setresuid) == 3 {
		if err := syscall.Setresuid(spec.Setresuid[0], spec.Setresuid[1], spec.Setresuid[2]); err != nil {
			return fmt.Errorf("setresuid: %w", err)
		}
	}
	for _, op := range spec.Ops {
		if err := do(dir, spec.Dir, op); err != nil {
			return fmt.Errorf("%s %s: %w", op.Kind, op.Path, err)
		}
	}
	return nil
}

func closeFd(fd int, err error) error {
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

func do(dir int, dirPath string, op Op) error {
	abs := filepath.Join(dirPath, op.Path)
	const flags = unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC
	switch op.Kind {
	case OpOpen, OpCreat, OpMknod:
		return legacy(op.Kind, abs)
	case OpWideOpen, OpWideCreat, OpWideMknod, OpWideOpenat, OpWideOpenat2, OpWideMknodat, OpWideTmpfileLink:
		return wide(dir, dirPath, op)
	case OpOpenat:
		return closeFd(unix.Openat(dir, op.Path, flags, 0o644))
	case OpOpenatRel:
		// relative to the cwd (AT_FDCWD), which is dir
		return closeFd(unix.Openat(unix.AT_FDCWD, op.Path, flags, 0o644))
	case OpOpenat2:
		return closeFd(unix.Openat2(dir, op.Path, &unix.OpenHow{Flags: flags, Mode: 0o644}))
	case OpMknodat:
		return unix.Mknodat(dir, op.Path, unix.S_IFREG|0o644, 0)
	case OpMknodatRel:
		return unix.Mknodat(unix.AT_FDCWD, op.Path, unix.S_IFREG|0o644, 0)
	case OpReopen:
		return closeFd(unix.Openat(dir, op.Path, flags|unix.O_TRUNC, 0o644))
	case OpExclFail:
		err := closeFd(unix.Openat(dir, op.Path, flags|unix.O_EXCL, 0o644))
		if !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("want EEXIST, got %v", err)
		}
		return nil
	case OpAccessFail:
		err := closeFd(unix.Openat(dir, op.Path, flags, 0o644))
		if !errors.Is(err, unix.EACCES) {
			return fmt.Errorf("want EACCES, got %v", err)
		}
		return nil
	case OpMkfifo:
		return unix.Mknodat(dir, op.Path, unix.S_IFIFO|0o644, 0)
	case OpIOUring, OpIOUringOpenat2, OpIOUringSQPoll, OpIOUringDirect, OpIOUringReopen:
		var slot uint32
		fl := uint32(flags)
		if op.Kind == OpIOUringDirect {
			slot = 2
			fl &^= unix.O_CLOEXEC // direct descriptors refuse O_CLOEXEC (EINVAL)
		}
		res, err := uringOpen(dir, op.Path, fl, op.Kind == OpIOUringSQPoll, op.Kind == OpIOUringOpenat2, slot)
		if err != nil {
			return err
		}
		if res < 0 {
			return fmt.Errorf("io_uring open: %v", unix.Errno(-res))
		}
		return nil
	case OpIOUringExcl:
		res, err := uringOpen(dir, op.Path, flags|unix.O_EXCL, false, false, 0)
		if err != nil {
			return err
		}
		if unix.Errno(-res) != unix.EEXIST {
			return fmt.Errorf("want EEXIST, got %d", res)
		}
		return nil
	case OpIOUringSkip, OpIOUringSkipDirect, OpIOUringOverflow, OpIOUringDeferClose, OpIOUringDeferDup2, OpIOUringDeferRenameChdir:
		return uringEvasion(dir, dirPath, op)
	case OpComm:
		nameThreads(op.Path)
		return nil
	case OpSleep:
		d, err := time.ParseDuration(op.Path)
		if err != nil {
			return err
		}
		time.Sleep(d)
		return nil
	case OpUnlink:
		return unix.Unlinkat(dir, op.Path, 0)
	case OpChurn:
		return churn(dir, op)
	case OpFIFOBlock:
		return fifoBlock(dir, op)
	case OpFIFOUnblock:
		return fifoUnblock(dir, op)
	}
	if ok, err := extraOp(dir, op); ok {
		return err
	}
	if ok, err := mountOp(op); ok {
		return err
	}
	if ok, err := nameOp(dir, op); ok {
		return err
	}
	return fmt.Errorf("unknown op")
}

func churn(dir int, op Op) error {
	d, err := time.ParseDuration(op.For)
	if err != nil {
		return err
	}
	spread := max(op.Spread, 1)
	names := make([]string, spread)
	for i := range names {
		sub := fmt.Sprintf("%s-%d", op.Path, i)
		if err := unix.Mkdirat(dir, sub, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		names[i] = sub + "/f"
	}
	const flags = unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY | unix.O_CLOEXEC
	deadline := time.Now().Add(d)
	n := 0
	for ; n%1024 != 0 || time.Now().Before(deadline); n++ {
		name := names[n%spread]
		if err := closeFd(unix.Openat(dir, name, flags, 0o644)); err != nil {
			fmt.Printf("%s%d\n", churnedPrefix, n)
			return err
		}
		if err := unix.Unlinkat(dir, name, 0); err != nil {
			fmt.Printf("%s%d\n", churnedPrefix, n+1)
			return err
		}
	}
	fmt.Printf("%s%d\n", churnedPrefix, n)
	return nil
}

func nameThreads(name string) {
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		_ = os.WriteFile(filepath.Join("/proc/self/task", task.Name(), "comm"), []byte(name), 0) // a thread may have exited
	}
}

// fifoReaders are the threads OpFIFOBlock left blocked.
var fifoReaders sync.WaitGroup

func fifoBlock(dir int, op Op) error {
	n := max(op.Spread, 1)
	before, err := blockedInOpen()
	if err != nil {
		return err
	}
	for range n {
		fifoReaders.Add(1)
		go func() {
			defer fifoReaders.Done()
			// A syscall that blocks keeps its thread: n readers, n threads.
			fd, err := unix.Openat(dir, op.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
		}()
	}
	// Wait on state: every reader asleep inside openat.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := blockedInOpen()
		if err != nil {
			return err
		}
		if got-before >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d FIFO readers blocked in open", got-before, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blockedInOpen counts this process's threads asleep in openat(2), from
// /proc/self/task/*/stat (state S) and .../syscall (the syscall number).
func blockedInOpen() (int, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, err
	}
	n := 0
	want := strconv.Itoa(unix.SYS_OPENAT) + " "
	for _, task := range tasks {
		sc, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "syscall"))
		if err != nil || !strings.HasPrefix(string(sc), want) {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) S ...: the state follows the last ')'.
		if i := strings.LastIndexByte(string(st), ')'); i >= 0 && strings.HasPrefix(string(st[i+1:]), " S") {
			n++
		}
	}
	return n, nil
}

func fifoUnblock(dir int, op Op) error {
	// With readers waiting, a non-blocking open for writing succeeds and
	// wakes them all.
	fd, err := unix.Openat(dir, op.Path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.Close(fd)
	fifoReaders.Wait()
	return nil
}
