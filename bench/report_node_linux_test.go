// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"

	"github.com/kernelevents/kernelevents/internal/probe"
)

// fakeNode builds a node result from per-configuration ns/op, the same in
// every round, for the workloads (a), (b), (c) and (d) on tmpfs.
func fakeNode(t *testing.T, rows map[string][4]float64, order []config) *nodeResult {
	t.Helper()
	fs := &testFS{name: "tmpfs"}
	ws := []*nodeWorkload{
		{key: opReadOpen, name: "(a)", unit: "open+close", fs: fs, ops: 1},
		{key: opCreatReopen, name: "(b)", unit: "open+close", fs: fs, ops: 1},
		{key: opGetpid, name: "(c)", unit: "getpid", fs: fs, ops: 1},
		{key: opTar, name: "(d)", unit: "file", fs: fs, ops: 1, tarball: &tarball{files: 1}},
	}
	n := &nodeResult{workloads: ws, rounds: 3}
	for _, c := range order {
		n.configs = append(n.configs, &configResult{cfg: c, notes: map[string]bool{}})
		n.received = append(n.received, []uint64{0, 0, 0})
		var row []*nodeCell
		for j := range ws {
			cell := &nodeCell{}
			for r := 0; r < 3; r++ {
				v, b := rows[c.name][j], rows[order[0].name][j]
				cell.samples = append(cell.samples, nodeSample{nsPerOp: v})
				cell.ratios = append(cell.ratios, v/b)
				cell.deltas = append(cell.deltas, v-b)
				// CPU time: nine tenths of the wall time in every row
				cell.samples[r].cpuPerOp = v * 0.9
				cell.cpuRatios = append(cell.cpuRatios, v/b)
				cell.cpuDeltas = append(cell.cpuDeltas, 0.9*(v-b))
			}
			row = append(row, cell)
		}
		n.cells = append(n.cells, row)
	}
	return n
}

// TestNodeVerdicts: the verdict text follows issue 17's targets.
func TestNodeVerdicts(t *testing.T) {
	order := []config{
		{name: "base", kind: kindBaseline},
		{name: "floor", kind: kindFloor},
		{name: "tp", kind: kindBatched, hook: probe.HookTracepoint},
		{name: "fan", kind: kindFanotify},
	}
	rows := map[string][4]float64{
		//      (a)   (b)   (c)  (d)
		"base":  {1000, 1000, 100, 10000},
		"floor": {1100, 1100, 150, 10100},
		"tp":    {1020, 1300, 140, 12000}, // (a) +2 % met; (b) above (a); (c) tax 40 ≤ 50; (d) +20 %
		"fan":   {1010, 1010, 100, 10500}, // ahead on (a), (b), (c) and (d)
	}
	r := &report{params: defaultParams(false), hooks: hookInfo{available: []probe.Hook{probe.HookTracepoint}, auto: probe.HookTracepoint},
		tracers: newForeignTracers()}
	r.node = fakeNode(t, rows, order)
	tp := 2
	want := []string{
		"**met**: +2.0 %, target ≤ +3.0 %",
		"**not met** (no path work",
		"**met**: tax +40 ns (+40.0 %), target ≤ the floor's +50 ns",
		"**not met**: +20.0 %, target ≤ +10.0 %; **fanotify is ahead** (+5.0 %)",
	}
	for j, w := range want {
		if got := r.nodeVerdict(tp, j); !strings.Contains(got, w) {
			t.Errorf("verdict for workload %d: %q, want it to contain %q", j, got, w)
		}
	}
	if got := r.nodeVerdict(3, 3); !strings.Contains(got, "**fanotify ahead of the probe (tracepoint)**") {
		t.Errorf("fanotify row on (d): %q", got)
	}
	var sb strings.Builder
	r.writeNode(&sb)
	r.writeTargets(&sb)
	out := sb.String()
	for _, w := range []string{"| tp | +40 ns (+40.0 % of 100 ns) | +20 ns | -60 ns | +300 ns | +220 ns |",
		"ahead of the probe: fanotify on (a)", "audit not measured (opt-in)"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
}

// TestOpenFloorVerdicts: the empty program on do_filp_open is the floor of a
// kretprobe or fexit hook on every open (issue 28, goal 2), said on its own
// row and beside the hook's read-only open.
func TestOpenFloorVerdicts(t *testing.T) {
	order := []config{
		{name: "base", kind: kindBaseline},
		{name: "fexit floor", kind: kindFloorOpen, hook: probe.HookFexit},
		{name: "fexit", kind: kindBatched, hook: probe.HookFexit},
	}
	rows := map[string][4]float64{
		"base":        {1000, 1000, 100, 10000},
		"fexit floor": {1030, 1030, 100, 10050},
		"fexit":       {1045, 1040, 100, 10400},
	}
	r := &report{params: defaultParams(false), hooks: hookInfo{available: []probe.Hook{probe.HookFexit}, auto: probe.HookFexit},
		tracers: newForeignTracers()}
	r.node = fakeNode(t, rows, order)
	if got, want := r.nodeVerdict(1, 0), "the kernel's floor for a fexit hook on every open: +3.0 % (+30 ns), before any work"; got != want {
		t.Errorf("floor row on (a): %q, want %q", got, want)
	}
	if got := r.nodeVerdict(1, 2); got != "–" {
		t.Errorf("floor row on getpid: %q, want –", got)
	}
	if got, want := r.nodeVerdict(2, 0), "**not met**: +4.5 %, target ≤ +1.0 %; an empty fexit program on do_filp_open alone: +3.0 %"; got != want {
		t.Errorf("fexit on (a): %q, want %q", got, want)
	}
}

// TestNodePrecision: the A/A row is judged as the noise floor and its spread,
// with the CPU-time view, is in the report's precision section.
func TestNodePrecision(t *testing.T) {
	order := []config{
		{name: "base", kind: kindBaseline},
		{name: "aa", kind: kindBaseAA},
		{name: "tp", kind: kindBatched, hook: probe.HookTracepoint},
	}
	rows := map[string][4]float64{
		"base": {1000, 1000, 100, 10000},
		"aa":   {1010, 990, 101, 10200},
		"tp":   {1050, 1100, 115, 11000},
	}
	r := &report{params: defaultParams(false), hooks: hookInfo{available: []probe.Hook{probe.HookTracepoint}, auto: probe.HookTracepoint},
		tracers: newForeignTracers()}
	r.node = fakeNode(t, rows, order)
	r.node.pinned = "workloads on CPU 1, this process (the probe's and fanotify's readers) on CPU 0"
	if got := r.nodeVerdict(1, 0); got != "noise floor: two unmonitored runs differ by +1.0 % [+1.0 %–+1.0 %]" {
		t.Errorf("A/A verdict: %q", got)
	}
	var sb strings.Builder
	r.writeNode(&sb)
	out := sb.String()
	for _, w := range []string{
		"CPU placement: workloads on CPU 1",
		"| (a) | 1.010 [1.010–1.010] | 1.010–1.010 | +10 [+10–+10] | 1.010 [1.010–1.010] | 1.010–1.010 |",
		"| (d) | 1.020 [1.020–1.020] | 1.020–1.020 | +200 [+200–+200] |",
		"| tp | 1.050 [1.050–1.050]; +45 ns | 1.100 [1.100–1.100]; +90 ns | 1.150 [1.150–1.150]; +14 ns | 1.100 [1.100–1.100]; +900 ns |",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
}
