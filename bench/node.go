// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

// The whole node's cost (issue 17): what the watchers cost the work that
// creates nothing, next to the creations. Four workloads, each timed in a
// child process, under every monitor, alternated round by round:
//
//	(a) read-only open+close of an existing file
//	(b) O_CREAT re-open+close of the same existing file (creates nothing)
//	(c) getpid, a syscall no watcher looks at: the per-syscall tax
//	(d) tar -xf of a generated source tarball, on tmpfs and on ext4
//	(e) fchmod of an open file: a change-time update per call, what the
//	    tracepoint hook's copy-up programs (the kernel's timestamp
//	    tracepoints, bpf/copyup.h) cost every such update of the node
//	(f) pipe2 and the close of both ends: an anonymous file, which the
//	    kernel names with d_instantiate (alloc_file_pseudo), as it does every
//	    socket, eventfd, epoll and memfd: what the kretprobe and fexit
//	    hooks' programs there (bpf/vfs.h, on_instantiate) cost the node's
//	    work that is not about files
//
// Monitors: nothing (the baseline), the kernel's floor (one empty program on
// one syscall tracepoint, one on the raw sys_exit tracepoint, and, where the
// kretprobe or fexit hook attaches, one empty program on do_filp_open as that
// hook attaches its own), the probe
// on each hook that attaches with `make run`'s path filter, and fanotify.
// Audit comes later, in the opt-in audit phase (audit.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/kernelevents/kernelevents/internal/probe"
	"golang.org/x/sys/unix"
)

// Loops of the node generator child (genSpec.Op).
const (
	opReadOpen    = "ro-open"
	opCreatReopen = "creat-reopen"
	opGetpid      = "getpid"
	opFchmod      = "fchmod"
	opPipe        = "pipe"
	opTar         = "tar" // run by the parent: tar is its own process
)

// Kinds of the node configurations besides those of the creation rounds.
const (
	kindFloor    = "floor"       // empty program on one syscall tracepoint
	kindFloorRaw = "floor-raw"   // empty program on the raw sys_exit tracepoint
	kindBaseAA   = "baseline-aa" // the baseline again: the A/A noise floor
	// kindFloorOpen: an empty program on do_filp_open, attached as the
	// kretprobe or fexit hook attaches its open program (config.hook says
	// which): what any hook on every open pays before doing anything.
	kindFloorOpen = "floor-open"
)

// nodeChunks: each node loop is timed in this many parts and reports the
// median part (see genSpec.Chunks).
const nodeChunks = 10

// makeRunPrefixes is the path filter of `make run`'s configuration
// (testdata/collector-prometheus.yaml; a test keeps the two equal): the
// probe in the node rows filters as a user's collector would.
var makeRunPrefixes = []string{"/tmp/", "/etc/", "/var/", "/home/", "/root/", "/srv/", "/opt/"}

// nodeLoopMain is the generator child for the node loops: prepare, say
// "ready", wait for one byte, run the loop, print the result. Raw syscalls:
// no libc, no Go scheduler hand-off around each call.
func nodeLoopMain(spec genSpec) error {
	var path *byte
	named := spec.Op != opGetpid && spec.Op != opPipe // the loop works on spec.Path
	if named {
		p, err := unix.BytePtrFromString(spec.Path)
		if err != nil {
			return err
		}
		path = p
	}
	fdcwd := unix.AT_FDCWD
	cwd := uintptr(fdcwd)
	flags := uintptr(unix.O_RDONLY | unix.O_CLOEXEC)
	if spec.Op == opCreatReopen {
		flags = unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC
	}
	// One call before the clock starts: the file must exist already (the
	// fchmod loop keeps it open).
	var chmodFd uintptr
	if named {
		fd, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, cwd, uintptr(unsafe.Pointer(path)), flags, 0o644, 0, 0)
		if errno != 0 {
			return fmt.Errorf("open %s: %w", spec.Path, errno)
		}
		if spec.Op == opFchmod {
			chmodFd = fd
			defer unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
		} else {
			unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
		}
	}
	if len(spec.CPUs) > 0 {
		// The caller locked this goroutine to its thread: the loop runs here.
		var set unix.CPUSet
		for _, c := range spec.CPUs {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("pin the loop to CPUs %v: %w", spec.CPUs, err)
		}
	}
	chunks := max(spec.Chunks, 1)
	per := max(spec.Files/chunks, 1)
	parts := make([]float64, 0, chunks)
	cpuParts := make([]float64, 0, chunks)
	fmt.Println("ready")
	if _, err := io.ReadFull(os.Stdin, make([]byte, 1)); err != nil {
		return fmt.Errorf("wait for go: %w", err)
	}
	cpu0, err := threadCPU()
	if err != nil {
		return err
	}
	t0 := monotonicNs()
	done := 0
	for done < spec.Files {
		n := min(per, spec.Files-done)
		c0 := threadClock()
		p0 := monotonicNs()
		switch spec.Op {
		case opGetpid:
			for i := 0; i < n; i++ {
				unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
			}
		case opPipe:
			var fds [2]int32
			for i := 0; i < n; i++ {
				if _, _, errno := unix.RawSyscall(unix.SYS_PIPE2, uintptr(unsafe.Pointer(&fds)), unix.O_CLOEXEC, 0); errno != 0 {
					return fmt.Errorf("pipe2: %w", errno)
				}
				unix.RawSyscall(unix.SYS_CLOSE, uintptr(fds[0]), 0, 0)
				unix.RawSyscall(unix.SYS_CLOSE, uintptr(fds[1]), 0, 0)
			}
		case opFchmod:
			for i := 0; i < n; i++ {
				// 0644 and 0640 in turn: each call changes the mode, so
				// each updates the change time
				if _, _, errno := unix.RawSyscall(unix.SYS_FCHMOD, chmodFd, uintptr(0o644^(i&1)*0o004), 0); errno != 0 {
					return fmt.Errorf("fchmod %s: %w", spec.Path, errno)
				}
			}
		case opReadOpen, opCreatReopen:
			for i := 0; i < n; i++ {
				fd, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, cwd, uintptr(unsafe.Pointer(path)), flags, 0o644, 0, 0)
				if errno != 0 {
					return fmt.Errorf("open %s: %w", spec.Path, errno)
				}
				unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
			}
		default:
			return fmt.Errorf("unknown op %q", spec.Op)
		}
		parts = append(parts, float64(monotonicNs()-p0)/float64(n))
		cpuParts = append(cpuParts, float64(threadClock()-c0)/float64(n))
		done += n
	}
	t1 := monotonicNs()
	cpu1, err := threadCPU()
	if err != nil {
		return err
	}
	return jsonOut(genResult{Files: spec.Files, StartNs: t0, EndNs: t1, CPUNs: cpu1 - cpu0, NsPerOp: distOf(parts).median,
		CPUNsPerOp: distOf(cpuParts).median})
}

// threadClock is this thread's CPU time in ns (CLOCK_THREAD_CPUTIME_ID:
// the scheduler's own sum, not the tick-sampled rusage split).
func threadClock() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) // cannot fail for this clock
	return ts.Nano()
}

// nodeWorkload is one row group of the node tables.
type nodeWorkload struct {
	key, name string
	unit      string // what one operation is
	fs        *testFS
	ops       int // operations per measured run
	syscalls  int // syscalls per operation, for the loops (0 for tar)
	path      string
	tarball   *tarball
	cpus      []int // the CPUs the workload is pinned to (none: not pinned)
}

// nodeSample is one measured run of one workload.
type nodeSample struct {
	nsPerOp, cpuPerOp float64
}

// nodeCell is one workload under one configuration over the rounds.
type nodeCell struct {
	samples []nodeSample
	ratios  []float64 // to the same round's baseline
	deltas  []float64 // ns/op minus the same round's baseline, per round
	// cpuRatios and cpuDeltas are the same for the workload's CPU time:
	// the time a busy machine's other tasks take from it is not in them.
	cpuRatios, cpuDeltas []float64
}

// nodeResult is one alternation of the node workloads.
type nodeResult struct {
	workloads     []*nodeWorkload
	configs       []*configResult // configs[0] is the baseline; notes and counts live here
	cells         [][]*nodeCell   // [config][workload]
	received      [][]uint64      // [config][round]: samples the probe delivered
	foreignRounds int
	rounds        int
	prefixes      []string // the probe's path filter
	pinned        string   // how the workloads and readers were placed on CPUs ("" not pinned)
}

// nodeSizes are the operations per run; a run of each lasts about half a
// second on this VM without monitoring.
type nodeSizes struct {
	opens, getpids, tarFiles, tarDirs int
}

func nodeSizesFor(p params) nodeSizes {
	s := nodeSizes{opens: 200000, getpids: 2000000, tarFiles: 6000, tarDirs: 250}
	if p.quick {
		s = nodeSizes{opens: 20000, getpids: 200000, tarFiles: 600, tarDirs: 40}
	}
	scale := func(n, least int) int { return max(int(float64(n)*p.nodeScale), least) }
	return nodeSizes{opens: scale(s.opens, 100), getpids: scale(s.getpids, 1000), tarFiles: scale(s.tarFiles, 50), tarDirs: scale(s.tarDirs, 5)}
}

// setupNodeWorkloads makes the existing file the open loops use (on the
// first filesystem, tmpfs) and the tarball, and lists the workloads.
func setupNodeWorkloads(fss []*testFS, p params) ([]*nodeWorkload, error) {
	sz := nodeSizesFor(p)
	fs0 := fss[0]
	dir, err := fs0.newRunDir("node")
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "existing.txt")
	if err := os.WriteFile(file, []byte("kebench\n"), 0o644); err != nil {
		return nil, err
	}
	tb, err := writeTarball(filepath.Join(fs0.root, "kebench-src.tar"), sz.tarFiles, sz.tarDirs)
	if err != nil {
		return nil, fmt.Errorf("make the source tarball: %w", err)
	}
	ws := []*nodeWorkload{
		{key: opReadOpen, name: "(a) read-only open+close of an existing file", unit: "open+close", fs: fs0, ops: sz.opens, syscalls: 2, path: file},
		{key: opCreatReopen, name: "(b) O_CREAT open+close of an existing file", unit: "open+close", fs: fs0, ops: sz.opens, syscalls: 2, path: file},
		{key: opGetpid, name: "(c) getpid (raw syscall)", unit: "getpid", fs: fs0, ops: sz.getpids, syscalls: 1},
		{key: opFchmod, name: "(e) fchmod of an open file (a change-time update per call)", unit: "fchmod", fs: fs0, ops: sz.opens, syscalls: 1, path: file},
		{key: opPipe, name: "(f) pipe2 and close of both ends (an anonymous file, named by d_instantiate)", unit: "pipe", fs: fs0, ops: sz.opens, syscalls: 3},
	}
	for _, fs := range fss {
		ws = append(ws, &nodeWorkload{key: opTar, name: fmt.Sprintf("(d) tar -xf of a source tarball on %s", fs.name),
			unit: "file", fs: fs, ops: tb.files, tarball: tb})
	}
	return ws, nil
}

// run measures one workload once.
func (w *nodeWorkload) run(ctx context.Context, ops int) (nodeSample, error) {
	if err := w.fs.settle(); err != nil {
		return nodeSample{}, err
	}
	if w.key == opTar {
		return w.runTar(ctx)
	}
	rs, err := runCreators(ctx, []genSpec{{Op: w.key, Path: w.path, Files: ops, Chunks: nodeChunks, CPUs: w.cpus}})
	if err != nil {
		return nodeSample{}, err
	}
	n := float64(ops)
	ns, cpu := rs[0].NsPerOp, rs[0].CPUNsPerOp
	if ns == 0 || cpu == 0 {
		ns, cpu = float64(rs[0].wallNs())/n, float64(rs[0].CPUNs)/n
	}
	return nodeSample{nsPerOp: ns, cpuPerOp: cpu}, nil
}

// runTar extracts the tarball into a fresh directory: the time is tar's
// whole life (fork, exec, reading the archive, every creation), per file.
func (w *nodeWorkload) runTar(ctx context.Context) (nodeSample, error) {
	dir, err := w.fs.newRunDir("tar")
	if err != nil {
		return nodeSample{}, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, "tar", "-xf", w.tarball.path, "-C", dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err = cmd.Start(); err == nil {
		if len(w.cpus) > 0 {
			// tar is one thread; pinned before it has read its archive.
			if perr := unix.SchedSetaffinity(cmd.Process.Pid, cpuSet(w.cpus)); perr != nil {
				logf("warning: pin tar to CPUs %v: %v", w.cpus, perr)
			}
		}
		err = cmd.Wait()
	}
	wall := time.Since(t0)
	if err != nil {
		return nodeSample{}, fmt.Errorf("tar -xf %s: %w: %s", w.tarball.path, err, oneLine(out.String()))
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	n := float64(w.tarball.files)
	return nodeSample{nsPerOp: float64(wall.Nanoseconds()) / n, cpuPerOp: float64(cpu.Nanoseconds()) / n}, nil
}

// nodeConfigs: the baseline, the two floors, the probe on each hook that
// attaches (batched wakeups, `make run`'s path filter) and fanotify on every
// test filesystem.
func nodeConfigs(h hookInfo, fss []*testFS, prefixes []string, aa bool) []config {
	var roots []string
	for _, fs := range fss {
		roots = append(roots, fs.root)
	}
	cfgs := []config{{name: "baseline (no monitoring)", kind: kindBaseline}}
	if aa {
		cfgs = append(cfgs, config{name: "A/A: baseline again (no monitoring; the noise floor)", kind: kindBaseAA})
	}
	cfgs = append(cfgs, []config{
		{name: "floor: empty program on tracepoint syscalls/sys_enter_getppid", kind: kindFloor,
			newMonitor: func() monitor { return &floorMonitor{raw: false} }},
		{name: "floor: empty program on raw tracepoint sys_exit (every syscall)", kind: kindFloorRaw,
			newMonitor: func() monitor { return &floorMonitor{raw: true} }},
	}...)
	for _, hook := range h.available {
		if kprobeClass(hook) {
			cfgs = append(cfgs, config{name: fmt.Sprintf("floor: empty %s program on do_filp_open (every open)", hook), kind: kindFloorOpen, hook: hook,
				newMonitor: func() monitor { return &openFloorMonitor{hook: hook} }})
		}
	}
	batched := probe.DefaultOptions().WakeupBytes
	for _, hook := range h.available {
		cfgs = append(cfgs, config{name: fmt.Sprintf("probe %s, `make run`'s path filter", hook), kind: kindBatched, hook: hook,
			newMonitor: func() monitor {
				m := newProbeMonitor(hook, batched, "")
				m.opts.PathPrefixes = prefixes
				return m
			}})
	}
	return append(cfgs, config{name: "fanotify FAN_CREATE, filesystem mark on each test filesystem", kind: kindFanotify,
		newMonitor: func() monitor { return &fanotifyMonitor{extra: roots[1:]} }})
}

// nodePrefixes is `make run`'s filter, plus the bench's directory when
// TMPDIR puts it outside (the probe must see the tarball's files).
func nodePrefixes(base string) ([]string, string) {
	for _, p := range makeRunPrefixes {
		if strings.HasPrefix(base+"/", p) {
			return makeRunPrefixes, ""
		}
	}
	return append(append([]string(nil), makeRunPrefixes...), base+"/"),
		fmt.Sprintf("the bench's directory %s is outside `make run`'s path filter: added to it for the node rows", base)
}

// runNodeRounds alternates the configurations workload by workload: in each
// round, for each workload, every configuration's monitor is started, the
// workload runs once under it and the monitor stops. Runs compared with each
// other are then seconds apart, not a whole round, and drift from the
// shared machine's other load falls on them alike. Odd rounds run the
// configurations in reverse order, so that a drift within a round does not
// always favour the same ones. With -node-pin on a machine of two or more
// CPUs, the workloads run on one CPU and this process (the monitors'
// readers) on the others.
func runNodeRounds(ctx context.Context, ws []*nodeWorkload, cfgs []config, p params, tr *foreignTracers) (*nodeResult, error) {
	res := &nodeResult{workloads: ws}
	if p.nodePin {
		work, self, ok := splitCPUs()
		if ok {
			restore, err := pinProcess(self)
			if err != nil {
				return nil, err
			}
			defer restore()
			for _, w := range ws {
				w.cpus = work
			}
			res.pinned = fmt.Sprintf("workloads on CPU %s, this process (the probe's and fanotify's readers) on CPU %s",
				cpuList(work), cpuList(self))
		} else {
			res.pinned = "not pinned: one CPU"
		}
	}
	for _, c := range cfgs {
		res.configs = append(res.configs, &configResult{cfg: c, notes: map[string]bool{}})
		row := make([]*nodeCell, len(ws))
		for j := range row {
			row[j] = &nodeCell{}
		}
		res.cells = append(res.cells, row)
		res.received = append(res.received, nil)
	}
	// A discarded warm-up round with a tenth of the operations.
	for j := range ws {
		for i := range res.configs {
			if _, _, err := nodeRun(ctx, res, i, j, 10); err != nil {
				return nil, fmt.Errorf("warm-up %s, %s: %w", res.configs[i].cfg.name, ws[j].name, err)
			}
		}
	}
	reps := p.reps
	if p.nodeReps > 0 {
		reps = p.nodeReps
	}
	for r := 0; r < reps; r++ {
		waitClean(ctx, tr, p.waitClean)
		foreign := tr.check()
		round := make([][]nodeSample, len(res.configs))
		recv := make([]uint64, len(res.configs))
		for j := range ws {
			for k := range res.configs {
				i := k
				if r%2 == 1 {
					i = len(res.configs) - 1 - k
				}
				cr := res.configs[i]
				s, n, err := nodeRun(ctx, res, i, j, 1)
				if err != nil {
					return nil, fmt.Errorf("round %d, %s, %s: %w", r+1, cr.cfg.name, ws[j].name, err)
				}
				round[i] = append(round[i], s)
				recv[i] += n
			}
		}
		// round[i][j] was appended in workload order whatever the
		// configuration order, so it is workload j's sample.
		for i := range res.configs {
			res.received[i] = append(res.received[i], recv[i])
			for j := range ws {
				c, s, b := res.cells[i][j], round[i][j], round[0][j]
				c.samples = append(c.samples, s)
				c.ratios = append(c.ratios, s.nsPerOp/b.nsPerOp)
				c.deltas = append(c.deltas, s.nsPerOp-b.nsPerOp)
				c.cpuRatios = append(c.cpuRatios, s.cpuPerOp/b.cpuPerOp)
				c.cpuDeltas = append(c.cpuDeltas, s.cpuPerOp-b.cpuPerOp)
			}
		}
		res.rounds++
		if n := max(foreign, tr.check()); n > 0 {
			res.foreignRounds++
			logf("warning: %d tracing BPF programs of other processes were loaded during this round", n)
		}
		logf("node round %d/%d: %s", r+1, reps, nodeRoundLine(ws, round))
	}
	return res, nil
}

// nodeRun runs workload j once under configuration i (its operations
// divided by div) and returns the samples the monitor delivered.
func nodeRun(ctx context.Context, res *nodeResult, i, j, div int) (nodeSample, uint64, error) {
	cr, w := res.configs[i], res.workloads[j]
	m, err := startMonitor(cr, res.workloads[0].fs.root)
	if err != nil {
		return nodeSample{}, 0, err
	}
	s, err := w.run(ctx, max(w.ops/div, 1))
	if err != nil {
		_, _ = stopMonitor(m) // the error being returned is the one to report
		return nodeSample{}, 0, err
	}
	if pm, ok := m.(*probeMonitor); ok && w.key == opTar {
		// Let the last batch arrive, so that received counts the tarball.
		waitFor(func() bool { return pm.seen() >= uint64(w.tarball.files/max(div, 1)) }, pm.opts.MaxLatency+time.Second)
	}
	c, err := stopMonitor(m)
	if err != nil {
		return nodeSample{}, 0, fmt.Errorf("stop monitor: %w", err)
	}
	return s, c.received, nil
}

func nodeRoundLine(ws []*nodeWorkload, round [][]nodeSample) string {
	var parts []string
	for j, w := range ws {
		var xs []string
		for i := range round {
			xs = append(xs, fmt.Sprintf("%.0f", round[i][j].nsPerOp))
		}
		parts = append(parts, w.key+" "+strings.Join(xs, "/"))
	}
	return strings.Join(parts, "; ") + " ns/op"
}

// floorMonitor attaches one empty BPF program: the least any syscall
// tracepoint hook can cost. On a syscall tracepoint (raw=false) every
// syscall of every task takes the slow syscall path and the tracepoint's
// handler tests its syscall bit; on the raw sys_exit tracepoint (raw=true)
// the program also runs on every syscall's exit.
type floorMonitor struct {
	raw  bool
	prog *ebpf.Program
	link link.Link
}

func (m *floorMonitor) start(string) error {
	typ := ebpf.TracePoint
	if m.raw {
		typ = ebpf.RawTracepoint
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "kebench_floor", Type: typ, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		return fmt.Errorf("load the empty %s program: %w", typ, err)
	}
	var l link.Link
	if m.raw {
		l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_exit", Program: prog})
	} else {
		l, err = link.Tracepoint("syscalls", "sys_enter_getppid", prog, nil)
	}
	if err != nil {
		prog.Close()
		return fmt.Errorf("attach the empty %s program: %w", typ, err)
	}
	m.prog, m.link = prog, l
	return nil
}

func (m *floorMonitor) drain(int) {}

func (m *floorMonitor) consumerCPU() (time.Duration, error) { return selfCPU() }

func (m *floorMonitor) stop() (counts, error) {
	return counts{}, errors.Join(m.link.Close(), m.prog.Close())
}

// openFloorMonitor attaches one empty program where the kretprobe or fexit
// hook attaches its open program, on the return of do_filp_open: the least
// a hook that sees every open's result pays per open (issue 28, goal 2).
type openFloorMonitor struct {
	hook probe.Hook
	prog *ebpf.Program
	link link.Link
}

func (m *openFloorMonitor) start(string) error {
	spec := &ebpf.ProgramSpec{Name: "kebench_open", Type: ebpf.Kprobe, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}}
	if m.hook == probe.HookFexit {
		spec.Type, spec.AttachType, spec.AttachTo = ebpf.Tracing, ebpf.AttachTraceFExit, "do_filp_open"
	}
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return fmt.Errorf("load the empty %s program on do_filp_open: %w", m.hook, err)
	}
	var l link.Link
	if m.hook == probe.HookFexit {
		l, err = link.AttachTracing(link.TracingOptions{Program: prog})
	} else {
		l, err = link.Kretprobe("do_filp_open", prog, nil)
	}
	if err != nil {
		prog.Close()
		return fmt.Errorf("attach the empty %s program on do_filp_open: %w", m.hook, err)
	}
	m.prog, m.link = prog, l
	return nil
}

func (m *openFloorMonitor) drain(int) {}

func (m *openFloorMonitor) consumerCPU() (time.Duration, error) { return selfCPU() }

func (m *openFloorMonitor) stop() (counts, error) {
	return counts{}, errors.Join(m.link.Close(), m.prog.Close())
}

// splitCPUs returns the CPU for the workloads (the highest this process may
// use) and the others for this process; false with fewer than two.
func splitCPUs() (work, self []int, ok bool) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, nil, false
	}
	var cpus []int
	for c := 0; c < 1024; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		return nil, nil, false
	}
	return cpus[len(cpus)-1:], cpus[:len(cpus)-1], true
}

func cpuSet(cpus []int) *unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return &set
}

func cpuList(cpus []int) string {
	var s []string
	for _, c := range cpus {
		s = append(s, fmt.Sprint(c))
	}
	return strings.Join(s, ",")
}

// pinProcess pins every thread of this process to cpus (threads made later
// inherit it from the thread that makes them) and returns a function that
// puts back each thread's own set.
func pinProcess(cpus []int) (func(), error) {
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("list this process's threads: %w", err)
	}
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	set := cpuSet(cpus)
	for _, t := range tids {
		var tid int
		if _, err := fmt.Sscan(t.Name(), &tid); err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
			return nil, fmt.Errorf("pin thread %d to CPUs %v: %w", tid, cpus, err)
		}
	}
	return func() {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return
		}
		for _, t := range tids {
			var tid int
			if _, err := fmt.Sscan(t.Name(), &tid); err == nil {
				_ = unix.SchedSetaffinity(tid, &old) // best effort: a thread may have exited
			}
		}
	}, nil
}
