// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/kernelevents/kernelevents/internal/probe"
)

// Targets of issue 17 (the whole node's cost).
const (
	targetReadOpenTracepoint = 1.03 // read-only open+close, × baseline, tracepoint hook
	targetReadOpenKprobe     = 1.01 // the same with fexit or kretprobe
	targetNoTax              = 1.01 // getpid with fexit/kretprobe: "zero", within 1 %
	targetCreation           = 1.10 // tar -xf, batched wakeups, tmpfs and ext4
)

// cellSummary is one workload under one configuration.
type cellSummary struct {
	ns, ratio, delta, cpu dist
	cpuRatio, cpuDelta    dist // per-round, of the workload's CPU time
	ok                    bool
}

func (n *nodeResult) cell(i, j int) cellSummary {
	if n == nil || i < 0 || i >= len(n.cells) || j < 0 || j >= len(n.workloads) {
		return cellSummary{}
	}
	c := n.cells[i][j]
	var ns, cpu []float64
	for _, s := range c.samples {
		ns, cpu = append(ns, s.nsPerOp), append(cpu, s.cpuPerOp)
	}
	return cellSummary{ns: distOf(ns), ratio: distOf(c.ratios), delta: distOf(c.deltas), cpu: distOf(cpu),
		cpuRatio: distOf(c.cpuRatios), cpuDelta: distOf(c.cpuDeltas), ok: len(ns) > 0}
}

// config returns the index of the first configuration of kind (and hook).
func (n *nodeResult) config(kind string, hook probe.Hook) int {
	if n == nil {
		return -1
	}
	for i, cr := range n.configs {
		if cr.cfg.kind == kind && (hook == "" || cr.cfg.hook == hook) {
			return i
		}
	}
	return -1
}

// workload returns the index of the first workload with key (on fs, when set).
func (n *nodeResult) workload(key, fs string) int {
	if n == nil {
		return -1
	}
	for j, w := range n.workloads {
		if w.key == key && (fs == "" || w.fs.name == fs) {
			return j
		}
	}
	return -1
}

// kprobeClass: the hooks on do_filp_open, which issue 17 holds to the
// stricter targets (no per-syscall tax at all); every other hook is a
// syscall-tracepoint hook, judged against the kernel's floor.
func kprobeClass(h probe.Hook) bool { return h == probe.HookKretprobe || h == probe.HookFexit }

func pct(ratio float64) string { return fmt.Sprintf("%+.1f %%", (ratio-1)*100) }

func (r *report) writeNode(w io.Writer) {
	n := r.node
	if n == nil {
		return
	}
	fmt.Fprintf(w, "## The whole node: what is not a creation, and a real workload\n\n")
	fmt.Fprintf(w, "Issue 17. Each workload runs in its own child process, timed around its loop only (tar: its whole life, fork to exit). "+
		"%d rounds; in each round, for each workload, every configuration's monitor is started, the workload runs once under it "+
		"and the monitor stops (so compared runs are seconds apart), after one discarded warm-up round at a tenth of the size. \"× baseline\" is the median of per-round ratios to the same "+
		"round's baseline; \"Δ ns/op\" the median of per-round differences. The probe filters paths as `make run` does (%s); "+
		"the bench's files are under it, so tar's creations are delivered and counted.\n\n",
		n.rounds, "`"+strings.Join(n.prefixes, "`, `")+"`")
	r.writePrecision(w)
	for _, wl := range n.workloads {
		switch wl.key {
		case opTar:
			fmt.Fprintf(w, "- %s: %d files in %d directories, %.1f MiB, uncompressed (%s), extracted into a fresh directory; per file.\n",
				wl.name, wl.tarball.files, wl.tarball.dirs, float64(wl.tarball.bytes)/(1<<20), r.tarVersion)
		default:
			fmt.Fprintf(w, "- %s: %d per run, raw syscalls from Go (no libc caching), per %s; timed in %d equal parts, the run's figure is its median part.\n",
				wl.name, wl.ops, wl.unit, nodeChunks)
		}
	}
	fmt.Fprintf(w, "\n")
	for j, wl := range n.workloads {
		fmt.Fprintf(w, "### %s\n\n", wl.name)
		fmt.Fprintf(w, "| configuration | ns/%s (median) | IQR | × baseline [IQR] | Δ ns/%s [IQR] | creator CPU ns/%s | verdict |\n", wl.unit, wl.unit, wl.unit)
		fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---|\n")
		for i, cr := range n.configs {
			c := n.cell(i, j)
			ratio, delta := "1", "0"
			if i > 0 {
				ratio = fmt.Sprintf("%.3f [%.3f–%.3f]", c.ratio.median, c.ratio.q1, c.ratio.q3)
				delta = fmt.Sprintf("%+.0f [%+.0f–%+.0f]", c.delta.median, c.delta.q1, c.delta.q3)
			}
			fmt.Fprintf(w, "| %s | %.0f | %.0f–%.0f | %s | %s | %.0f | %s |\n", cr.cfg.name, c.ns.median, c.ns.q1, c.ns.q3,
				ratio, delta, c.cpu.median, r.nodeVerdict(i, j))
		}
		if a := r.audit.node; a != nil {
			for i, cr := range a.configs {
				c := a.cell(i, j)
				ratio := fmt.Sprintf("%.3f (to the main baseline, medians)", c.ns.median/n.cell(0, j).ns.median)
				delta := "–"
				if i > 0 {
					ratio = fmt.Sprintf("%.3f [%.3f–%.3f] to its own baseline; %.3f to the main one (medians)", c.ratio.median,
						c.ratio.q1, c.ratio.q3, c.ns.median/n.cell(0, j).ns.median)
					delta = fmt.Sprintf("%+.0f [%+.0f–%+.0f]", c.delta.median, c.delta.q1, c.delta.q3)
				}
				fmt.Fprintf(w, "| audit phase: %s | %.0f | %.0f–%.0f | %s | %s | %.0f | %s |\n", cr.cfg.name, c.ns.median, c.ns.q1, c.ns.q3,
					ratio, delta, c.cpu.median, r.auditNodeVerdict(i, j))
			}
		}
		fmt.Fprintf(w, "\n")
	}
	r.writeTax(w)
	if n.foreignRounds > 0 {
		fmt.Fprintf(w, "Rounds with other tracing BPF programs loaded at their start or end: %d of %d.\n\n", n.foreignRounds, n.rounds)
	}
	var recv []string
	for i, cr := range n.configs {
		if cr.cfg.kind == kindBatched {
			recv = append(recv, fmt.Sprintf("%s: %s", cr.cfg.hook, fmtCounts(n.received[i])))
		}
	}
	if len(recv) > 0 {
		fmt.Fprintf(w, "Samples the probe delivered per round (every creation under its filter on the machine, the tarballs' files included): %s.\n\n",
			strings.Join(recv, "; "))
	}
	switch {
	case r.audit.node != nil:
	case r.audit.why != "":
		fmt.Fprintf(w, "Audit rows: %s\n\n", r.audit.why)
	}
}

func fmtCounts(xs []uint64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ", ")
}

// writeTax separates the per-syscall tax from the per-open cost.
func (r *report) writeTax(w io.Writer) {
	n := r.node
	jg, ja, jb := n.workload(opGetpid, ""), n.workload(opReadOpen, ""), n.workload(opCreatReopen, "")
	if jg < 0 || ja < 0 || jb < 0 {
		return
	}
	fmt.Fprintf(w, "### Per-syscall tax and per-open cost\n\n")
	fmt.Fprintf(w, "The tax is what every syscall of every process pays (getpid's Δ); an open+close is two syscalls, so the open's own "+
		"cost is its Δ minus twice the tax. Medians of per-round differences.\n\n")
	fmt.Fprintf(w, "| configuration | tax per syscall | read-only open+close Δ | of which the open itself (Δ − 2 × tax) | O_CREAT re-open+close Δ | of which the open itself |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|\n")
	base := n.cell(0, jg).ns.median
	for i, cr := range n.configs {
		if i == 0 || cr.cfg.kind == kindFanotify {
			continue
		}
		g, a, b := n.cell(i, jg), n.cell(i, ja), n.cell(i, jb)
		tax := g.delta.median
		fmt.Fprintf(w, "| %s | %+.0f ns (%s of %.0f ns) | %+.0f ns | %+.0f ns | %+.0f ns | %+.0f ns |\n", cr.cfg.name, tax,
			pct(g.ratio.median), base, a.delta.median, a.delta.median-2*tax, b.delta.median, b.delta.median-2*tax)
	}
	fmt.Fprintf(w, "\n")
}

// nodeVerdict is the verdict column of configuration i on workload j.
func (r *report) nodeVerdict(i, j int) string {
	n := r.node
	cfg, wl, c := n.configs[i].cfg, n.workloads[j], n.cell(i, j)
	switch cfg.kind {
	case kindBaseline:
		return "–"
	case kindBaseAA:
		return fmt.Sprintf("noise floor: two unmonitored runs differ by %s [%s–%s]", pct(c.ratio.median), pct(c.ratio.q1), pct(c.ratio.q3))
	case kindFloorOpen:
		if wl.key == opReadOpen || wl.key == opCreatReopen {
			return fmt.Sprintf("the kernel's floor for a %s hook on every open: %s (%+.0f ns), before any work", cfg.hook, pct(c.ratio.median), c.delta.median)
		}
		return "–"
	case kindFloor, kindFloorRaw:
		if wl.key == opGetpid {
			return fmt.Sprintf("the kernel's floor for this hook type: %+.0f ns per syscall", c.delta.median)
		}
		return "–"
	case kindBatched:
		return r.probeVerdict(cfg.hook, wl, c)
	case kindFanotify:
		return r.versusProbe("fanotify", c, j)
	}
	return "–"
}

func (r *report) probeVerdict(hook probe.Hook, wl *nodeWorkload, c cellSummary) string {
	n := r.node
	switch wl.key {
	case opReadOpen:
		t := targetReadOpenKprobe
		if !kprobeClass(hook) {
			t = targetReadOpenTracepoint
		}
		v := fmt.Sprintf("%s: %s, target ≤ %s", verdict(c.ratio.median <= t), pct(c.ratio.median), pct(t))
		if fl := n.cell(n.config(kindFloorOpen, hook), n.workload(opReadOpen, "")); fl.ok {
			v += fmt.Sprintf("; an empty %s program on do_filp_open alone: %s", hook, pct(fl.ratio.median))
		}
		return v
	case opCreatReopen:
		a := n.cell(n.config(kindBatched, hook), n.workload(opReadOpen, ""))
		return fmt.Sprintf("%s (no path work: × no higher than the read-only open's upper quartile, %.3f)", verdict(c.ratio.median <= a.ratio.q3), a.ratio.q3)
	case opGetpid:
		if kprobeClass(hook) {
			return fmt.Sprintf("%s: tax %+.0f ns (%s), target zero (≤ %s)", verdict(c.ratio.median <= targetNoTax), c.delta.median, pct(c.ratio.median), pct(targetNoTax))
		}
		fl := n.cell(n.config(kindFloor, ""), n.workload(opGetpid, ""))
		if !fl.ok {
			return fmt.Sprintf("tax %+.0f ns (%s); floor not measured", c.delta.median, pct(c.ratio.median))
		}
		return fmt.Sprintf("%s: tax %+.0f ns (%s), target ≤ the floor's %+.0f ns", verdict(c.delta.median <= fl.delta.median),
			c.delta.median, pct(c.ratio.median), fl.delta.median)
	case opPipe:
		// kretprobe and fexit: the programs on d_instantiate run for the
		// pipe's file and stop at their first test (no path walk under
		// way); the tracepoint hook: its sys_exit tax, three syscalls
		return fmt.Sprintf("measured: %+.0f ns (%s) per pipe (3 syscalls, one d_instantiate)", c.delta.median, pct(c.ratio.median))
	case opFchmod:
		if kprobeClass(hook) {
			return fmt.Sprintf("%s: %+.0f ns (%s), target zero (≤ %s)", verdict(c.ratio.median <= targetNoTax), c.delta.median, pct(c.ratio.median), pct(targetNoTax))
		}
		// the tracepoint hook: its sys_exit tax plus its copy-up programs
		// on the kernel's timestamp tracepoints (bpf/copyup.h), which run
		// on every change-time update of the node
		fl := n.cell(n.config(kindFloorRaw, ""), n.workload(opFchmod, ""))
		if !fl.ok {
			return fmt.Sprintf("measured: %+.0f ns (%s) per change-time update; floor not measured", c.delta.median, pct(c.ratio.median))
		}
		return fmt.Sprintf("measured: %+.0f ns (%s) per change-time update, %+.0f ns above the raw sys_exit floor's %+.0f ns (the timestamp programs and the hook's own sys_exit)",
			c.delta.median, pct(c.ratio.median), c.delta.median-fl.delta.median, fl.delta.median)
	case opTar:
		v := fmt.Sprintf("%s: %s, target ≤ %s", verdict(c.ratio.median <= targetCreation), pct(c.ratio.median), pct(targetCreation))
		if f := n.cell(n.config(kindFanotify, ""), n.workload(opTar, wl.fs.name)); f.ok && f.ratio.median < c.ratio.median {
			v += fmt.Sprintf("; **fanotify is ahead** (%s)", pct(f.ratio.median))
		}
		return v
	}
	return "–"
}

// versusProbe compares a competitor's cell with the auto hook's on the same
// workload and says plainly who is ahead.
func (r *report) versusProbe(who string, c cellSummary, j int) string {
	n := r.node
	p := n.cell(n.config(kindBatched, r.hooks.auto), j)
	if !p.ok {
		return "no probe row to compare"
	}
	if c.ratio.median < p.ratio.median {
		return fmt.Sprintf("**%s ahead of the probe (%s)**: %s vs %s", who, r.hooks.auto, pct(c.ratio.median), pct(p.ratio.median))
	}
	return fmt.Sprintf("probe (%s) ahead: %s vs %s", r.hooks.auto, pct(p.ratio.median), pct(c.ratio.median))
}

func (r *report) auditNodeVerdict(i, j int) string {
	a := r.audit.node
	if a.configs[i].cfg.kind == kindBaseline {
		return "audit's lasting tax on every process (× to the main baseline)"
	}
	c := a.cell(i, j)
	return r.versusProbe("audit (to its own baseline)", c, j)
}

// nodeTargets are issue 17's lines of the targets table.
func (r *report) nodeTargets() []target {
	n := r.node
	if n == nil {
		return nil
	}
	var out []target
	ja, jg := n.workload(opReadOpen, ""), n.workload(opGetpid, "")
	for _, cr := range n.configs {
		if cr.cfg.kind != kindBatched {
			continue
		}
		hook := cr.cfg.hook
		i := n.config(kindBatched, hook)
		a, g := n.cell(i, ja), n.cell(i, jg)
		t := targetReadOpenKprobe
		if !kprobeClass(hook) {
			t = targetReadOpenTracepoint
		}
		out = append(out, target{what: fmt.Sprintf("read-only open+close with the %s hook ≤ %s over baseline", hook, pct(t)),
			measured: fmt.Sprintf("%s (× %.3f, IQR %.3f–%.3f)", pct(a.ratio.median), a.ratio.median, a.ratio.q1, a.ratio.q3),
			verdict:  verdict(a.ratio.median <= t)})
		if !kprobeClass(hook) {
			fl := n.cell(n.config(kindFloor, ""), jg)
			out = append(out, target{what: "unrelated syscall (getpid): the " + string(hook) + " hook's tax no higher than one empty syscall tracepoint's (the kernel's floor)",
				measured: fmt.Sprintf("%+.0f ns (%s) vs the floor's %+.0f ns (%s)", g.delta.median, pct(g.ratio.median), fl.delta.median, pct(fl.ratio.median)),
				verdict:  verdict(fl.ok && g.delta.median <= fl.delta.median)})
		} else {
			out = append(out, target{what: fmt.Sprintf("unrelated syscall (getpid): no tax with the %s hook (≤ %s)", hook, pct(targetNoTax)),
				measured: fmt.Sprintf("%+.0f ns (%s)", g.delta.median, pct(g.ratio.median)), verdict: verdict(g.ratio.median <= targetNoTax)})
		}
		for j, wl := range n.workloads {
			if wl.key != opTar {
				continue
			}
			c := n.cell(i, j)
			out = append(out, target{what: fmt.Sprintf("tar -xf on %s with the %s hook (batched) ≤ %s", wl.fs.name, hook, pct(targetCreation)),
				measured: fmt.Sprintf("%s (× %.3f, IQR %.3f–%.3f)", pct(c.ratio.median), c.ratio.median, c.ratio.q1, c.ratio.q3),
				verdict:  verdict(c.ratio.median <= targetCreation)})
		}
	}
	// Where fanotify or audit is ahead of the probe, say so.
	var ahead []string
	checked := 0
	for j, wl := range n.workloads {
		p := n.cell(n.config(kindBatched, r.hooks.auto), j)
		if !p.ok {
			continue
		}
		if f := n.cell(n.config(kindFanotify, ""), j); f.ok {
			checked++
			if f.ratio.median < p.ratio.median {
				ahead = append(ahead, fmt.Sprintf("fanotify on %s (%s vs %s)", wl.name, pct(f.ratio.median), pct(p.ratio.median)))
			}
		}
		if a := r.audit.node; a != nil {
			if c := a.cell(a.config(kindAudit, ""), j); c.ok {
				checked++
				if c.ratio.median < p.ratio.median {
					ahead = append(ahead, fmt.Sprintf("audit on %s (%s to its own baseline vs %s)", wl.name, pct(c.ratio.median), pct(p.ratio.median)))
				}
			}
		}
	}
	if checked > 0 {
		t := target{what: fmt.Sprintf("the probe (%s) ahead of fanotify and audit on every node row", r.hooks.auto), verdict: verdict(len(ahead) == 0)}
		t.measured = fmt.Sprintf("%d comparisons", checked)
		if len(ahead) > 0 {
			t.measured += "; ahead of the probe: " + strings.Join(ahead, "; ")
		}
		if r.audit.node == nil {
			t.measured += "; audit not measured (opt-in)"
		}
		out = append(out, t)
	}
	return out
}

// writePrecision says how the node rows were measured against noise and, from
// the A/A row, how precise they are.
func (r *report) writePrecision(w io.Writer) {
	n := r.node
	if n.pinned != "" {
		fmt.Fprintf(w, "CPU placement: %s. Odd rounds run the configurations in reverse order.\n\n", n.pinned)
	} else {
		fmt.Fprintf(w, "CPU placement: not pinned (-node-pin=false). Odd rounds run the configurations in reverse order.\n\n")
	}
	i := n.config(kindBaseAA, "")
	if i < 0 {
		fmt.Fprintf(w, "Precision: no A/A row (off with -quick; -node-aa): the rows' IQRs are the only measure of their noise.\n\n")
		r.writeCPUView(w)
		return
	}
	fmt.Fprintf(w, "**Precision.** The A/A row runs the baseline a second time in every round, as if it were a monitor: its ratio "+
		"to the baseline is what the noise alone makes of two identical runs. A row's × baseline is distinguishable from "+
		"1 only where it lies outside the A/A row's spread; a target closer to 1 than that spread cannot be judged on this machine at this load.\n\n")
	fmt.Fprintf(w, "| workload | A/A × baseline, median [IQR] | A/A min–max | A/A Δ ns/op, median [IQR] | A/A × baseline by CPU time, median [IQR] | by CPU time min–max |\n|---|---:|---:|---:|---:|---:|\n")
	for j, wl := range n.workloads {
		c := n.cell(i, j)
		fmt.Fprintf(w, "| %s | %.3f [%.3f–%.3f] | %.3f–%.3f | %+.0f [%+.0f–%+.0f] | %.3f [%.3f–%.3f] | %.3f–%.3f |\n", wl.name,
			c.ratio.median, c.ratio.q1, c.ratio.q3, c.ratio.min, c.ratio.max, c.delta.median, c.delta.q1, c.delta.q3,
			c.cpuRatio.median, c.cpuRatio.q1, c.cpuRatio.q3, c.cpuRatio.min, c.cpuRatio.max)
	}
	fmt.Fprintf(w, "\n")
	r.writeCPUView(w)
}

// writeCPUView: every configuration's per-round ratio of the workload's own
// CPU time (the loops: the median part's thread CPU time; tar: its user+sys).
// BPF programs run in the workload's thread and count there; the time other
// tasks of a busy machine take from it does not.
func (r *report) writeCPUView(w io.Writer) {
	n := r.node
	fmt.Fprintf(w, "The same comparison by the workload's own CPU time (the loops: the median part's thread CPU time, "+
		"CLOCK_THREAD_CPUTIME_ID; tar: its user+sys), where the BPF programs count and the other tasks of a busy machine do not "+
		"(the readers' and kernel threads' work is not in it either: the wall-time tables hold that). × baseline, median of "+
		"per-round ratios [IQR]; Δ ns/op, median of per-round differences.\n\n")
	fmt.Fprintf(w, "| configuration |")
	for _, wl := range n.workloads {
		fmt.Fprintf(w, " %s |", wl.name)
	}
	fmt.Fprintf(w, "\n|---|")
	for range n.workloads {
		fmt.Fprintf(w, "---:|")
	}
	fmt.Fprintf(w, "\n")
	for i, cr := range n.configs {
		if i == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s |", cr.cfg.name)
		for j := range n.workloads {
			c := n.cell(i, j)
			fmt.Fprintf(w, " %.3f [%.3f–%.3f]; %+.0f ns |", c.cpuRatio.median, c.cpuRatio.q1, c.cpuRatio.q3, c.cpuDelta.median)
		}
		fmt.Fprintf(w, "\n")
	}
	fmt.Fprintf(w, "\n")
}
