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

	"golang.org/x/sys/unix"
)

// WithCapabilities starts a child with only the capabilities keep (unix.CAP_*
// numbers), the way `setpriv --bounding-set -all,+...` would: a root process
// gets its bounding set as its capabilities at exec. It works where no
// setpriv is (the test VM's busybox).
func WithCapabilities(keep ...int) ChildOption {
	return func(c *childStart) { c.keep = append([]int{}, keep...) }
}

// startWithCapabilities starts cmd with only the capabilities keep.
//
// The bounding set is per thread and a child inherits the forking thread's,
// so the set is dropped on a thread locked for this and never unlocked:
// Go ends that thread when the goroutine returns, and no other goroutine
// ever runs with the smaller set.
func startWithCapabilities(cmd *exec.Cmd, keep []int) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		for c := 0; c <= last; c++ {
			if slices.Contains(keep, c) {
				continue
			}
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
				errc <- fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
				return
			}
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("read cap_last_cap: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
