// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kernelevents/kernelevents/internal/probe"
)

// rankCell is one hook's × baseline on one row of the ranking.
type rankCell struct {
	hook  probe.Hook
	ratio dist
	delta dist // ns/op over the baseline (node rows only)
	ok    bool
}

// rankRow is one workload of the ranking, with a cell per hook.
type rankRow struct {
	name  string
	cells []rankCell // in probe.Hooks order, fanotify last
	tax   bool       // print Δ ns too (the per-syscall tax)
}

// rankRows gathers, for every hook that attached, its × baseline on the
// whole-node rows and on the creation rows (batched wakeups, `make run`'s
// filter for the node rows, the run directory for the creation rows).
func (r *report) rankRows() []rankRow {
	var rows []rankRow
	hooks := r.hooks.available
	if n := r.node; n != nil {
		for j, wl := range n.workloads {
			row := rankRow{name: wl.name, tax: wl.key == opGetpid}
			for _, h := range hooks {
				c := n.cell(n.config(kindBatched, h), j)
				row.cells = append(row.cells, rankCell{hook: h, ratio: c.ratio, delta: c.delta, ok: c.ok})
			}
			c := n.cell(n.config(kindFanotify, ""), j)
			row.cells = append(row.cells, rankCell{hook: "fanotify", ratio: c.ratio, delta: c.delta, ok: c.ok})
			rows = append(rows, row)
		}
	}
	for _, fr := range r.perFS {
		row := rankRow{name: fmt.Sprintf("creation (%d new files per run, openat O_CREAT+close) on %s", r.params.files, fr.fs.name)}
		for _, h := range hooks {
			s, ok := find(fr, kindBatched, h)
			row.cells = append(row.cells, rankCell{hook: h, ratio: s.ratio, ok: ok})
		}
		s, ok := find(fr, kindFanotify, "")
		row.cells = append(row.cells, rankCell{hook: "fanotify", ratio: s.ratio, ok: ok})
		rows = append(rows, row)
	}
	return rows
}

// order ranks the probe hooks of a row by median × baseline, cheapest
// first: "<" where the two interquartile ranges are apart, "≈" where they
// overlap (the run cannot tell the two apart).
func (row rankRow) order() string {
	var cs []rankCell
	for _, c := range row.cells {
		if c.ok && c.hook != "fanotify" {
			cs = append(cs, c)
		}
	}
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].ratio.median < cs[b].ratio.median })
	var sb strings.Builder
	for i, c := range cs {
		if i > 0 {
			sep := " < "
			if cs[i-1].ratio.q3 >= c.ratio.q1 {
				sep = " ≈ "
			}
			sb.WriteString(sep)
		}
		sb.WriteString(string(c.hook))
	}
	return sb.String()
}

// writeRanking prints the hooks side by side, where more than one attached
// (the Debian 6.1 VM of make bench-vm): issue 17's ranking.
func (r *report) writeRanking(w io.Writer) {
	if len(r.hooks.available) < 2 {
		return
	}
	rows := r.rankRows()
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "## Hooks ranked\n\n")
	fmt.Fprintf(w, "Every hook that attached here, side by side: × baseline, the median of per-round ratios [IQR], "+
		"batched wakeups (the tables above give the runs). getpid also gives the per-syscall tax in ns. The last column "+
		"orders the probe's hooks, cheapest first: `<` where their interquartile ranges are apart, `≈` where they overlap. "+
		"In a TCG VM compare these ratios only, not the ns.\n\n")
	fmt.Fprintf(w, "| row |")
	for _, c := range rows[0].cells {
		fmt.Fprintf(w, " %s |", c.hook)
	}
	fmt.Fprintf(w, " cheapest first |\n|---|")
	for range rows[0].cells {
		fmt.Fprintf(w, "---:|")
	}
	fmt.Fprintf(w, "---|\n")
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |", row.name)
		for _, c := range row.cells {
			switch {
			case !c.ok:
				fmt.Fprintf(w, " – |")
			case row.tax:
				fmt.Fprintf(w, " %.3f [%.3f–%.3f], %+.0f ns |", c.ratio.median, c.ratio.q1, c.ratio.q3, c.delta.median)
			default:
				fmt.Fprintf(w, " %.3f [%.3f–%.3f] |", c.ratio.median, c.ratio.q1, c.ratio.q3)
			}
		}
		fmt.Fprintf(w, " %s |\n", row.order())
	}
	fmt.Fprintf(w, "\n")
}
