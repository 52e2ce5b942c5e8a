// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// BenchmarkCreateCost splits the cost of a file creation under a hook into
// its parts with figures a loaded machine distorts little (CPU time and the
// kernel's own program statistics, not wall time), one sub-benchmark per
// configuration, b.N files each (use -benchtime 100000x):
//
//   - baseline: no probe.
//   - <hook>/filtered: the probe with a path filter the files miss: the
//     program's walk and filter, no sample.
//   - <hook>/watched: the files' directory watched: every creation a sample.
//   - <hook>/watched-exclude-self: watched, with the collector's
//     self-exclusion on (filter::exclude_self, its default), "self" being
//     another process: the check's cost on every creation.
//
// Each is also measured per chunk of 1,000 files: creator-p10-ns/file and
// bpf-p10-ns/file are the 10th percentile over the chunks, the figures a
// loaded machine distorts least (its interference only adds).
//
// Metrics: creator-ns/file, the creating thread's CPU (CLOCK_THREAD_CPUTIME_ID;
// the programs run in its syscalls); bpf-ns/file, the run time of every
// program of the probe (BPF_ENABLE_STATS) per file, and <program>-ns/run
// per invocation; runs/file, their invocations per file (above 2 when other
// processes' syscalls ran them too: the tracepoint hook's sys_exit program
// runs on every syscall on the machine); reader-ns/sample, the reading
// thread's CPU per sample (ring buffer read, decode, placement); lost, the
// samples the ring had no room for (the benchmark fails when a creation is
// neither read nor counted lost).
func BenchmarkCreateCost(b *testing.B) {
	testutil.RequireRoot(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF run-time statistics: %v", err)
	}
	defer stats.Close()

	// on a tmpfs, and through an overlayfs on a tmpfs (a container's
	// root filesystem: the overlay's own work, and the tracepoint hook's
	// copy-up programs, which keep each new upper inode until the
	// creation's exit takes it back)
	for _, fs := range []string{"", "overlay/"} {
		// the directory the files are made in, and the one they are in
		dirOf := func(b *testing.B) (string, string) { d := testutil.TmpfsDir(b); return d, d }
		if fs != "" {
			dirOf = func(b *testing.B) (string, string) { return testutil.OverlayDir(b) }
		}
		b.Run(fs+"baseline", func(b *testing.B) { d, _ := dirOf(b); createCost(b, nil, d, "") })
		for _, hook := range testedHooks() {
			for _, mode := range []string{"filtered", "watched", "watched-exclude-self"} {
				b.Run(fmt.Sprintf("%s%s/%s", fs, hook, mode), func(b *testing.B) {
					opts := DefaultOptions()
					opts.Hook = hook
					switch mode {
					case "filtered":
						opts.PathPrefixes = []string{"/kernelevents-createcost-elsewhere/"}
					case "watched-exclude-self":
						// as the collector runs (filter::exclude_self), with
						// another process as "self": the check runs on each
						// creation and drops none of these
						opts.ExcludePID = os.Getppid()
					}
					d, at := dirOf(b)
					createCost(b, &opts, d, at)
				})
			}
		}
	}
}

// createCost makes b.N files in dir, which are really in at (the upper
// directory of an overlay), with the probe of opts (nil: none).
func createCost(b *testing.B, opts *Options, dir, at string) {
	dirfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(dirfd)
	names := make([]*byte, b.N)
	for i := range names {
		if names[i], err = unix.BytePtrFromString(fmt.Sprintf("f%08d", i)); err != nil {
			b.Fatal(err)
		}
	}

	var (
		p        *Probe
		received atomic.Int64
		// the reader thread and its CPU time when it started
		readerTID, readerCPU0 atomic.Int64
		watched               = opts != nil && opts.PathPrefixes == nil
		done                  = make(chan struct{})
		started               = make(chan struct{})
	)
	if opts != nil {
		if watched {
			opts.PathPrefixes = []string{at + "/"}
		}
		if opts.Hook == HookTracepoint {
			testutil.RequireTracefs(b)
		}
		if p, err = Open(*opts); err != nil {
			if errors.Is(err, ebpf.ErrNotSupported) {
				b.Skipf("hook %s: %v", opts.Hook, err)
			}
			b.Fatal(err)
		}
		defer p.Close()
		go func() {
			defer close(done)
			runtime.LockOSThread()
			readerTID.Store(int64(unix.Gettid()))
			readerCPU0.Store(threadCPUNs(b))
			close(started)
			var e event.Event
			for {
				err := p.Read(&e)
				if errors.Is(err, os.ErrClosed) {
					return
				}
				if err != nil && !errors.Is(err, event.ErrMalformed) {
					b.Errorf("read: %v", err)
					return
				}
				received.Add(1)
			}
		}()
	}

	if p != nil {
		<-started
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := progStats(b, p)
	cpu0 := threadCPUNs(b)
	// Per chunk of files: the creator's CPU and the programs' run time,
	// whose lower percentile is what a file costs when nothing else on the
	// machine interfered (steal time and other processes' syscalls, which
	// run the sys_exit program too, only ever add).
	var chunkCPU, chunkBPF []float64
	lastCPU, lastBPF := cpu0, totalRuntime(before)
	b.ResetTimer()
	for i, name := range names {
		fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(name)),
			uintptr(unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC), 0o644, 0, 0)
		if errno != 0 {
			b.Fatalf("openat: %v", errno)
		}
		unix.Close(int(fd))
		if (i+1)%createCostChunk == 0 {
			c := threadCPUNs(b)
			chunkCPU = append(chunkCPU, float64(c-lastCPU)/createCostChunk)
			lastCPU = c
			if p != nil {
				r := totalRuntime(progStats(b, p))
				chunkBPF = append(chunkBPF, float64(r-lastBPF)/createCostChunk)
				lastBPF = r
			}
		}
	}
	b.StopTimer()
	if len(chunkCPU) > 0 {
		b.ReportMetric(percentile(chunkCPU, 10), "creator-p10-ns/file")
	}
	if len(chunkBPF) > 0 {
		b.ReportMetric(percentile(chunkBPF, 10), "bpf-p10-ns/file")
	}
	cpu := threadCPUNs(b) - cpu0
	after := progStats(b, p)
	n := float64(b.N)
	b.ReportMetric(float64(cpu)/n, "creator-ns/file")
	if p == nil {
		return
	}

	var total time.Duration
	var runs uint64
	var lines []string
	for name, a := range after {
		d := a.Runtime - before[name].Runtime
		r := a.RunCount - before[name].RunCount
		total += d
		runs += r
		if r > 0 {
			b.ReportMetric(float64(d)/float64(r), name+"-ns/run")
			lines = append(lines, fmt.Sprintf("%s: %d runs, %.0f ns/run", name, r, float64(d)/float64(r)))
		}
	}
	sort.Strings(lines)
	b.Logf("programs: %v", lines)
	b.ReportMetric(float64(total)/n, "bpf-ns/file")
	b.ReportMetric(float64(runs)/n, "runs/file")

	if watched {
		// Every creation read or counted lost (a busy machine can starve
		// the reader: losses are reported, an uncounted creation fails).
		var lost uint64
		deadline := time.Now().Add(p.maxLatency + 10*time.Second)
		for {
			if lost, err = p.Lost(); err != nil {
				b.Fatal(err)
			}
			if received.Load()+int64(lost) >= int64(b.N) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		readerCPU := threadCPUOf(b, int(readerTID.Load())) - readerCPU0.Load()
		got := received.Load()
		if got+int64(lost) != int64(b.N) {
			b.Fatalf("received %d samples and lost %d of %d creations", got, lost, b.N)
		}
		b.ReportMetric(float64(lost), "lost")
		if got > 0 {
			b.ReportMetric(float64(readerCPU)/float64(got), "reader-ns/sample")
		}
	}
	p.Close()
	<-done
}

// threadCPUOf is the CPU time of thread tid of this process (its
// CLOCK_THREAD_CPUTIME_ID, read from another thread: the clock id
// pthread_getcpuclockid makes, ~tid << 3 | CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD).
func threadCPUOf(b *testing.B, tid int) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^tid<<3|6), &ts); err != nil {
		b.Fatalf("clock_gettime of thread %d: %v", tid, err)
	}
	return ts.Nano()
}

// createCostChunk is the number of files of one chunk (see createCost).
const createCostChunk = 1000

func totalRuntime(m map[string]ebpf.ProgramStats) time.Duration {
	var t time.Duration
	for _, s := range m {
		t += s.Runtime
	}
	return t
}

// percentile is the p-th percentile of xs (sorted in place).
func percentile(xs []float64, p int) float64 {
	sort.Float64s(xs)
	return xs[(len(xs)-1)*p/100]
}

// progStats is the run time and count of each of p's programs by name.
func progStats(b *testing.B, p *Probe) map[string]ebpf.ProgramStats {
	m := map[string]ebpf.ProgramStats{}
	if p == nil {
		return m
	}
	for _, prog := range p.objs.allPrograms() {
		info, err := prog.Info()
		if err != nil {
			b.Fatal(err)
		}
		s, err := prog.Stats()
		if err != nil {
			b.Fatal(err)
		}
		m[info.Name] = *s
	}
	return m
}

// threadCPUNs is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID:
// exact to the nanosecond, where getrusage's user/system split moves in
// ticks, too coarse for a chunk of files).
func threadCPUNs(b *testing.B) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatalf("clock_gettime: %v", err)
	}
	return ts.Nano()
}
