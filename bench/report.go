// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/kernelevents/kernelevents/internal/probe"
)

// Targets of issue 6.
const (
	targetOverhead = 1.10      // batched-wakeup probe, × baseline on tmpfs
	targetPathNs   = 1000.0    // user-space ns per sample
	targetRSS      = 150 << 20 // collector bytes at the series cap
)

type report struct {
	params  params
	machine machine
	notes   []string
	tracers *foreignTracers
	hooks   hookInfo
	perFS   []*fsResult
	node    *nodeResult
	audit   auditReport

	auditState auditState
	tarVersion string
	rate       []*rateCase
	rateErr    error
	rss        rssResult
	micro      microResult
	elapsed    time.Duration
	err        error // a phase that failed: what follows it is missing
}

type auditReport struct {
	setup string
	why   string // why there are no audit numbers
	perFS []*fsResult
	node  *nodeResult // the node workloads under audit
}

func (r *report) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	r.writeHeader(bw)
	if r.err != nil {
		fmt.Fprintf(bw, "**The run stopped early: %v.** What follows is what was measured before.\n\n", r.err)
	}
	if r.params.phases[phaseCreate] {
		r.writePerFile(bw)
	}
	r.writeNode(bw)
	r.writeRanking(bw)
	if r.params.phases[phaseRate] {
		r.writeRate(bw)
	}
	if r.params.phases[phaseMicro] {
		r.writeMicro(bw)
	}
	if r.params.phases[phaseRSS] {
		r.writeRSS(bw)
	}
	r.writeTargets(bw)
	return bw.Flush()
}

func (r *report) writeHeader(w io.Writer) {
	m := r.machine
	mode := "full run"
	if r.params.quick {
		mode = "quick run (-quick): few files and rounds, a smoke test, not a measurement"
	}
	fmt.Fprintf(w, "# kernelevents benchmark\n\n")
	fmt.Fprintf(w, "`go run ./bench %s` — %s, %s, took %s.\n\n", strings.Join(os.Args[1:], " "), mode, m.date, r.elapsed.Round(time.Second))
	fmt.Fprintf(w, "## Machine\n\n")
	fmt.Fprintf(w, "- Kernel: %s\n- CPU: %s, %d cores; memory %s\n- Go: %s\n", m.kernel, m.cpu, m.cores, m.memory, m.goVersion)
	fmt.Fprintf(w, "- Load average (1/5/15 min) at start: %s; at end: %s (the machine is shared: load from others is noise)\n", m.loadStart, m.loadEnd)
	fmt.Fprintf(w, "- Probe hooks: %s\n", r.hooksLine())
	fmt.Fprintf(w, "- Audit syscall path (current->audit_context of the bench process, read by a test-run BPF program): %s\n", r.auditState.line())
	if f := r.tracers.summary(); f != "" {
		fmt.Fprintf(w, "- **Other tracing BPF programs were loaded during the run** (%s). They run on the same syscalls, so every "+
			"configuration, the baseline included, paid for them: the baseline is not \"no monitoring\" and the ratios understate "+
			"the probe's overhead on a quiet machine. See the rounds affected under each table.\n", f)
	} else {
		fmt.Fprintf(w, "- Other tracing BPF programs: none seen before any round\n")
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "- Note: %s\n", n)
	}
	fmt.Fprintf(w, "\n")
}

func (r *report) hooksLine() string {
	var parts []string
	for _, h := range probe.Hooks {
		if why, ok := r.hooks.missing[h]; ok {
			parts = append(parts, fmt.Sprintf("%s unavailable (%s)", h, why))
		} else {
			parts = append(parts, fmt.Sprintf("**%s available**", h))
		}
	}
	if r.hooks.auto != "" {
		parts = append(parts, fmt.Sprintf("auto picks %s", r.hooks.auto))
	}
	return strings.Join(parts, "; ")
}

func (r *report) writePerFile(w io.Writer) {
	p := r.params
	fmt.Fprintf(w, "## Cost per created file\n\n")
	fmt.Fprintf(w, "Each run: one creator process makes %d new files (openat O_CREAT|O_WRONLY, close) in a fresh directory. "+
		"%d rounds, each running every configuration once in table order (A B C … A B C …), after one discarded warm-up round. "+
		"Medians over the rounds; IQR is the 25th–75th percentile. "+
		"\"× baseline\" is the median of the per-round ratios to the same round's baseline run. "+
		"Creator CPU is user+sys of the creating thread (BPF programs, fanotify and audit run there); "+
		"consumer CPU is the user-space side (the reader goroutine of this process, or auditd plus kauditd).\n\n", p.files, p.reps)
	for i, fr := range r.perFS {
		fmt.Fprintf(w, "### %s\n\n%s\n\n", fr.fs.name, fr.fs.detail)
		writeTable(w, fr, nil)
		writeForeign(w, fr)
		if i < len(r.audit.perFS) {
			fmt.Fprintf(w, "\nAudit phase on %s (run later, alternating with its own baseline; the first row's × is to the baseline above):\n\n", fr.fs.name)
			writeTable(w, r.audit.perFS[i], fr.configs[0])
			writeForeign(w, r.audit.perFS[i])
		}
		fmt.Fprintf(w, "\n")
	}
	switch {
	case r.audit.why != "":
		fmt.Fprintf(w, "Audit: no numbers: %s\n\n", r.audit.why)
	case r.audit.setup != "":
		fmt.Fprintf(w, "Audit: %s\n\n", r.audit.setup)
	}
}

// writeTable prints one alternation. prevBase, when set, is the baseline the
// first row's ratio is taken against (medians, since the rounds differ).
func writeTable(w io.Writer, fr *fsResult, prevBase *configResult) {
	fmt.Fprintf(w, "| configuration | ns/file (median) | IQR | min–max | × baseline [IQR] | creator CPU ns/file | consumer CPU ns/file | received | lost | received+lost = expected |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	var notes []string
	for i, cr := range fr.configs {
		s := summarize(cr)
		ratio := fmt.Sprintf("%.3f [%.3f–%.3f]", s.ratio.median, s.ratio.q1, s.ratio.q3)
		if i == 0 {
			ratio = "1"
			if prevBase != nil {
				ratio = fmt.Sprintf("%.3f (medians)", s.ns.median/summarize(prevBase).ns.median)
			}
		}
		recv, lost, check := "–", "–", "–"
		if s.known {
			recv, lost = fmt.Sprint(s.received), fmt.Sprint(s.lost)
			check = fmt.Sprintf("%d/%d runs", s.okRuns, s.runs)
			if s.okRuns == s.runs {
				check = "yes, " + check
			} else {
				check = "**NO**, " + check
			}
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f–%.0f | %.0f–%.0f | %s | %.0f | %.0f | %s | %s | %s |\n", cr.cfg.name,
			s.ns.median, s.ns.q1, s.ns.q3, s.ns.min, s.ns.max, ratio, s.cpu.median, s.consumer.median, recv, lost, check)
		for n := range cr.notes {
			notes = append(notes, cr.cfg.name+": "+n)
		}
	}
	sort.Strings(notes)
	for _, n := range notes {
		fmt.Fprintf(w, "\n- %s", n)
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n")
	}
}

func writeForeign(w io.Writer, fr *fsResult) {
	if fr.foreignRounds > 0 {
		fmt.Fprintf(w, "\nRounds with other tracing BPF programs loaded at their start or end: %d of %d.\n", fr.foreignRounds, len(fr.configs[0].samples))
	}
}

func (r *report) writeRate(w io.Writer) {
	fmt.Fprintf(w, "## Maximum rate (default options: 4 MiB ring, batched wakeups)\n\n")
	fmt.Fprintf(w, "Creators make files as fast as they can on tmpfs, each in its own directory; the probe reads everything under the run directory. "+
		"files/s is creations over the span from the first creator's start to the last one's end.\n\n")
	if r.rateErr != nil {
		fmt.Fprintf(w, "Error: %v\n\n", r.rateErr)
	}
	if len(r.rate) == 0 {
		return
	}
	fmt.Fprintf(w, "| hook | creators | files per run | runs | files/s (median) | files/s min–max | received (all runs) | lost (all runs) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, rc := range r.rate {
		var rates []float64
		var recv, lost uint64
		for _, rr := range rc.reps {
			rates = append(rates, rr.createdPerSec(rc.files))
			recv += rr.received
			lost += rr.lost
		}
		d := distOf(rates)
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.0f | %.0f–%.0f | %d | %d |\n", rc.hook, rc.creators, rc.files, len(rc.reps), d.median, d.min, d.max, recv, lost)
	}
	fmt.Fprintf(w, "\n")
}

func (r *report) writeMicro(w io.Writer) {
	m := r.micro
	fmt.Fprintf(w, "## User-space path per sample (micro-benchmarks)\n\n`%s`\n\n", m.cmd)
	if m.err != "" {
		fmt.Fprintf(w, "go test reported a failure: %s\n\n", m.err)
	}
	if len(m.benches) == 0 {
		return
	}
	fmt.Fprintf(w, "| package | benchmark | ns/op (median) | B/op (max) | allocs/op (max) | on the per-sample path |\n|---|---|---:|---:|---:|---|\n")
	for _, b := range m.benches {
		on := ""
		for _, s := range m.steps {
			if s.stat == b {
				on = "yes"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %.1f | %.0f | %.0f | %s |\n", b.pkg, b.name, b.medNs, b.maxB, b.maxAllc, on)
	}
	fmt.Fprintf(w, "\nPer-sample path: ")
	var parts []string
	for _, s := range m.steps {
		if s.stat == nil {
			parts = append(parts, fmt.Sprintf("%s.%s (not present)", s.step.pkg, s.step.bench))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.1f ns", s.step.bench, s.stat.medNs))
	}
	fmt.Fprintf(w, "%s = **%.1f ns, %.0f allocs**.\n\n", strings.Join(parts, " + "), m.sumNs, m.allocs)
}

func (r *report) writeRSS(w io.Writer) {
	s := r.rss
	fmt.Fprintf(w, "## Collector memory at the series cap\n\n")
	if !s.measured {
		fmt.Fprintf(w, "%s\n\n", s.why)
		return
	}
	fmt.Fprintf(w, "`%s` with kernel_events (max_series %d, file_directory_depth 32, collection_interval 1s) and the Prometheus exporter; "+
		"one file created in each of %d distinct directories, then three more collections and scrapes.\n\n", s.bin, s.maxSeries, s.dirs)
	fmt.Fprintf(w, "| idle VmRSS | VmRSS at the cap | VmHWM at the cap | series active | creations in the overflow series | lost |\n|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(w, "| %s | %s | %s | %.0f | %.0f | %.0f |\n\n", mib(s.idleRSS), mib(s.capRSS), mib(s.capHWM), s.series, s.overflowed, s.lost)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// target is one line of the verdict.
type target struct {
	what, measured, verdict string
}

func (r *report) writeTargets(w io.Writer) {
	fmt.Fprintf(w, "## Targets\n\n")
	if r.params.quick {
		fmt.Fprintf(w, "A quick run: the verdicts below only show that every row works, not what the receiver costs.\n\n")
	}
	if r.tracers.summary() != "" {
		fmt.Fprintf(w, "**Other tracing BPF programs were loaded during the run** (see the header): every baseline paid for them, "+
			"so these verdicts are not a valid measurement. Re-run on a machine without them (`-wait-clean`).\n\n")
	}
	fmt.Fprintf(w, "| target | measured | result |\n|---|---|---|\n")
	for _, t := range r.targets() {
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.what, t.measured, t.verdict)
	}
	fmt.Fprintf(w, "\n")
}

func (r *report) targets() []target {
	var out []target
	if r.params.phases[phaseCreate] {
		out = append(out, r.overheadTarget(), r.versusTarget())
	}
	out = append(out, r.nodeTargets()...)
	if r.params.phases[phaseRate] {
		out = append(out, r.rateTarget())
	}
	if r.params.phases[phaseMicro] {
		out = append(out, r.pathTarget())
	}
	if r.params.phases[phaseRSS] {
		out = append(out, r.rssTarget())
	}
	return out
}

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// find returns the summary of the first configuration of kind in fr.
func find(fr *fsResult, kind string, hook probe.Hook) (summary, bool) {
	if fr == nil {
		return summary{}, false
	}
	for _, cr := range fr.configs {
		if cr.cfg.kind == kind && (hook == "" || cr.cfg.hook == hook) {
			return summarize(cr), true
		}
	}
	return summary{}, false
}

func (r *report) tmpfs() (main, audit *fsResult) {
	for i, fr := range r.perFS {
		if fr.fs.name == "tmpfs" {
			main = fr
			if i < len(r.audit.perFS) {
				audit = r.audit.perFS[i]
			}
		}
	}
	return main, audit
}

func (r *report) overheadTarget() target {
	t := target{what: fmt.Sprintf("batched-wakeup probe (%s) overhead ≤ %.0f%% of baseline on tmpfs", r.hooks.auto, (targetOverhead-1)*100)}
	fr, _ := r.tmpfs()
	s, ok := find(fr, kindBatched, r.hooks.auto)
	if !ok {
		t.measured, t.verdict = "no probe measurement", verdict(false)
		return t
	}
	t.measured = fmt.Sprintf("%s (× %.3f, IQR %.3f–%.3f)", pct(s.ratio.median), s.ratio.median, s.ratio.q1, s.ratio.q3)
	if aa, ok := find(fr, kindBaseAA, ""); ok {
		t.measured += fmt.Sprintf("; A/A × %.3f, IQR %.3f–%.3f", aa.ratio.median, aa.ratio.q1, aa.ratio.q3)
	}
	t.verdict = verdict(s.ratio.median <= targetOverhead)
	return t
}

func (r *report) versusTarget() target {
	t := target{what: "batched-wakeup probe cheaper than auditd and fanotify (tmpfs, same run)"}
	fr, afr := r.tmpfs()
	probeS, ok1 := find(fr, kindBatched, r.hooks.auto)
	fan, ok2 := find(fr, kindFanotify, "")
	aud, ok3 := find(afr, kindAudit, "")
	if !ok1 || !ok2 {
		t.measured, t.verdict = "missing probe or fanotify numbers", verdict(false)
		return t
	}
	t.measured = fmt.Sprintf("× %.3f probe vs × %.3f fanotify", probeS.ratio.median, fan.ratio.median)
	ok := probeS.ratio.median < fan.ratio.median
	if !ok3 {
		why := r.audit.why
		if !r.params.audit {
			why = "opt-in, -audit"
		}
		t.measured += "; audit not measured (" + why + ")"
		t.verdict = verdict(ok) + " for fanotify; audit not evaluated"
		return t
	}
	t.measured += fmt.Sprintf(" vs × %.3f audit (to the audit phase's own baseline)", aud.ratio.median)
	t.verdict = verdict(ok && probeS.ratio.median < aud.ratio.median)
	return t
}

func (r *report) rateTarget() target {
	t := target{what: "zero samples lost at the highest rate (default 4 MiB ring, batched)"}
	if len(r.rate) == 0 {
		t.measured, t.verdict = fmt.Sprintf("not measured: %v", r.rateErr), verdict(false)
		return t
	}
	top := r.rate[len(r.rate)-1]
	var lost, recv uint64
	var rates []float64
	for _, rr := range top.reps {
		lost += rr.lost
		recv += rr.received
		rates = append(rates, rr.createdPerSec(top.files))
	}
	t.measured = fmt.Sprintf("%d creators, %.0f files/s: %d lost of %d", top.creators, distOf(rates).median, lost, lost+recv)
	t.verdict = verdict(lost == 0 && recv == uint64(top.files*len(top.reps)))
	return t
}

func (r *report) pathTarget() target {
	m := r.micro
	t := target{what: fmt.Sprintf("user-space path ≤ %.0f ns and 0 allocs per sample", targetPathNs)}
	if len(m.missing) > 0 || len(m.steps) == 0 {
		t.measured, t.verdict = "benchmarks missing: "+strings.Join(m.missing, ", ")+" "+m.err, verdict(false)
		return t
	}
	t.measured = fmt.Sprintf("%.1f ns, %.0f allocs", m.sumNs, m.allocs)
	for _, s := range m.steps {
		if s.stat == nil {
			t.measured += fmt.Sprintf(" (%s.%s not present yet)", s.step.pkg, s.step.bench)
		}
	}
	t.verdict = verdict(m.sumNs <= targetPathNs && m.allocs == 0)
	return t
}

func (r *report) rssTarget() target {
	s := r.rss
	t := target{what: fmt.Sprintf("collector RSS at the series cap (%d) ≤ %s", s.maxSeries, mib(targetRSS))}
	if !s.measured {
		t.measured, t.verdict = s.why, "not measured"
		return t
	}
	t.measured = fmt.Sprintf("VmRSS %s, peak VmHWM %s", mib(s.capRSS), mib(s.capHWM))
	t.verdict = verdict(s.capHWM <= targetRSS)
	return t
}
