// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestOverlayCopyUp: a child, root of its own user and mount namespaces,
// mounts an overlayfs whose upper layer is inside a watched directory and
// opens a file of the lower layer for write: the kernel copies it up, a new
// file in the watched directory that no open created. The kretprobe and
// fexit hooks count it once (operation copy_up, under the upper layer's
// node path, credited to the child), however often the file is opened
// again; the tracepoint hook has no exact way to see it (README "What
// counts") and counts nothing from the child.
func TestOverlayCopyUp(t *testing.T) {
	testutil.RequireRoot(t)
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			w, s := testutil.TempDir(t), testutil.TempDir(t)
			loadOverlay(t)
			lower := filepath.Join(s, "lower")
			require.NoError(t, os.Mkdir(lower, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(lower, "existing"), []byte("lower"), 0o644))
			require.NoError(t, os.Mkdir(filepath.Join(w, "up"), 0o755))
			require.NoError(t, os.Mkdir(filepath.Join(w, "work"), 0o755))
			p, c := watchDir(t, h, w)
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: s, Ops: []testutil.Op{
				{Kind: testutil.OpPrivateMounts},
				{Kind: testutil.OpOverlay, Path: s + "/m", For: lower + ":" + w + "/up:" + w + "/work"},
				{Kind: testutil.OpOpenWrite, Path: s + "/m/existing"},
				{Kind: testutil.OpOpenWrite, Path: s + "/m/existing"}, // already up: nothing new
			}}, inUserNS())
			body, err := os.ReadFile(filepath.Join(w, "up", "existing"))
			require.NoError(t, err, "the kernel copied the file up")
			require.Equal(t, "lower", string(body))
			if h == HookTracepoint {
				got := c.wait(t, 1, uint32(child.PID))
				assert.Empty(t, paths(got), "the tracepoint hook does not see a copy-up (README)")
				assertNoLoss(t, p)
				return
			}
			got := c.wait(t, 1, uint32(child.PID))
			require.Equal(t, []string{filepath.Join(w, "up", "existing")}, paths(got), "counted once, under the upper layer's node path")
			e := got[0]
			assert.Equal(t, event.OpCopyUp, e.op)
			assert.NotZero(t, e.where&event.WhereOverlayUpper, "the overlay's upper layer followed")
			assert.Zero(t, e.where&event.WhereNodeUnknown, "on a node mount")
			assert.Zero(t, e.flags&(event.FlagUnresolved|event.FlagTruncated))
			assertNoLoss(t, p)
		})
	}
}
