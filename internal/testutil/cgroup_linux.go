// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// cgroupV2Root returns where cgroup v2 is mounted, read from this process's
// mountinfo apart from identity's own reading (this package is the tests'
// oracle, and identity's tests use it), or "" when it is not.
func cgroupV2Root() string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		// id parent major:minor root mountpoint options ... - fstype source options
		left, right, ok := strings.Cut(line, " - ")
		if f := strings.Fields(left); ok && strings.HasPrefix(right, "cgroup2 ") && len(f) >= 5 {
			return f[4]
		}
	}
	return ""
}

// MakeCgroup creates the cgroup v2 directory rel (slash-separated, may be
// nested) under a test-owned parent and returns its absolute path and its
// path as /proc/<pid>/cgroup shows it. It skips (or fails, when Strict)
// where cgroup v2 is not mounted. The cgroups are removed at cleanup, once
// the children in them have exited.
func MakeCgroup(t *testing.T, rel string) (abs, cgPath string) {
	t.Helper()
	RequireRoot(t)
	root := cgroupV2Root()
	if root == "" {
		SkipUnlessStrict(t, "cgroup v2 is not mounted")
	}
	base := filepath.Join(root, "kernelevents-test-"+strings.ReplaceAll(t.Name(), "/", "_"))
	abs = filepath.Join(base, rel)
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	t.Cleanup(func() {
		// rmdir from the leaf up; a cgroup dir holds only kernel files.
		for d := abs; strings.HasPrefix(d, base); d = filepath.Dir(d) {
			os.Remove(d)
		}
	})
	return abs, strings.TrimPrefix(abs, root)
}

// MakeRuntimeCgroup creates the cgroup v2 directory rel (for example
// "docker/<id>" or "kubepods/besteffort/pod<uid>/<id>") at the root of the
// hierarchy, where container runtimes make theirs: container ids count only
// there. Use ids no real runtime has. The directories below rel's first
// component are removed at cleanup, once the children in them have exited;
// the first (docker, kubepods, ...) is left, as a runtime would.
func MakeRuntimeCgroup(t testing.TB, rel string) (abs, cgPath string) {
	t.Helper()
	RequireRoot(t)
	root := cgroupV2Root()
	if root == "" {
		SkipUnlessStrict(t, "cgroup v2 is not mounted")
	}
	rel = strings.Trim(rel, "/")
	first, _, _ := strings.Cut(rel, "/")
	abs = filepath.Join(root, rel)
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	stop := filepath.Join(root, first)
	t.Cleanup(func() {
		for d := abs; d != stop && strings.HasPrefix(d, stop); d = filepath.Dir(d) {
			os.Remove(d)
		}
	})
	return abs, "/" + rel
}

// RunInCgroup runs argv as a new process born in the cgroup v2 directory
// dir (clone3 with CLONE_INTO_CGROUP: it never runs anywhere else) and
// waits for it. It returns the process's pid.
func RunInCgroup(dir string, argv ...string) (int, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%v in %s: %w: %s", argv, dir, err, out)
	}
	return cmd.Process.Pid, nil
}

// MakeRuntimeCgroupNoCleanup is MakeRuntimeCgroup for tests that remove
// thousands of cgroups themselves as they go (RemoveCgroups).
func MakeRuntimeCgroupNoCleanup(t testing.TB, rel string) (abs, cgPath string) {
	t.Helper()
	root := cgroupV2Root()
	if root == "" {
		SkipUnlessStrict(t, "cgroup v2 is not mounted")
	}
	rel = strings.Trim(rel, "/")
	abs = filepath.Join(root, rel)
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	return abs, "/" + rel
}

// RemoveCgroups removes the cgroup rel below root (an empty one: its
// processes have exited) and returns whether it is gone.
func RemoveCgroups(root, rel string) bool {
	err := os.Remove(filepath.Join(root, rel))
	return err == nil || os.IsNotExist(err)
}
