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
//
// Metrics: creator-ns/file, the creating thread's CPU (user+sys, getrusage;
// the programs run in its syscalls); bpf-ns/file, the run time of every
// program of the probe (BPF_ENABLE_STATS) per file, and <program>-ns/run
// per invocation; runs/file, their invocations per file (above 2 when other
// processes' syscalls ran them too: the tracepoint hook's sys_exit program
// runs on every syscall on the machine); reader-ns/sample, the reading
// thread's CPU per sample (ring buffer read, decode, placement).
func BenchmarkCreateCost(b *testing.B) {
	testutil.RequireRoot(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF run-time statistics: %v", err)
	}
	defer stats.Close()

	b.Run("baseline", func(b *testing.B) { createCost(b, nil) })
	for _, hook := range testedHooks() {
		for _, mode := range []string{"filtered", "watched"} {
			b.Run(fmt.Sprintf("%s/%s", hook, mode), func(b *testing.B) {
				opts := DefaultOptions()
				opts.Hook = hook
				if mode == "filtered" {
					opts.PathPrefixes = []string{"/kernelevents-createcost-elsewhere/"}
				}
				createCost(b, &opts)
			})
		}
	}
}

func createCost(b *testing.B, opts *Options) {
	dir := testutil.TmpfsDir(b)
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
		readerNs atomic.Int64
		watched  = opts != nil && opts.PathPrefixes == nil
		done     = make(chan struct{})
		allRead  = make(chan struct{})
	)
	if opts != nil {
		if watched {
			opts.PathPrefixes = []string{dir + "/"}
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
			cpu0 := threadCPUNs(b)
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
				if received.Add(1) == int64(b.N) {
					readerNs.Store(threadCPUNs(b) - cpu0)
					close(allRead)
				}
			}
		}()
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := progStats(b, p)
	cpu0 := threadCPUNs(b)
	b.ResetTimer()
	for _, name := range names {
		fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(name)),
			uintptr(unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC), 0o644, 0, 0)
		if errno != 0 {
			b.Fatalf("openat: %v", errno)
		}
		unix.Close(int(fd))
	}
	b.StopTimer()
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
		select {
		case <-allRead:
		case <-time.After(p.maxLatency + 10*time.Second):
		}
		lost, err := p.Lost()
		if err != nil {
			b.Fatal(err)
		}
		if got := received.Load(); got != int64(b.N) || lost != 0 {
			b.Fatalf("received %d samples and lost %d of %d creations", got, lost, b.N)
		}
		b.ReportMetric(float64(readerNs.Load())/n, "reader-ns/sample")
	}
	p.Close()
	<-done
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

func threadCPUNs(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
