// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"

	"github.com/kernelevents/kernelevents/internal/probe"
)

// TestRanking: the ranking table has a column per hook and fanotify, the
// getpid row's tax in ns, and orders the hooks cheapest first, "≈" where
// the interquartile ranges overlap.
func TestRanking(t *testing.T) {
	order := []config{
		{name: "base", kind: kindBaseline},
		{name: "kret", kind: kindBatched, hook: probe.HookKretprobe},
		{name: "fexit", kind: kindBatched, hook: probe.HookFexit},
		{name: "tp", kind: kindBatched, hook: probe.HookTracepoint},
		{name: "fan", kind: kindFanotify},
	}
	rows := map[string][4]float64{
		//      (a)   (b)   (c)  (d)
		"base":  {1000, 1000, 100, 10000},
		"kret":  {1050, 1050, 100, 11000},
		"fexit": {1020, 1020, 100, 10500},
		"tp":    {1100, 1300, 140, 12000},
		"fan":   {1010, 1010, 100, 10500},
	}
	r := &report{params: defaultParams(false), tracers: newForeignTracers(),
		hooks: hookInfo{available: []probe.Hook{probe.HookKretprobe, probe.HookFexit, probe.HookTracepoint}, auto: probe.HookKretprobe}}
	r.node = fakeNode(t, rows, order)
	var sb strings.Builder
	r.writeRanking(&sb)
	out := sb.String()
	for _, w := range []string{
		"| row | kretprobe | fexit | tracepoint | fanotify | cheapest first |",
		"| (a) | 1.050 [1.050–1.050] | 1.020 [1.020–1.020] | 1.100 [1.100–1.100] | 1.010 [1.010–1.010] | fexit < kretprobe < tracepoint |",
		"| (c) | 1.000 [1.000–1.000], +0 ns | 1.000 [1.000–1.000], +0 ns | 1.400 [1.400–1.400], +40 ns | 1.000 [1.000–1.000], +0 ns | kretprobe ≈ fexit < tracepoint |",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("ranking lacks %q:\n%s", w, out)
		}
	}
	// One hook: nothing to rank.
	r.hooks.available = r.hooks.available[2:]
	sb.Reset()
	r.writeRanking(&sb)
	if sb.Len() != 0 {
		t.Errorf("ranking with one hook: %q", sb.String())
	}
}
