// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestOverlayCopyUp: a child, root of its own user and mount namespaces,
// mounts an overlayfs whose upper layer is inside a watched directory and
// makes the kernel copy lower files up, new files in the watched directory
// that no open created: a lower file opened for write, one chmod'ed (a
// copy-up with no open at all) and one opened with O_CREAT (it exists: no
// creation, a copy-up). Every hook counts each once (operation copy_up,
// under the upper layer's node path, credited to the child), however often
// the file is opened again: kretprobe and fexit at ovl_copy_up_one's
// return, the tracepoint hook (6.13+) from the new inode's first timestamp
// under overlayfs' credentials, named at the syscall's exit
// (bpf/copyup.h). A file created through the overlay by an open or a mknod
// is that creation, once, never also a copy-up. On a kernel without the
// timestamp tracepoints the tracepoint hook says so (a note) and counts the
// creations alone.
func TestOverlayCopyUp(t *testing.T) {
	testutil.RequireRoot(t)
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			w, s := testutil.TempDir(t), testutil.TempDir(t)
			loadOverlay(t)
			lower := filepath.Join(s, "lower")
			require.NoError(t, os.Mkdir(lower, 0o755))
			for _, n := range []string{"existing", "meta", "reopened"} {
				require.NoError(t, os.WriteFile(filepath.Join(lower, n), []byte("lower"), 0o644))
			}
			require.NoError(t, os.Mkdir(filepath.Join(w, "up"), 0o755))
			require.NoError(t, os.Mkdir(filepath.Join(w, "work"), 0o755))
			p, c := watchDir(t, h, w)
			m := s + "/m"
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: s, Ops: []testutil.Op{
				{Kind: testutil.OpPrivateMounts},
				{Kind: testutil.OpOverlay, Path: m, For: lower + ":" + w + "/up:" + w + "/work"},
				{Kind: testutil.OpOpenWrite, Path: m + "/existing"},
				{Kind: testutil.OpOpenWrite, Path: m + "/existing"}, // already up: nothing new
				{Kind: testutil.OpChmod, Path: m + "/meta"},
				{Kind: testutil.OpOpenAbs, Path: m + "/reopened"},
				{Kind: testutil.OpOpenAbs, Path: m + "/fresh"},
				{Kind: testutil.OpMknodAbs, Path: m + "/node"},
			}}, inUserNS())
			body, err := os.ReadFile(filepath.Join(w, "up", "existing"))
			require.NoError(t, err, "the kernel copied the file up")
			require.Equal(t, "lower", string(body))
			up := filepath.Join(w, "up")
			want := map[string]event.Op{
				up + "/existing": event.OpCopyUp,
				up + "/meta":     event.OpCopyUp,
				up + "/reopened": event.OpCopyUp,
				up + "/fresh":    event.OpCreate,
				up + "/node":     event.OpMknod,
			}
			if h == HookTracepoint && slices.ContainsFunc(p.Notes(), func(n string) bool {
				return strings.Contains(n, "timestamp tracepoints")
			}) {
				// a kernel before 6.13: the note says copy-ups go uncounted
				for f, op := range want {
					if op == event.OpCopyUp {
						delete(want, f)
					}
				}
			}
			got := c.wait(t, len(want), uint32(child.PID))
			ops := map[string]event.Op{}
			for _, e := range got {
				ops[e.path] = e.op
				if e.op == event.OpCopyUp {
					assert.NotZero(t, e.where&event.WhereOverlayUpper, "%s: the overlay's upper layer followed", e.path)
				}
				assert.Zero(t, e.where&event.WhereNodeUnknown, "%s: on a node mount", e.path)
				assert.Zero(t, e.flags&(event.FlagUnresolved|event.FlagTruncated), e.path)
			}
			assert.Len(t, got, len(want), "each file once: %v", paths(got))
			assert.Equal(t, want, ops, "under the upper layer's node path, each with its operation")
			assertNoLoss(t, p)
		})
	}
}
