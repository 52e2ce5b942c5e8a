// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestLostByCgroup: with nobody reading a one-page ring, a workload that
// floods it loses its own samples and makes the next workload's creations
// lost too; each loss is counted under the cgroup of the task whose creation
// was lost, and the cgroups' counts add up to the host-wide ring_buffer_full.
func TestLostByCgroup(t *testing.T) {
	root := testutil.TempDir(t)
	flooder, _ := testutil.MakeCgroup(t, "flooder")
	victim, _ := testutil.MakeCgroup(t, "victim")
	id := func(dir string) uint64 {
		var st syscall.Stat_t
		require.NoError(t, syscall.Stat(dir, &st))
		return st.Ino
	}
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
	assert.EqualValues(t, victims, byCg[id(victim)], "every victim creation lost, counted as the victim's")
	assert.Greater(t, byCg[id(flooder)], uint64(floods/2), "the flooder's own losses")
	assert.LessOrEqual(t, byCg[id(flooder)], uint64(floods))
	var sum uint64
	for _, n := range byCg {
		sum += n
	}
	assert.Equal(t, lost[LostRingBufferFull], sum, "the cgroups' losses add up to the host-wide count")
	assert.Zero(t, byCg[0], "no overflow with two cgroups")
}
