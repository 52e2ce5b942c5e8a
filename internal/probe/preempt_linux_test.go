// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestPreemptedScratch races two creating threads on as many CPUs as the
// machine has: one opens O_CREAT a file at the end of a deep directory chain
// (a long path walk in the hook), the other mknods a file in a shallow one.
// Every sample must carry its own thread's path. Where the kernel may
// preempt a BPF program (PREEMPT_RT, or preempt=full: trampoline programs
// run with migration, not preemption, disabled), another program that runs
// on the same CPU meanwhile must not write into the first one's per-CPU
// scratch buffer. make vmtest runs it on Debian's 6.1 PREEMPT_RT kernel.
func TestPreemptedScratch(t *testing.T) {
	const rounds = 3000
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			root := testutil.TempDir(t)
			deep := filepath.Join(root, "a")
			for i := 0; i < 40; i++ {
				deep = filepath.Join(deep, "d")
			}
			shallow := filepath.Join(root, "b")
			require.NoError(t, os.MkdirAll(deep, 0o755))
			require.NoError(t, os.MkdirAll(shallow, 0o755))
			fileA, fileB := filepath.Join(deep, "open-a"), filepath.Join(shallow, "mknod-b")

			opts := DefaultOptions()
			opts.Hook = h
			opts.PathPrefixes = []string{root + "/"}
			p := openHook(t, opts)
			c := collect(p)

			// Both threads must be able to run at once, even on one CPU
			// (the kernel then time-slices them).
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.NumCPU(), 3)))
			var wg sync.WaitGroup
			var tidA, tidB int
			var errA, errB error
			start := make(chan struct{})
			wg.Add(2)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				tidA = unix.Gettid()
				<-start
				for i := 0; i < rounds && errA == nil; i++ {
					fd, err := unix.Open(fileA, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
					if err != nil {
						errA = err
						break
					}
					unix.Close(fd)
					errA = unix.Unlink(fileA)
				}
			}()
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				tidB = unix.Gettid()
				<-start
				for i := 0; i < rounds && errB == nil; i++ {
					if err := unix.Mknodat(unix.AT_FDCWD, fileB, unix.S_IFREG|0o644, 0); err != nil {
						errB = err
						break
					}
					errB = unix.Unlink(fileB)
				}
			}()
			close(start)
			wg.Wait()
			require.NoError(t, errA, "open %s", fileA)
			require.NoError(t, errB, "mknod %s", fileB)

			got := c.wait(t, 2*rounds, uint32(os.Getpid()))
			var nA, nB int
			var wrong []string
			for _, e := range got {
				var want string
				switch int(e.tid) {
				case tidA:
					nA++
					want = fileA
				case tidB:
					nB++
					want = fileB
				default:
					continue
				}
				if e.path != want {
					wrong = append(wrong, fmt.Sprintf("%q from the thread that created %s", e.path, want))
				}
			}
			lost, err := p.LostByReason()
			require.NoError(t, err)
			var counted uint64
			for _, n := range lost {
				counted += n
			}
			// The kernel skips a program that is already running on this
			// CPU (its own recursion guard) and counts it per program.
			recursion := recursionMissesOf(t, p, "")
			t.Logf("hook %s: %d of %d opens and %d of %d mknods seen, %d with another thread's path; lost %v; programs skipped by the kernel's recursion guard %d",
				h, nA, rounds, nB, rounds, len(wrong), lost, recursion)
			require.NotZero(t, nA, "no sample of the opening thread")
			require.NotZero(t, nB, "no sample of the mknod thread")
			assert.LessOrEqual(t, nA, rounds, "more samples than opens")
			assert.LessOrEqual(t, nB, rounds, "more samples than mknods")
			assert.LessOrEqual(t, uint64(max(2*rounds-nA-nB, 0)), counted+recursion,
				"creations with no sample that no loss counter or recursion miss accounts for")
			if order, _ := autoOrder(preemptionModel(), kernelRelease()); h == HookKretprobe && order[0] == HookKretprobe {
				// Why auto takes kretprobe first here (autoOrder): its
				// programs run with preemption disabled, so two
				// creating threads never make the kernel skip one,
				// where fexit's mknod programs lose runs to the open
				// thread's preempted ones.
				assert.Equal(t, rounds, nA, "kretprobe where auto puts it first: every open")
				assert.Equal(t, rounds, nB, "kretprobe where auto puts it first: every mknod")
				assert.Zero(t, recursion, "kretprobe where auto puts it first: no run skipped")
			}
			if len(wrong) > 5 {
				wrong = wrong[:5]
			}
			assert.Empty(t, wrong, "samples whose path is not their thread's file (%s or %s): the per-CPU scratch buffer was shared by two programs at once",
				fileA, fileB)
		})
	}
}

// TestAutoOrderOnPreemptingKernels: auto's order by preemption model and
// kernel release. Where the kernel preempts BPF programs and counts a
// kprobe program's skipped runs (6.7+), kretprobe comes first; where it
// preempts and does not, fexit stays first; each with a note saying why.
// Elsewhere the order is Hooks', with no note.
func TestAutoOrderOnPreemptingKernels(t *testing.T) {
	for _, model := range []string{"", "none", "voluntary", "PREEMPT_DYNAMIC"} {
		order, why := autoOrder(model, "6.12.0-1-amd64")
		assert.Equal(t, Hooks, order, "model %q", model)
		assert.Empty(t, why, "model %q", model)
	}
	for _, model := range []string{"PREEMPT_RT", "PREEMPT", "PREEMPT_AUTO", "full", "lazy"} {
		for _, rel := range []string{"6.7.0", "6.12.57+deb12-rt-amd64", "7.0.1"} {
			order, why := autoOrder(model, rel)
			assert.Equal(t, []Hook{HookKretprobe, HookFexit, HookTracepoint}, order, "model %q, %s", model, rel)
			assert.Contains(t, why, model, "the note names the model")
			assert.Contains(t, why, LostProgramRecursion, "the note names the loss it avoids")
		}
		for _, rel := range []string{"6.1.0-57-rt-amd64", "6.6.30", "5.15.0", "garbage"} {
			order, why := autoOrder(model, rel)
			assert.Equal(t, Hooks, order, "model %q, %s: fexit's losses are counted, kretprobe's are not", model, rel)
			assert.Contains(t, why, "fexit kept before kretprobe", "model %q, %s", model, rel)
		}
	}
	// The model, from what the kernel shows.
	for _, c := range []struct{ version, debugfs, cmdline, want string }{
		{"#1 SMP PREEMPT_RT Debian 6.1.192-3 (2026-10-01)", "", "", "PREEMPT_RT"},
		{"#1 SMP PREEMPT Fri Nov 1 2026", "", "preempt=none", "PREEMPT"},
		{"#1 SMP PREEMPT_AUTO x", "", "", "PREEMPT_AUTO"},
		{"#1 SMP Debian 6.1.192-3", "", "preempt=full", ""}, // not dynamic: preempt= is ignored
		{"#1 SMP PREEMPT_DYNAMIC Debian", "", "", ""},
		{"#1 SMP PREEMPT_DYNAMIC Debian", "", "quiet preempt=full", "full"},
		{"#1 SMP PREEMPT_DYNAMIC Debian", "", "preempt=full preempt=none", "none"},                // the last one
		{"#1 SMP PREEMPT_DYNAMIC Debian", "", "preempt=full preempt=bogus", "full"},               // the last valid one
		{"#1 SMP PREEMPT_DYNAMIC Debian", "", "quiet full lazy", ""},                              // bare words are not preempt=
		{"#1 SMP PREEMPT_DYNAMIC Debian", "", "quiet -- preempt=full", ""},                        // init's
		{"#1 SMP PREEMPT_DYNAMIC Debian", "none voluntary (full) lazy\n", "preempt=none", "full"}, // the live mode
		{"#1 SMP PREEMPT_DYNAMIC Debian", "none (voluntary) full lazy\n", "", "voluntary"},
	} {
		assert.Equal(t, c.want, preemptionModelOf(c.version, c.debugfs, c.cmdline), "%+v", c)
	}
	// The note of a hook that can lose runs uncounted: kretprobe on a
	// kernel before 6.7 that preempts programs, only.
	assert.NotEmpty(t, uncountedNote(HookKretprobe, "PREEMPT_RT", "6.1.0-57-rt-amd64"))
	assert.NotEmpty(t, uncountedNote(HookKretprobe, "full", "6.6.1"))
	assert.Empty(t, uncountedNote(HookKretprobe, "PREEMPT_RT", "6.12.118+deb12-rt-amd64"))
	assert.Empty(t, uncountedNote(HookKretprobe, "voluntary", "6.1.0-57-amd64"))
	assert.Empty(t, uncountedNote(HookFexit, "PREEMPT_RT", "6.1.0-57-rt-amd64"))
	t.Logf("this kernel: preemption model %q, release %s", preemptionModel(), kernelRelease())
}

// TestKretprobeMapOperationSkips: the attempt to blind kretprobe where the
// kernel preempts. A thread looks a BPF map element up in a loop (bpf()
// holds the CPU's bpf_prog_active for each lookup: every kprobe program on
// that CPU is skipped meanwhile, for as long as the thread stays preempted
// inside it) while another thread on the same CPU creates files. A
// creation with no sample must be counted (program_recursion, from 6.7:
// kprobeMissesCounted); on a kernel that does not preempt, the lookup is
// never interrupted by the creating thread, and every creation has its
// sample. On a kernel that preempts and counts nothing (before 6.7) the
// skipped creations are logged: that is why auto keeps fexit first there
// (autoOrder).
func TestKretprobeMapOperationSkips(t *testing.T) {
	const rounds = 3000
	root := testutil.TempDir(t)
	file := filepath.Join(root, "made")
	opts := DefaultOptions()
	opts.Hook = HookKretprobe
	opts.PathPrefixes = []string{root + "/"}
	p := openHook(t, opts)
	c := collect(p)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	require.NoError(t, err)
	defer m.Close()

	// Both threads on one CPU (the first this process may use).
	var cpus unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &cpus))
	cpu := 0
	for !cpus.IsSet(cpu) {
		cpu++
	}
	var one unix.CPUSet
	one.Set(cpu)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.NumCPU(), 3)))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var lookups int
	var errM, errC error
	// Each thread is locked and pinned and never unlocked: it ends with
	// its goroutine, so no later test runs on a pinned thread.
	wg.Add(2)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		if errM = unix.SchedSetaffinity(0, &one); errM != nil {
			return
		}
		var v uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			if errM = m.Lookup(uint32(0), &v); errM != nil {
				return
			}
			lookups++
		}
	}()
	var tid int
	go func() {
		defer wg.Done()
		defer close(stop)
		runtime.LockOSThread()
		tid = unix.Gettid()
		if errC = unix.SchedSetaffinity(0, &one); errC != nil {
			return
		}
		for i := 0; i < rounds; i++ {
			fd, err := unix.Open(file, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			if err != nil {
				errC = err
				return
			}
			unix.Close(fd)
			if errC = unix.Unlink(file); errC != nil {
				return
			}
		}
	}()
	wg.Wait()
	require.NoError(t, errC, "create %s", file)
	require.NoError(t, errM, "map lookup")

	got := c.wait(t, rounds, uint32(os.Getpid()))
	n := 0
	for _, e := range got {
		if e.path == file && int(e.tid) == tid {
			n++
		}
	}
	lost, err := p.LostByReason()
	require.NoError(t, err)
	// Only the do_filp_open kretprobe's own skipped runs: an O_CREAT
	// open also runs the mknod hook's program (may_o_create), whose
	// skips would count a lost creation twice.
	counted := recursionMissesOf(t, p, "kretprobe_do_filp_open") + lost[LostKprobeMissed]
	missing := uint64(rounds - min(n, rounds))
	model, rel := preemptionModel(), kernelRelease()
	t.Logf("kernel %s (preemption %q): %d of %d creations seen beside %d map lookups on CPU %d; %d missing, %d counted (lost %v)",
		rel, model, n, rounds, lookups, cpu, missing, counted, lost)
	assert.LessOrEqual(t, n, rounds, "more samples than creations")
	switch {
	case !preemptsPrograms(model):
		assert.Zero(t, lost[LostProgramRecursion], "a kernel that does not preempt: no run skipped for a map operation")
		assert.Zero(t, missing, "a kernel that does not preempt: every creation seen")
	case kprobeMissesCounted(rel):
		assert.LessOrEqual(t, missing, counted, "every creation a map operation cost counted (6.7+)")
	default:
		// Counted nowhere by this kernel: the probe says so at start.
		assert.Contains(t, p.Notes(), uncountedNote(HookKretprobe, model, rel), "kretprobe's start-up notes announce uncounted losses")
		t.Logf("kernel %s preempts BPF programs and counts no kprobe program's skipped run: %d creations lost unseen to a map operation; auto keeps fexit first here (autoOrder)",
			rel, missing-min(missing, counted))
	}
}

// recursionMissesOf sums the runs the kernel skipped (recursion_misses) of
// p's programs, or of the one named prog ("" for all; the kernel keeps the
// first 15 bytes of a name).
func recursionMissesOf(t *testing.T, p *Probe, prog string) uint64 {
	t.Helper()
	var n uint64
	for _, id := range p.ProgramIDs() {
		pr, err := ebpf.NewProgramFromID(id)
		require.NoError(t, err)
		info, err := pr.Info()
		require.NoError(t, err)
		st, err := pr.Stats()
		pr.Close()
		require.NoError(t, err)
		if prog == "" || info.Name != "" && strings.HasPrefix(prog, info.Name) {
			n += st.RecursionMisses
		}
	}
	return n
}
