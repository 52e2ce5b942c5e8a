// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TmpfsDir returns a fresh tmpfs mounted for this test (unmounted at
// cleanup), for tests that make a great many files or directories: on the
// CI machine's disk 100,000 mkdirs take about 30 s, on tmpfs under 1 s.
func TmpfsDir(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	dir := TempDir(t)
	if err := unix.Mount("kernelevents-test", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// OverlayDir mounts an overlayfs whose layers are on a tmpfs of its own (an
// empty lower directory, the upper and work directories beside it), as a
// container's root filesystem is, and returns its merged directory (where
// files are made) and the upper one (where they really are); unmounted when
// t ends.
func OverlayDir(t testing.TB) (merged, upper string) {
	t.Helper()
	base := TmpfsDir(t)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(base+"/"+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	merged, upper = base+"/merged", base+"/upper"
	opts := "lowerdir=" + base + "/lower,upperdir=" + base + "/upper,workdir=" + base + "/work"
	if err := unix.Mount("kernelevents-test", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay on %s: %v", merged, err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	return merged, upper
}
