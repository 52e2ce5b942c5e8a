// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
			dir := testutil.TempDir(t)
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
			got := c.wait(t, len(all), uint32(child.PID))
			seen := map[string]int{}
			for _, e := range got {
				seen[strings.TrimPrefix(e.path, dir+"/")]++
				assert.Equal(t, uint32(65534), e.uid)
				if h == HookTracepoint {
					assert.Equal(t, event.HookIOUring, e.hook)
				}
			}
			wantSeen, wantLost := map[string]int{}, map[string]uint64{}
			for _, n := range all {
				wantSeen[n] = 1
			}
			if h == HookTracepoint {
				// Lost: the skipped ones (no completion). Seen: the control
				// and the overflowed completion. The deferred completions:
				// on 6.18 they run in the submitter after the close or dup2
				// (fd_race); on 6.1 the io-wq worker still posts them right
				// after the install (seen).
				delete(wantSeen, "skip")
				delete(wantSeen, "skip-direct")
				wantLost[LostIOURingUnobserved] = 2
				for _, n := range []string{"defer-close", "defer-dup2"} {
					if seen[n] == 0 {
						delete(wantSeen, n)
						wantLost[LostFDRace]++
					}
				}
				assert.Contains(t, wantSeen, "overflow")
			}
			assert.Equal(t, wantSeen, seen, "each creation seen once: %q", paths(got))
			lost, err := p.LostByReason()
			require.NoError(t, err)
			t.Logf("seen %v, lost %v", seen, lost)
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

// TestDeepPaths (issue 14, gap 5): files deeper than the kernel walk's first
// pass (48 components, 1,024 bytes) are counted with their root side, so a
// prefix filter neither drops them nor credits them to an inner directory
// that looks like a top one; deeper than the walk can reach at all, the
// sample keeps the leaf side, says so, and is not filtered out.
func TestDeepPaths(t *testing.T) {
	for _, h := range testedHooks() {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			root := testutil.TempDir(t)
			opts := DefaultOptions()
			opts.Hook = h
			// "/etc/" too: the old walk's cut path of "etc-chain" started
			// with /etc/d/... and was counted there.
			opts.PathPrefixes = []string{root + "/", "/etc/"}
			opts.ExcludePID = os.Getpid()
			p := openHook(t, opts)
			c := collect(p)

			// 60 directories: dropped by the old walk.
			deep := filepath.Join(append([]string{root, "deep"}, slices.Repeat([]string{"d"}, 59)...)...)
			// .../etc followed by 46 directories and the file: the old walk
			// kept exactly those 48 components, "/etc/d/.../x".
			etc := filepath.Join(append([]string{root, "etc-chain", "a", "etc"}, slices.Repeat([]string{"d"}, 46)...)...)
			// 8 names of 200 bytes: longer than the walk's buffer.
			long := filepath.Join(append([]string{root, "long"}, slices.Repeat([]string{strings.Repeat("l", 200)}, 8)...)...)
			for _, d := range []string{deep, etc, long} {
				require.NoError(t, mkdirAllAt(d))
			}
			ops := []testutil.Op{
				{Kind: testutil.OpOpenat, Path: rel(t, root, deep) + "/x"},
				{Kind: testutil.OpOpenat, Path: rel(t, root, etc) + "/x"},
				{Kind: testutil.OpOpenat, Path: rel(t, root, long) + "/x"},
				{Kind: testutil.OpOpenat, Path: "control"},
			}
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: ops})
			got := c.wait(t, len(ops), uint32(child.PID))
			require.Len(t, got, len(ops), "every file counted: %q", paths(got))
			tops := map[string]int{}
			for _, e := range got {
				assert.Zero(t, e.flags&event.FlagRootless, "%s", e.path)
				require.True(t, strings.HasPrefix(e.path, root+"/"), "counted under its real directory: %q", e.path)
				top, _, _ := strings.Cut(strings.TrimPrefix(e.path, root+"/"), "/")
				tops[top]++
				if top == "control" {
					assert.Equal(t, filepath.Join(root, "control"), e.path)
					assert.Zero(t, e.flags&event.FlagTruncated)
					continue
				}
				full := map[string]string{"deep": deep, "etc-chain": etc, "long": long}[top] + "/x"
				if top != "long" {
					// Deeper than the first pass, but the whole path fits.
					assert.Equal(t, full, e.path)
					assert.Zero(t, e.flags&event.FlagTruncated)
					continue
				}
				assert.NotZero(t, e.flags&event.FlagTruncated, "%s is cut", e.path)
				assert.True(t, strings.HasPrefix(full, e.path), "%q is the root side of %q", e.path, full)
				// The kernel fills the sample with the path inside the
				// filesystem; the node's path puts the mountpoint before it
				// (a tmpfs /tmp: longer than a sample).
				assert.GreaterOrEqual(t, len(e.path), event.PathLen-1, "the root side fills the sample")
			}
			assert.Equal(t, map[string]int{"deep": 1, "etc-chain": 1, "long": 1, "control": 1}, tops)
		})
	}
}

// TestRootlessPath: a file deeper than the walk reaches (1,100 directories)
// is counted with the leaf side and EVENT_F_ROOTLESS, though the prefix
// filter cannot match it.
func TestRootlessPath(t *testing.T) {
	for _, h := range testedHooks() {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			root := testutil.TempDir(t)
			_, c := watchDir(t, h, root)
			deep := filepath.Join(append([]string{root}, slices.Repeat([]string{"d"}, 1100)...)...)
			require.NoError(t, mkdirAllAt(deep))
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: deep, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "x"}}})
			got := c.wait(t, 1, uint32(child.PID))
			require.Len(t, got, 1)
			e := got[0]
			assert.NotZero(t, e.flags&event.FlagRootless)
			assert.NotZero(t, e.flags&event.FlagTruncated)
			assert.True(t, strings.HasSuffix(e.path, "/d/d/x"), "the leaf side: %q", e.path)
			assert.False(t, strings.HasPrefix(e.path, root), "%q", e.path)
		})
	}
}

// mkdirAllAt makes every directory of an absolute path, one at a time
// relative to its parent (paths longer than PATH_MAX work too).
func mkdirAllAt(path string) error {
	return os.MkdirAll(path, 0o755)
}

func rel(t *testing.T, base, p string) string {
	r, err := filepath.Rel(base, p)
	require.NoError(t, err)
	return r
}

// TestIOUringInstallFailure (issue 24, section 3): an io_uring O_CREAT open
// into a direct descriptor slot past the ring's table makes the file, then
// fails (-EINVAL) when the ring takes it. kretprobe and fexit count the file
// (do_filp_open made it); the tracepoint hook, whose completion shows only
// the error, counts it as lost{io_uring_install_failed}. Never neither.
func TestIOUringInstallFailure(t *testing.T) {
	for _, h := range testedHooks() {
		t.Run(string(h), func(t *testing.T) {
			dir := testutil.TempDir(t)
			p, c := watchDir(t, h, dir)
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{
				{Kind: testutil.OpIOUringDirectNoSlot, Path: "no-slot"},
			}})
			_, err := os.Stat(filepath.Join(dir, "no-slot"))
			require.NoError(t, err, "the kernel made the file before the ring refused it")
			if h == HookTracepoint {
				var lost map[string]uint64
				deadline := time.Now().Add(10 * time.Second)
				for {
					lost, err = p.LostByReason()
					require.NoError(t, err)
					if lost[LostIOURingInstallFailed] > 0 || time.Now().After(deadline) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				assert.Equal(t, uint64(1), lost[LostIOURingInstallFailed])
				return
			}
			got := c.wait(t, 1, uint32(child.PID))
			assert.Equal(t, []string{filepath.Join(dir, "no-slot")}, paths(got))
		})
	}
}
