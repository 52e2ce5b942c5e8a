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

// TestIOUringEvasion (issue 14, gap 3): io_uring opens that post no
// completion (IOSQE_CQE_SKIP_SUCCESS, plain and direct), whose completion
// overflows a full CQ ring, or whose fd is closed or replaced before a
// IORING_SETUP_DEFER_TASKRUN completion runs. Each creation is counted
// once, or counted as lost with its reason, never neither; a plain io_uring
// creation is the control. The do_filp_open hooks see every one at the open
// itself (and must not count any twice).
func TestIOUringEvasion(t *testing.T) {
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			dir := realTempDir(t)
			require.NoError(t, os.Chmod(dir, 0o777))
			opts := DefaultOptions()
			opts.Hook = h
			opts.PathPrefixes = []string{dir + "/"}
			// The lost counters are not filtered by path: only this test's
			// child (as nobody) may count.
			opts.UIDs = []uint32{65534}
			p := openHook(t, opts)
			if h == HookTracepoint && slices.ContainsFunc(p.Notes(), func(n string) bool { return strings.Contains(n, "io_uring") }) {
				testutil.SkipUnlessStrict(t, "this kernel lacks an io_uring tracepoint: %q", p.Notes())
			}
			c := collect(p)
			ops := []testutil.Op{
				{Kind: testutil.OpIOUring, Path: "control"},
				{Kind: testutil.OpIOUringSkip, Path: "skip"},
				{Kind: testutil.OpIOUringSkipDirect, Path: "skip-direct"},
				{Kind: testutil.OpIOUringOverflow, Path: "overflow"},
				{Kind: testutil.OpIOUringDeferClose, Path: "defer-close"},
				{Kind: testutil.OpIOUringDeferDup2, Path: "defer-dup2"},
			}
			child := runIOUringChild(t, testutil.ChildSpec{Dir: dir, Ops: ops}.AsUser(65534, 65534))
			all := []string{"control", "defer-close", "defer-dup2", "overflow", "skip", "skip-direct"}
			wantSeen, wantLost := all, map[string]uint64{}
			if h == HookTracepoint {
				// Seen: the control and the overflowed completion. Lost:
				// the skipped ones (no completion), and the deferred
				// completions whose fd was closed or replaced.
				wantSeen = []string{"control", "overflow"}
				wantLost = map[string]uint64{LostIOURingUnobserved: 2, LostFDRace: 2}
			}
			var want []string
			for _, n := range wantSeen {
				want = append(want, filepath.Join(dir, n))
			}
			got := c.wait(t, len(want), uint32(child.PID))
			assert.Equal(t, want, paths(got), "each creation seen once")
			for _, e := range got {
				assert.Equal(t, uint32(65534), e.uid)
				if h == HookTracepoint {
					assert.Equal(t, event.HookIOUring, e.hook)
				}
			}
			lost, err := p.LostByReason()
			require.NoError(t, err)
			for _, reason := range []string{LostRingBufferFull, LostFDRace, LostIOURingUnobserved, LostInflightTableFull} {
				assert.Equal(t, wantLost[reason], lost[reason], "lost %s", reason)
			}
			// Never neither: every creation is seen or lost.
			var n uint64
			for _, v := range lost {
				n += v
			}
			assert.Equal(t, uint64(len(all)), uint64(len(got))+n, "seen + lost = created")
		})
	}
}
