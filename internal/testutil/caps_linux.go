// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WithCapabilities starts a child with only the capabilities keep (unix.CAP_*
// numbers), the way `setpriv --bounding-set -all,+...` would: a root process
// gets its bounding set as its capabilities at exec. It works where no
// setpriv is (the test VM's busybox).
func WithCapabilities(keep ...int) ChildOption {
	return func(c *childStart) { c.keep = append([]int{}, keep...) }
}

// WithSeccompDeny starts a child under a seccomp filter that refuses the
// system calls nrs (unix.SYS_* numbers of this architecture) with EPERM and
// allows every other, as a container runtime's default profile refuses the
// calls it does not grant: the child and everything it runs inherit it, from
// its first instruction (package initialisers included).
func WithSeccompDeny(nrs ...uintptr) ChildOption {
	return func(c *childStart) { c.deny = append([]uintptr{}, nrs...) }
}

// startRestricted starts cmd with only the capabilities keep (all when keep
// is nil) and under a seccomp filter refusing deny (none when empty).
//
// The bounding set, no_new_privs and seccomp filters are per thread and a
// child inherits the forking thread's, so they are set on a thread locked for
// this and never unlocked: Go ends that thread when the goroutine returns,
// and no other goroutine ever runs restricted.
func startRestricted(cmd *exec.Cmd, keep []int, deny []uintptr) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		for c := 0; keep != nil && c <= last; c++ {
			if slices.Contains(keep, c) {
				continue
			}
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
				errc <- fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
				return
			}
		}
		if len(deny) > 0 {
			if err := denySyscalls(deny); err != nil {
				errc <- err
				return
			}
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// denySyscalls installs on the calling thread a seccomp filter returning
// EPERM for nrs. The filter does not check the architecture: it is for
// children of the test binary, which use only its native calls.
func denySyscalls(nrs []uintptr) error {
	const (
		seccompSetModeFilter = 1
		seccompRetAllow      = 0x7fff0000
		seccompRetErrno      = 0x00050000
	)
	// A: the syscall number (offset 0 of struct seccomp_data); one
	// comparison per call, jumping to the final EPERM.
	prog := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}}
	for i, nr := range nrs {
		prog = append(prog, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(nr), Jt: uint8(len(nrs) - i), Jf: 0})
	}
	prog = append(prog,
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: seccompRetAllow},
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: seccompRetErrno | uint32(unix.EPERM)},
	)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, seccompSetModeFilter, 0, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	return nil
}

func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("read cap_last_cap: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
