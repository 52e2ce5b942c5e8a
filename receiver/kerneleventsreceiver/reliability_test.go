// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

func countFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(es)
}

// kernelRefs counts what keeps BPF objects alive from this process: fds of
// programs, maps, links and perf events, and memory-mapped maps. Nothing is
// pinned, so with none left the kernel frees everything this process made
// (counting kernel-wide ids instead would see other processes' probes).
func kernelRefs() (fds, mmaps int, err error) {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, 0, err
	}
	for _, e := range es {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && (strings.HasPrefix(l, "anon_inode:bpf") || l == "anon_inode:[perf_event]") {
			fds++
		}
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, 0, err
	}
	return fds, strings.Count(string(b), "anon_inode:bpf"), nil
}

// noKernelRefs reports whether nothing keeps BPF objects alive from this
// process; safe in require.Eventually's condition goroutine.
func noKernelRefs() bool {
	// cilium/ebpf unmaps the .rodata of a failed load attempt (auto tries
	// hooks this kernel refuses) from a GC cleanup: collect so that only
	// real leaks remain.
	runtime.GC()
	refs, mmaps, err := kernelRefs()
	return err == nil && refs == 0 && mmaps == 0
}

// TestStartShutdown50Times: 50 Start/Shutdown cycles of a metrics and a logs
// pipeline in one process leak no fd, goroutine, BPF program, link or map.
func TestStartShutdown50Times(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTracefs(t)
	cfg := createDefaultConfig().(*Config)
	cfg.Filter.PathPrefixes = []string{"/nonexistent-kernelevents/"}
	cfg.CollectionInterval = 10 * time.Millisecond
	cycle := func() {
		f := kernelFactory()
		set := receivertest.NewNopSettings(metadata.Type)
		m, err := f.CreateMetrics(context.Background(), set, cfg, new(consumertest.MetricsSink))
		require.NoError(t, err)
		l, err := f.CreateLogs(context.Background(), set, cfg, new(consumertest.LogsSink))
		require.NoError(t, err)
		require.NoError(t, m.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, l.Start(context.Background(), componenttest.NewNopHost()))
		refs, _, err := kernelRefs()
		require.NoError(t, err)
		require.Positive(t, refs, "a started receiver holds its probe")
		r := m.(*handle).r
		require.Eventually(t, func() bool { return r.emits.Load() > 0 }, 10*time.Second, time.Millisecond, "an emit ran")
		require.NoError(t, l.Shutdown(context.Background()))
		require.NoError(t, m.Shutdown(context.Background()))
	}
	cycle() // warm up lazily created runtime and library state
	require.Eventually(t, noKernelRefs, 5*time.Second, 50*time.Millisecond, "BPF objects left after the warm-up cycle")
	fds, goroutines := countFDs(t), runtime.NumGoroutine()
	for range 50 {
		cycle()
	}
	assert.Eventually(t, noKernelRefs, 5*time.Second, 50*time.Millisecond, "BPF objects left after 50 cycles")
	// Goroutines that a Shutdown does not wait for (the runtime's, the
	// libraries') may still be ending: wait for the count, less the
	// condition's own goroutine, to come back to where it was.
	assert.Eventually(t, func() bool { return runtime.NumGoroutine()-1 <= goroutines }, 5*time.Second, 10*time.Millisecond,
		"goroutines leaked: %d, were %d", runtime.NumGoroutine(), goroutines)
	refs, mmaps, err := kernelRefs()
	require.NoError(t, err)
	t.Logf("after 50 cycles: %d BPF/perf fds, %d BPF mmaps, goroutines %d→%d, fds %d→%d", refs, mmaps, goroutines, runtime.NumGoroutine(), fds, countFDs(t))
	assert.LessOrEqual(t, countFDs(t), fds, "file descriptors leaked")
	assert.Zero(t, instances.Len(), "shared instances released")
}

// TestCardinalityAttack: a process creates one file in each of 100,000
// directories, renaming itself (comm) before each. The series stay at the
// cap, the overflow series counts the rest exactly, and the receiver's heap
// stays bounded: nothing per directory or per name is kept past the cap.
// The heap is measured from after a first round of 1,000 such files, which
// fills the series table to its cap: what the probe and the receiver hold
// whatever the load (programs, BTF, the table itself) is not what the
// attack adds.
func TestCardinalityAttack(t *testing.T) {
	dir := testutil.TmpfsDir(t)
	cfg := testConfig(dir)
	cfg.MaxSeries = 50
	cfg.RingBufferSize = 64 << 20 // the test is about series, not ring loss
	sink, stop := startReceiver(t, cfg)

	round := func(prefix string, n int) {
		var ops []testutil.Op
		for i := range n {
			d := prefix + strconv.Itoa(i)
			require.NoError(t, os.Mkdir(dir+"/"+d, 0o755))
			ops = append(ops, testutil.Op{Kind: testutil.OpComm, Path: "evil" + prefix + strconv.Itoa(i)}, testutil.Op{Kind: testutil.OpOpenat, Path: d + "/f"})
		}
		testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})
	}
	const warm, dirs = 1_000, 100_000
	round("w", warm)
	waitTotal(t, sink, warm)
	sink.Reset()
	heapBefore := heapInuse()

	round("d", dirs)
	waitTotal(t, sink, warm+dirs)
	sink.Reset() // what remains on the heap is the receiver's
	heapDuring := heapInuse()
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) > 0 }, 5*time.Second, 20*time.Millisecond)
	stop()
	b := lastBatch(sink)
	assert.Equal(t, int64(50), b["kernel.series.active"][0].value)
	assert.Equal(t, int64(warm+dirs-50), b["kernel.series.overflowed"][0].value)
	assert.Len(t, b["kernel.file.creations"], 51, "50 series and one overflow series")
	for _, p := range b["kernel.events.lost"] {
		assert.Zero(t, p.value, "lost %v", p.attrs)
	}
	grown := int64(heapDuring) - int64(heapBefore)
	t.Logf("%d directories and names, cap 50: heap in use %d KiB after the first %d, %d KiB after all", dirs, heapBefore>>10, warm, heapDuring>>10)
	assert.Less(t, grown, int64(4<<20), "heap grew by %d KiB", grown>>10)
}

// heapInuse returns the live heap; two collections, so that sync.Pool
// caches (encoding/json's among them) are emptied too.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
