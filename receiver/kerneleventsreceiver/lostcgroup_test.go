// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// TestLostByCgroupReasonsDeclared: the reasons kernel.events.lost_by_cgroup
// carries are the probe's per-cgroup reasons and evidence_shed, no more.
func TestLostByCgroupReasonsDeclared(t *testing.T) {
	want := append(slices.Clone(probe.CgroupLostReasons), chain.LostEvidenceShed)
	assert.ElementsMatch(t, want, slices.Collect(maps.Keys(metadata.MapAttributeKerneleventsLostByCgroupReason)))
}

// cgSample is a creation at now by a task of cgroup cg.
func cgSample(cg uint64) *event.Event {
	e := sample("/srv/f")
	e.CgroupID = cg
	return e
}

// TestShedByCgroup: a workload flooding the evidence rate limit makes
// another's record shed; each shed record is counted under its sample's
// cgroup, and the checkpoint states them beside the kernel's losses by
// cgroup and reason, adding up to its shed count. (The rate limit's shed
// records were counted host-wide only.)
func TestShedByCgroup(t *testing.T) {
	ev := newEvidence(EvidenceConfig{MaxRecordsPerSecond: 1}, metadata.DefaultLogsBuilderConfig(),
		receivertest.NewNopSettings(metadata.Type), 0, func(uint32) pcommon.Resource { return pcommon.NewResource() })
	ev.counts = func() checkpointCounts {
		return checkpointCounts{received: 12, lost: map[string]uint64{probe.LostFDRace: 2},
			lostByCgroup: map[uint64]map[string]uint64{4242: {probe.LostFDRace: 2}, 7001: {probe.LostIOURingUnobserved: 1}}}
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for range 10 { // one passes, nine shed
		ev.add(cgSample(7000), 0, identity.Facts{}, t0)
	}
	ev.add(cgSample(7001), 0, identity.Facts{}, t0) // shed: the flooder took the token

	shed, byCg := ev.Shed()
	assert.EqualValues(t, 10, shed)
	assert.Equal(t, map[uint64]uint64{7000: 9, 7001: 1}, byCg)

	ld, ok := ev.take(true, t0.Add(time.Millisecond))
	require.True(t, ok)
	ck := checkpointOf(t, ld)
	want := map[string]any{
		"4242": map[string]any{probe.LostFDRace: int64(2)},
		"7000": map[string]any{chain.LostEvidenceShed: int64(9)},
		"7001": map[string]any{chain.LostEvidenceShed: int64(1), probe.LostIOURingUnobserved: int64(1)},
	}
	got, _ := ck.Attributes().Get(chain.AttrLostByCg)
	assert.Equal(t, want, got.Map().AsRaw(), "the victim's shed record and kernel loss, under its cgroup")
	total, _ := ck.Attributes().Get(chain.AttrShedTotal)
	assert.EqualValues(t, 10, total.Int())
}

// checkpointOf returns the checkpoint record of ld.
func checkpointOf(t *testing.T, ld plog.Logs) plog.LogRecord {
	t.Helper()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		lrs := rls.At(i).ScopeLogs().At(0).LogRecords()
		for j := 0; j < lrs.Len(); j++ {
			if lrs.At(j).EventName() == chain.EventCheckpoint {
				return lrs.At(j)
			}
		}
	}
	t.Fatal("no checkpoint")
	return plog.LogRecord{}
}

// TestShedByCgroupBounded: past probe.LostCgroupsMax cgroups, shed records
// are counted under cgroup 0 (as the kernel's losses are): the map stays
// bounded and the counts still add up to the shed total.
func TestShedByCgroupBounded(t *testing.T) {
	ev := newEvidence(EvidenceConfig{MaxRecordsPerSecond: 1}, metadata.DefaultLogsBuilderConfig(),
		receivertest.NewNopSettings(metadata.Type), 0, func(uint32) pcommon.Resource { return pcommon.NewResource() })
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const past = 10
	ev.add(cgSample(1), 0, identity.Facts{}, t0) // takes the token
	for i := range uint64(probe.LostCgroupsMax + past) {
		ev.add(cgSample(1000+i), 0, identity.Facts{}, t0)
	}
	ev.add(cgSample(1000), 0, identity.Facts{}, t0) // a cgroup counted already keeps its key
	shed, byCg := ev.Shed()
	assert.EqualValues(t, probe.LostCgroupsMax+past+1, shed)
	assert.Len(t, byCg, probe.LostCgroupsMax+1, "the bound and cgroup 0")
	assert.EqualValues(t, past, byCg[0], "the cgroups past the bound")
	assert.EqualValues(t, 2, byCg[1000])
	var sum uint64
	for _, n := range byCg {
		sum += n
	}
	assert.Equal(t, shed, sum)
}

// TestFakeLostByCgroupExported: kernel.events.lost_by_cgroup carries each
// cgroup's losses by reason, the kernel's and the records the rate limit
// shed, non-zero ones only.
func TestFakeLostByCgroupExported(t *testing.T) {
	cfg := fakeConfig()
	cfg.Evidence.MaxRecordsPerSecond = 1
	run := startFake(t, cfg, true, nil)
	run.src.setLostCgroup(4242, probe.LostRingBufferFull, 3)
	run.src.setLostCgroup(4242, probe.LostFDRace, 1)
	run.src.setLostCgroup(5151, probe.LostCoreDumpUnobserved, 1)
	run.src.setLostCgroup(5151, probe.LostScratchBusy, 0)
	t0 := time.Now()
	run.r.evidence.add(cgSample(6000), 0, identity.Facts{}, t0)
	run.r.evidence.add(cgSample(6000), 0, identity.Facts{}, t0) // shed
	run.r.evidence.add(cgSample(5151), 0, identity.Facts{}, t0) // shed
	type key struct {
		cg     int64
		reason string
	}
	got := map[key]int64{}
	for _, p := range run.emit(t)["kernel.events.lost_by_cgroup"] {
		got[key{p.attrs["kernelevents.cgroup.id"].(int64), p.attrs["kernelevents.lost.reason"].(string)}] = p.value
	}
	assert.Equal(t, map[key]int64{
		{4242, probe.LostRingBufferFull}:     3,
		{4242, probe.LostFDRace}:             1,
		{5151, probe.LostCoreDumpUnobserved}: 1,
		{5151, chain.LostEvidenceShed}:       1,
		{6000, chain.LostEvidenceShed}:       1,
	}, got)
}
