// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
			var recursion uint64
			for _, id := range p.ProgramIDs() {
				prog, err := ebpf.NewProgramFromID(id)
				require.NoError(t, err)
				st, err := prog.Stats()
				prog.Close()
				require.NoError(t, err)
				recursion += st.RecursionMisses
			}
			t.Logf("hook %s: %d of %d opens and %d of %d mknods seen, %d with another thread's path; lost %v; programs skipped by the kernel's recursion guard %d",
				h, nA, rounds, nB, rounds, len(wrong), lost, recursion)
			require.NotZero(t, nA, "no sample of the opening thread")
			require.NotZero(t, nB, "no sample of the mknod thread")
			assert.LessOrEqual(t, nA, rounds, "more samples than opens")
			assert.LessOrEqual(t, nB, rounds, "more samples than mknods")
			assert.LessOrEqual(t, uint64(max(2*rounds-nA-nB, 0)), counted+recursion,
				"creations with no sample that no loss counter or recursion miss accounts for")
			if model := preemptionModel(); h == HookKretprobe && preemptsPrograms(model) {
				// Why auto takes kretprobe first here (autoOrder): its
				// programs run with preemption disabled, so no run is
				// skipped, where fexit's mknod programs lose runs to
				// the open thread's preempted ones.
				assert.Equal(t, rounds, nA, "kretprobe on a kernel that preempts BPF programs (%s): every open", model)
				assert.Equal(t, rounds, nB, "kretprobe on a kernel that preempts BPF programs (%s): every mknod", model)
				assert.Zero(t, recursion, "kretprobe: no run skipped by the recursion guard")
			}
			if len(wrong) > 5 {
				wrong = wrong[:5]
			}
			assert.Empty(t, wrong, "samples whose path is not their thread's file (%s or %s): the per-CPU scratch buffer was shared by two programs at once",
				fileA, fileB)
		})
	}
}

// TestAutoOrderOnPreemptingKernels: auto's order by preemption model. Where
// the kernel preempts BPF programs, kretprobe comes first and a note says
// why; elsewhere the order is Hooks', with no note.
func TestAutoOrderOnPreemptingKernels(t *testing.T) {
	for _, model := range []string{"", "none", "voluntary", "PREEMPT_DYNAMIC"} {
		order, why := autoOrder(model)
		assert.Equal(t, Hooks, order, "model %q", model)
		assert.Empty(t, why, "model %q", model)
	}
	for _, model := range []string{"PREEMPT_RT", "PREEMPT", "PREEMPT_LAZY", "full", "lazy"} {
		order, why := autoOrder(model)
		assert.Equal(t, []Hook{HookKretprobe, HookFexit, HookTracepoint}, order, "model %q", model)
		assert.Contains(t, why, model, "the note names the model")
		assert.Contains(t, why, LostProgramRecursion, "the note names the loss it avoids")
	}
	t.Logf("this kernel: preemption model %q", preemptionModel())
}
