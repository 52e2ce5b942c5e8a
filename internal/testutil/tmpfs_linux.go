// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
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
