// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernelevents/kernelevents/internal/identity"
)

// MakeCgroup creates the cgroup v2 directory rel (slash-separated, may be
// nested) under a test-owned parent and returns its absolute path and its
// path as /proc/<pid>/cgroup shows it. It skips (or fails, when Strict)
// where cgroup v2 is not mounted. The cgroups are removed at cleanup, once
// the children in them have exited.
func MakeCgroup(t *testing.T, rel string) (abs, cgPath string) {
	t.Helper()
	RequireRoot(t)
	root := identity.CgroupV2Root()
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
