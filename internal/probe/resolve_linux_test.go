// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestResolveIn: names as a caller wrote them resolve as the kernel's lookup
// would, inside a root, without following the last component.
func TestResolveIn(t *testing.T) {
	root := testutil.TempDir(t)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "a", "b"), 0o755))
	require.NoError(t, os.Symlink("a", filepath.Join(root, "rel")))
	require.NoError(t, os.Symlink("/a/b", filepath.Join(root, "abs"))) // absolute: inside root
	require.NoError(t, os.Symlink("loop", filepath.Join(root, "loop")))
	require.NoError(t, os.Symlink("/etc", filepath.Join(root, "a", "last")))
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"/x", "/x", true},
		{"/a/b/x", "/a/b/x", true},
		{"//a/./b//x", "/a/b/x", true},
		{"/a/b/../../a/x", "/a/x", true},
		{"/rel/b/x", "/a/b/x", true},
		{"/rel/../x", "/x", true}, // ".." after a symlink leaves its target
		{"/abs/x", "/a/b/x", true},
		{"/abs/../../x", "/x", true}, // never above the root
		{"/a/last", "/a/last", true}, // the created name itself is not followed
		{"/loop/x", "", false},
		{"/missing/x", "", false},
	} {
		got, ok := resolveIn(root, tc.name)
		assert.Equal(t, tc.ok, ok, tc.name)
		if tc.ok {
			assert.Equal(t, tc.want, got, tc.name)
		}
	}
}
