// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestLostReasonsAllPresent: every reason, the kernel's counters and the
// hooks' own miss counters, is reported, zero or not.
func TestLostReasonsAllPresent(t *testing.T) {
	opts := DefaultOptions()
	p := openHook(t, opts)
	by, err := p.LostByReason()
	require.NoError(t, err)
	assert.Equal(t, []string{LostCoreDumpUnobserved, LostFDRace, LostInflightTableFull, LostIOURingInstallFailed, LostIOURingUnobserved, LostKprobeMissed, LostNameUnresolved, LostProgramRecursion, LostRingBufferFull,
		LostScratchBusy},
		slices.Sorted(maps.Keys(by)))
}

// TestDrainReadsWhatWaits: with wakeups batched far above what is written,
// samples sit in the ring and the reader sleeps; Drain detaches the programs
// and the reader then gets every one of them before ErrDrained. Closing the
// reader instead (what Shutdown did) dropped them, counted nowhere.
func TestDrainReadsWhatWaits(t *testing.T) {
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			root := testutil.TempDir(t)
			opts := DefaultOptions()
			opts.Hook = h
			opts.RingBufferSize = 1 << 20
			opts.WakeupBytes = 512 << 10
			opts.MaxLatency = time.Hour
			opts.PathPrefixes = []string{root + "/"}
			p := openHook(t, opts)
			c := collect(p)

			const n = 500 // 500 × 312 bytes: under the wakeup threshold
			ops := make([]testutil.Op, n)
			for i := range ops {
				ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: "w" + strconv.Itoa(i)}
			}
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: ops})
			assert.Empty(t, c.of(uint32(child.PID)), "the reader was not woken (otherwise this test proves nothing)")
			require.NoError(t, p.Drain())
			select {
			case <-c.done:
			case <-time.After(30 * time.Second):
				t.Fatal("the reader did not return after Drain")
			}
			lost, err := p.Lost()
			require.NoError(t, err)
			got := len(c.of(uint32(child.PID)))
			t.Logf("%d created, %d received after Drain, %d lost", n, got, lost)
			assert.Equal(t, n, got, "every sample in the ring is read at Drain")
			assert.Zero(t, lost)
		})
	}
}

// TestKretprobeBlockedOpens: tasks blocked inside do_filp_open (readers of a
// FIFO without a writer) each hold a kretprobe instance. With the kernel's
// default (about 2 × CPUs) 64 of them made the probe skip every other open on
// the host, counted nowhere; with maxactive at its maximum each creation by
// another task is counted. With maxactive forced down to 4, the creations are
// missed, and each is counted as kprobe_missed: never neither.
func TestKretprobeBlockedOpens(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxActive int
		blockers  int
	}{
		{"default maxactive", 0, 64},
		{"maxactive 4", 4, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := testutil.TempDir(t)
			opts := DefaultOptions()
			opts.Hook = HookKretprobe
			opts.KretprobeMaxActive = tc.maxActive
			opts.PathPrefixes = []string{root + "/"}
			opts.WakeupBytes = 0
			p := openHook(t, opts)
			c := collect(p)

			const n = 50
			ops := []testutil.Op{
				{Kind: testutil.OpMkfifo, Path: "fifo"},
				{Kind: testutil.OpFIFOBlock, Path: "fifo", Spread: tc.blockers},
			}
			for i := range n {
				ops = append(ops, testutil.Op{Kind: testutil.OpOpenat, Path: "c" + strconv.Itoa(i)})
			}
			ops = append(ops, testutil.Op{Kind: testutil.OpFIFOUnblock, Path: "fifo"})
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: ops})
			require.NoError(t, p.Drain())
			<-c.done
			by, err := p.LostByReason()
			require.NoError(t, err)
			got := len(c.of(uint32(child.PID)))
			missed := by[LostKprobeMissed]
			t.Logf("maxactive %d, %d blocked opens: %d of %d creations received, %d kprobe misses on the host", tc.maxActive, tc.blockers, got, n, missed)
			if tc.maxActive == 0 {
				assert.Equal(t, n, got, "every creation counted while %d opens block", tc.blockers)
				assert.Zero(t, missed)
				return
			}
			assert.Positive(t, missed, "the kernel's misses are exported")
			assert.GreaterOrEqual(t, uint64(got)+missed, uint64(n), "each creation received or counted as kprobe_missed")
		})
	}
}

func TestKretprobeMaxActiveValidated(t *testing.T) {
	for _, v := range []int{-1, MaxKretprobeActive + 1} {
		o := DefaultOptions()
		o.KretprobeMaxActive = v
		assert.ErrorContains(t, o.Validate(os.Getpagesize()), "maxactive")
	}
}

// TestStaleKprobeEventsRemoved: a collector killed with SIGKILL cannot remove
// the kprobe event it made in tracefs; the next one to start removes it (and
// leaves its own in use).
func TestStaleKprobeEventsRemoved(t *testing.T) {
	testutil.RequireRoot(t)
	const events = "/sys/kernel/tracing/kprobe_events"
	const stale = "kernelevents_999999999_1_0123456789abcdef/do_filp_open"
	f, err := os.OpenFile(events, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		if slices.Contains(requiredHooks(), HookKretprobe) {
			t.Fatalf("open %s: %v", events, err)
		}
		t.Skipf("no kprobe_events here: %v", err)
	}
	_, err = f.WriteString("r:" + stale + " do_filp_open\n")
	f.Close()
	require.NoError(t, err, "make a stale event")
	t.Cleanup(func() {
		if f, err := os.OpenFile(events, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			_, _ = f.WriteString("-:" + stale + "\n") // best effort: the test has ended
			f.Close()
		}
	})
	opts := DefaultOptions()
	opts.Hook = HookKretprobe
	p := openHook(t, opts)
	raw, err := os.ReadFile(events)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), stale, "the stale event is removed")
	assert.Contains(t, string(raw), fmt.Sprintf("kernelevents_%d_", os.Getpid()), "the probe's own event is there:\n%s", raw)
	_, err = p.LostByReason()
	require.NoError(t, err)
}
