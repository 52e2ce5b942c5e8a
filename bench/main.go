// SPDX-License-Identifier: Apache-2.0

//go:build linux

// Command bench measures what the kernel_events receiver costs the programs
// that create files, next to Linux audit and fanotify, and checks the
// project's performance targets (issue 6). Run it as root from the module
// root:
//
//	go run ./bench [-files N] [-reps R] [-quick] [-audit] [-phases LIST] [-o bench/RESULTS.md]
//
// See bench/README.md for the method and how to read the output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// params are the knobs of one run; -quick swaps in smaller ones.
type params struct {
	files      int // files per measured run
	reps       int // rounds of alternation
	rateFiles  int // files per creator in the max-rate test
	rateReps   int // repetitions of each max-rate case
	rssDirs    int // distinct directories for the series-cap RSS test
	maxSeries  int // the collector's max_series in the RSS test
	benchCount int // go test -count for the micro-benchmarks
	benchTime  string
	audit      bool // run the audit phase (opt-in: see auditWarning)
	ext4       bool // run on ext4 too
	quick      bool
	phases     map[string]bool // which phases run (allPhases by default)
	nodeScale  float64         // multiplies the node workloads' sizes
	nodeReps   int             // rounds of the node rows (0: reps)
	nodePin    bool            // pin the node workloads and this process to separate CPUs
	nodeAA     bool            // run the baseline twice per node round (the A/A row)
	createAA   bool            // run the baseline twice per creation round (the A/A row)
	waitClean  time.Duration   // before each round, wait this long for other tracing programs to go
}

func defaultParams(quick bool) params {
	p := params{files: 50000, reps: 11, rateFiles: 300000, rateReps: 3, rssDirs: 12000,
		maxSeries: 10000, benchCount: 5, benchTime: "1s", ext4: true, phases: map[string]bool{}, nodeScale: 1,
		nodePin: true}
	for _, ph := range allPhases {
		p.phases[ph] = true
	}
	if quick {
		p.files, p.reps, p.rateFiles, p.rateReps, p.benchCount, p.benchTime = 5000, 3, 100000, 1, 1, "100ms"
		p.quick = true
	}
	return p
}

func main() {
	// The generator child is this binary re-executed; see generator.go.
	if len(os.Args) > 1 && os.Args[1] == genArg {
		if err := generatorMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "generator:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Phases, in the order they run.
const (
	phaseCreate = "create" // cost per created file, each filesystem
	phaseNode   = "node"   // the whole node's cost (node.go)
	phaseRate   = "rate"   // maximum rate without loss
	phaseRSS    = "rss"    // collector memory at the series cap
	phaseMicro  = "micro"  // user-space micro-benchmarks (needs the go tool)
)

var allPhases = []string{phaseCreate, phaseNode, phaseRate, phaseRSS, phaseMicro}

// auditWarning is printed when the audit phase is asked for, and in the
// report when it is not.
const auditWarning = "enabling audit has a lasting effect: once audit has been enabled in a boot, every process " +
	"forked afterwards (on the whole machine, monitored or not) takes the audit syscall path until reboot, " +
	"even with audit disabled again and no rule (kernel/auditsc.c audit_alloc; getpid 147 → 272 ns measured here)"

func parsePhases(list string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, ph := range strings.Split(list, ",") {
		ph = strings.TrimSpace(ph)
		if ph == "all" {
			for _, a := range allPhases {
				out[a] = true
			}
			continue
		}
		ok := false
		for _, a := range allPhases {
			ok = ok || a == ph
		}
		if !ok {
			return nil, fmt.Errorf("-phases: unknown phase %q (want all or a comma list of %s)", ph, strings.Join(allPhases, ", "))
		}
		out[ph] = true
	}
	return out, nil
}

func parseFlags() (params, string, error) {
	quick := flag.Bool("quick", false, "a ~1 minute smoke run (fewer files and rounds)")
	files := flag.Int("files", 0, "files per measured run (default 50000, 5000 with -quick)")
	reps := flag.Int("reps", 0, "rounds of alternation (default 11, 3 with -quick)")
	audit := flag.Bool("audit", false, "opt in to the audit phase (run last). Warning: "+auditWarning)
	phases := flag.String("phases", "all", "comma list of phases to run: "+strings.Join(allPhases, ", ")+" (the audit phase follows -audit)")
	noExt4 := flag.Bool("no-ext4", false, "skip the ext4-on-loop filesystem")
	waitClean := flag.Duration("wait-clean", 0, "before each round, wait up to this long for other processes' tracing BPF programs to go (they slow the baseline too)")
	nodeScale := flag.Float64("node-scale", 1, "multiply the node workloads' sizes (e.g. 0.5 in the slow TCG VM)")
	nodeReps := flag.Int("node-reps", 0, "rounds of the node rows (default: -reps)")
	nodePin := flag.Bool("node-pin", true, "node rows: run the workloads on one CPU and this process (the readers) on the others")
	nodeAA := flag.Bool("node-aa", true, "node rows: run the baseline twice per round and report the A/A row, the noise floor (off with -quick unless given)")
	createAA := flag.Bool("create-aa", true, "creation rows: run the baseline twice per round and report the A/A row, the noise floor (off with -quick unless given)")
	out := flag.String("o", "", "also write the report to this file (e.g. bench/RESULTS.md)")
	flag.Parse()
	p := defaultParams(*quick)
	if *files > 0 {
		p.files = *files
	}
	if *reps > 0 {
		p.reps = *reps
	}
	p.audit, p.ext4, p.waitClean = *audit, !*noExt4, *waitClean
	if *nodeScale <= 0 {
		return p, "", fmt.Errorf("-node-scale %v: want a positive factor", *nodeScale)
	}
	p.nodeScale = *nodeScale
	if *nodeReps < 0 {
		return p, "", fmt.Errorf("-node-reps %d: want a positive number of rounds", *nodeReps)
	}
	p.nodeReps, p.nodePin = *nodeReps, *nodePin
	p.nodeAA = *nodeAA && !*quick
	p.createAA = *createAA && !*quick
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "node-aa":
			p.nodeAA = *nodeAA
		case "create-aa":
			p.createAA = *createAA
		}
	})
	ph, err := parsePhases(*phases)
	if err != nil {
		return p, "", err
	}
	p.phases = ph
	return p, *out, nil
}

func run() error {
	p, outPath, err := parseFlags()
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("run as root: the bench loads BPF programs, mounts filesystems and sets audit rules")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var cl cleanups
	defer cl.run()
	rep, err := measure(ctx, p, &cl)
	if rep == nil {
		return err
	}
	// A failed phase still leaves the earlier ones worth printing.
	rep.err = err
	var w io.Writer = os.Stdout
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return fmt.Errorf("create %s: %w", outPath, err)
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	return errors.Join(rep.write(w), err)
}

// measure runs every phase and gathers the report. The order matters: the
// audit phase comes after everything that creates files because enabling
// audit slows every process forked afterwards (see audit.go); the
// micro-benchmarks come last because they do not care and compiling them
// would disturb the rest.
func measure(ctx context.Context, p params, cl *cleanups) (*report, error) {
	start := time.Now()
	rep := &report{params: p, machine: describeMachine()}
	if err := ensureTracefs(); err != nil {
		rep.notes = append(rep.notes, err.Error())
	}
	rep.auditState = auditStateNow(ctx)
	rep.notes = append(rep.notes, rep.auditState.notes()...)
	if p.audit {
		logf("warning: -audit: the audit phase will enable audit: %s", auditWarning)
	}
	rep.tracers = newForeignTracers()
	rep.hooks = detectHooks()
	if len(rep.hooks.available) == 0 {
		rep.notes = append(rep.notes, "no probe hook attaches here: the probe configurations are skipped")
	}

	base, err := os.MkdirTemp("", "kebench-")
	if err != nil {
		return nil, fmt.Errorf("make temp dir: %w", err)
	}
	cl.add("remove "+base, func() error { return os.RemoveAll(base) })
	fss, err := mountFilesystems(ctx, base, p.ext4, cl)
	if err != nil {
		return nil, err
	}
	defer func() { rep.elapsed, rep.machine.loadEnd = time.Since(start), loadAvg() }()

	if p.phases[phaseCreate] {
		for _, fs := range fss {
			logf("== %s: probe and fanotify rounds (%d files x %d rounds)", fs.name, p.files, p.reps)
			res, err := runRounds(ctx, fs, mainConfigs(rep.hooks, p.createAA), p, rep.tracers)
			if err != nil {
				return rep, fmt.Errorf("%s rounds: %w", fs.name, err)
			}
			rep.perFS = append(rep.perFS, res)
		}
	}
	var nodeWs []*nodeWorkload
	if p.phases[phaseNode] {
		nodeRounds := p.reps
		if p.nodeReps > 0 {
			nodeRounds = p.nodeReps
		}
		logf("== whole node: non-creations, getpid and tar -xf under each monitor (%d rounds)", nodeRounds)
		if nodeWs, err = setupNodeWorkloads(fss, p); err != nil {
			return rep, fmt.Errorf("node workloads: %w", err)
		}
		prefixes, note := nodePrefixes(base)
		if note != "" {
			rep.notes = append(rep.notes, note)
		}
		rep.node, err = runNodeRounds(ctx, nodeWs, nodeConfigs(rep.hooks, fss, prefixes, p.nodeAA), p, rep.tracers)
		if err != nil {
			return rep, fmt.Errorf("node rounds: %w", err)
		}
		rep.node.prefixes = prefixes
		rep.tarVersion = tarVersion(ctx)
	}
	if p.phases[phaseRate] {
		logf("== max rate without loss")
		rep.rate, rep.rateErr = maxRate(ctx, fss[0], rep.hooks, p)
	}
	if p.phases[phaseRSS] {
		logf("== collector RSS at the series cap")
		rep.rss = measureRSS(ctx, fss[0], p)
	}
	switch {
	case p.audit:
		auditPhase(ctx, p, fss, base, nodeWs, rep)
	default:
		rep.audit.why = "not run: opt in with `make bench AUDIT=1` (`go run ./bench -audit`). Warning: " + auditWarning
	}
	if !p.phases[phaseMicro] {
		rep.micro.err = "not run (-phases)"
		rep.tracers.check()
		return rep, ctx.Err()
	}
	logf("== user-space micro-benchmarks")
	rep.micro = runMicroBenchmarks(ctx, p)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("interrupted: %w", err)
	}
	rep.tracers.check()
	return rep, nil
}

// waitClean waits for other processes' tracing programs to go, since they
// slow the baseline down too.
func waitClean(ctx context.Context, tr *foreignTracers, d time.Duration) {
	if d <= 0 || tr.check() == 0 {
		return
	}
	logf("waiting up to %s for other processes' tracing BPF programs to go", d)
	// Scanning /proc is not free: poll once a second.
	for deadline := time.Now().Add(d); time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(time.Second)
		if tr.check() == 0 {
			return
		}
	}
}

// logf reports progress on stderr, apart from the report on stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// cleanups undo what the bench set up (mounts, loop devices, audit rules),
// last first, even when a phase fails or the run is interrupted.
type cleanups struct {
	steps []cleanupStep
}

type cleanupStep struct {
	what string
	fn   func() error
}

func (c *cleanups) add(what string, fn func() error) {
	c.steps = append(c.steps, cleanupStep{what, fn})
}

func (c *cleanups) run() {
	for i := len(c.steps) - 1; i >= 0; i-- {
		if err := c.steps[i].fn(); err != nil {
			logf("cleanup: %s: %v", c.steps[i].what, err)
		}
	}
	c.steps = nil
}

// ensureTracefs mounts tracefs when it is missing: the tracepoint hook needs it.
func ensureTracefs() error {
	const dir = "/sys/kernel/tracing"
	if _, err := os.Stat(dir + "/events"); err == nil {
		return nil
	}
	if err := syscall.Mount("tracefs", dir, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("mount tracefs at %s: %w", dir, err)
	}
	return nil
}

// oneLine shortens multi-line command output for the report.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
