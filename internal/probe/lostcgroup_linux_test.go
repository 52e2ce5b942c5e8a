// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// cgroupID is the cgroup v2 id of the cgroup directory dir (its inode).
func cgroupID(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(dir, &st))
	return st.Ino
}

// TestLostByCgroup: with nobody reading a one-page ring, a workload that
// floods it loses its own samples and makes the next workload's creations
// lost too; each loss is counted under the cgroup of the task whose creation
// was lost, as ring_buffer_full, and the cgroups' counts add up to the
// host-wide ring_buffer_full.
func TestLostByCgroup(t *testing.T) {
	root := testutil.TempDir(t)
	flooder, _ := testutil.MakeCgroup(t, "flooder")
	victim, _ := testutil.MakeCgroup(t, "victim")
	opts := DefaultOptions()
	opts.PathPrefixes = []string{root + "/"}
	opts.RingBufferSize = os.Getpagesize()
	opts.WakeupBytes = 0
	p := openHook(t, opts) // never read: the ring fills and stays full

	const floods, victims = 200, 3
	ops := make([]testutil.Op, floods)
	for i := range ops {
		ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: "flood-" + strconv.Itoa(i)}
	}
	testutil.RunChild(t, testutil.ChildSpec{Dir: root, Cgroup: flooder, Ops: ops})
	ops = make([]testutil.Op, victims)
	for i := range ops {
		ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: "victim-" + strconv.Itoa(i)}
	}
	testutil.RunChild(t, testutil.ChildSpec{Dir: root, Cgroup: victim, Ops: ops})

	byCg, err := p.LostByCgroup()
	require.NoError(t, err)
	lost, err := p.LostByReason()
	require.NoError(t, err)
	t.Logf("lost by cgroup: %v; ring_buffer_full %d", byCg, lost[LostRingBufferFull])
	assert.Equal(t, map[string]uint64{LostRingBufferFull: victims}, byCg[cgroupID(t, victim)],
		"every victim creation lost, counted as the victim's, as ring_buffer_full")
	flooded := byCg[cgroupID(t, flooder)][LostRingBufferFull]
	assert.Greater(t, flooded, uint64(floods/2), "the flooder's own losses")
	assert.LessOrEqual(t, flooded, uint64(floods))
	var sum uint64
	for _, by := range byCg {
		sum += by[LostRingBufferFull]
	}
	assert.Equal(t, lost[LostRingBufferFull], sum, "the cgroups' losses add up to the host-wide count")
	assert.Zero(t, byCg[0][LostRingBufferFull], "no overflow with two cgroups")
}

// waitLostByCgroup polls LostByCgroup until cgroup cg's counts reach want
// (io_uring completions may run after the child exits, in an io-wq worker)
// or 10 s pass, and returns them.
func waitLostByCgroup(t *testing.T, p *Probe, cg uint64, want map[string]uint64) map[uint64]map[string]uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		byCg, err := p.LostByCgroup()
		require.NoError(t, err)
		reached := true
		for reason, n := range want {
			reached = reached && byCg[cg][reason] >= n
		}
		if reached || time.Now().After(deadline) {
			return byCg
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLostByCgroupReasons: losses other than a full ring are counted under
// the cgroup of the task whose creation was lost, with their reason: a
// process in its own cgroup opens two files through io_uring with
// IOSQE_CQE_SKIP_SUCCESS (io_uring_unobserved: no completion shows them)
// and one into a direct descriptor slot past the ring's table
// (io_uring_install_failed: the file is made, then the request fails).
// Each is counted there and nowhere else, and within the host-wide count.
// (Only ring_buffer_full was counted by cgroup before.)
func TestLostByCgroupReasons(t *testing.T) {
	dir := testutil.TempDir(t)
	cg, _ := testutil.MakeCgroup(t, "loser")
	opts := DefaultOptions()
	opts.Hook = HookTracepoint
	opts.PathPrefixes = []string{dir + "/"}
	p := openHook(t, opts)
	requireIOUringTracepoints(t, p)
	runIOUringChild(t, testutil.ChildSpec{Dir: dir, Cgroup: cg, Ops: []testutil.Op{
		{Kind: testutil.OpIOUringSkip, Path: "skip"},
		{Kind: testutil.OpIOUringSkipDirect, Path: "skip-direct"},
		{Kind: testutil.OpIOUringDirectNoSlot, Path: "no-slot"},
	}})
	id := cgroupID(t, cg)
	want := map[string]uint64{LostIOURingUnobserved: 2, LostIOURingInstallFailed: 1}
	byCg := waitLostByCgroup(t, p, id, want)
	lost, err := p.LostByReason()
	require.NoError(t, err)
	t.Logf("the child's cgroup %d: %v; host-wide %v", id, byCg[id], lost)
	assert.Equal(t, want, byCg[id], "the child's losses, under its cgroup, by reason")
	for reason, n := range want {
		assert.GreaterOrEqual(t, lost[reason], n, "host-wide %s", reason)
	}
}

// TestLostByCgroupOverflow: the map of losses by cgroup is bounded
// (LostCgroupsMax cgroups); once it is full, a cgroup that loses a creation
// is counted under cgroup 0, with its reason, not dropped and not added.
// The map is filled from user space with cgroup ids no cgroup has (zero
// counts: LostByCgroup leaves them out) so that the next cgroup is the one
// past the bound.
func TestLostByCgroupOverflow(t *testing.T) {
	dir := testutil.TempDir(t)
	cg, _ := testutil.MakeCgroup(t, "overflowed")
	opts := DefaultOptions()
	opts.Hook = HookTracepoint
	opts.PathPrefixes = []string{dir + "/"}
	p := openHook(t, opts)
	requireIOUringTracepoints(t, p)
	m := p.objs.common().LostCgroups
	require.EqualValues(t, LostCgroupsMax+1, m.MaxEntries(), "LostCgroupsMax against LOST_CGROUPS_MAX, and key 0")
	for i := range uint64(LostCgroupsMax) {
		require.NoError(t, m.Put(1<<63|i, kerneleventsLostCounts{}), "fill entry %d", i)
	}
	require.Error(t, m.Put(uint64(1<<62), kerneleventsLostCounts{}), "the map is full")

	runIOUringChild(t, testutil.ChildSpec{Dir: dir, Cgroup: cg, Ops: []testutil.Op{
		{Kind: testutil.OpIOUringSkip, Path: "skip"},
	}})
	byCg := waitLostByCgroup(t, p, 0, map[string]uint64{LostIOURingUnobserved: 1})
	t.Logf("lost by cgroup: %v", byCg)
	assert.NotContains(t, byCg, cgroupID(t, cg), "a cgroup past the bound is not added")
	// >=: another process's io_uring test may lose one here at the same time.
	assert.GreaterOrEqual(t, byCg[0][LostIOURingUnobserved], uint64(1), "counted under cgroup 0, with its reason")
	var n int
	var k uint64
	var v kerneleventsLostCounts
	for it := m.Iterate(); it.Next(&k, &v); {
		n++
	}
	assert.Equal(t, LostCgroupsMax+1, n, "the map holds the bound and key 0, no more")
}

// requireIOUringTracepoints skips (fails under CI) when the tracepoint hook
// has no io_uring programs on this kernel.
func requireIOUringTracepoints(t *testing.T, p *Probe) {
	t.Helper()
	for _, n := range p.Notes() {
		if strings.Contains(n, "io_uring") {
			testutil.SkipUnlessStrict(t, "this kernel lacks an io_uring tracepoint: %q", p.Notes())
		}
	}
}
