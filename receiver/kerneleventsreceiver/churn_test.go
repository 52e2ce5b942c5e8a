// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// churnID is the container id of churn container i: unlike any real one,
// and easy to make in a shell (c0ffee, 49 zeros, 100000000+i).
func churnID(i int) string { return fmt.Sprintf("c0ffee%049d%09d", 0, 100_000_000+i) }

func churnIndex(id string) (int, bool) {
	if len(id) != 64 || id[:6] != "c0ffee" {
		return 0, false
	}
	n, err := strconv.ParseUint(id[55:], 10, 64)
	if err != nil || n < 100_000_000 {
		return 0, false
	}
	return int(n - 100_000_000), true
}

// churnLayout is where container i's cgroup goes: the runtimes' layouts in
// turn (docker cgroupfs, podman cgroupfs, kubelet cgroupfs and systemd).
func churnLayout(i int) (cgroup, podDir string) {
	id := churnID(i)
	pod := fmt.Sprintf("c0ffee00-0000-4000-8000-%012x", i)
	switch i % 4 {
	case 0:
		return "docker/" + id, ""
	case 1:
		return "libpod_parent/libpod-" + id, ""
	case 2:
		return "kubepods/besteffort/pod" + pod + "/" + id, "kubepods/besteffort/pod" + pod
	default:
		u := pod
		for _, j := range []int{8, 13, 18, 23} {
			u = u[:j] + "_" + u[j+1:]
		}
		p := "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u + ".slice"
		return p + "/cri-containerd-" + id + ".scope", p
	}
}

// churnSink remembers, in memory fixed at start, which churn containers'
// creations arrived with their container id.
type churnSink struct {
	mu   sync.Mutex
	seen []bool
	last map[string]int64 // the newest batch's receiver metrics
}

func (c *churnSink) consume(_ context.Context, md pmetric.Metrics) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		if v, ok := rm.Resource().Attributes().Get(identity.AttrContainerID); ok {
			if n, ok := churnIndex(v.Str()); ok && n < len(c.seen) {
				c.seen[n] = true
			}
		}
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					c.last[m.Name()] = m.Gauge().DataPoints().At(0).IntValue()
				case pmetric.MetricTypeSum:
					if m.Name() != "kernel.file.creations" && m.Name() != "kernel.events.lost" {
						c.last[m.Name()] = m.Sum().DataPoints().At(0).IntValue()
					}
				}
			}
		}
	}
	return nil
}

func (c *churnSink) identified(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[i]
}

func (c *churnSink) metric(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[name]
}

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestContainerChurn runs 10,000 short-lived "containers" through one
// receiver: each a real cgroup in one of the runtimes' layouts with a
// process born in it (CLONE_INTO_CGROUP) that creates a file, the cgroup
// removed soon after, as runtimes do. The receiver keeps at most
// max_workloads=2000 workloads alive, a fifth of the containers: it must
// forget the gone ones (none overflows), the container after them is still
// identified, and the heap after the last 8,000 is what it was after the
// first 2,000.
func TestContainerChurn(t *testing.T) {
	const n = 10_000
	const warm = 2_000
	testutil.RequireRoot(t)
	testutil.RequireTracefs(t)
	dir := testutil.TempDir(t)
	cfg := testConfig(dir)
	cfg.SeriesTTL = 300 * time.Millisecond
	cfg.MaxSeries = 100_000
	cfg.Identity.MaxWorkloads = 2000
	// A gone workload is kept two collections and two evidence flushes.
	cfg.Evidence.FlushInterval = cfg.CollectionInterval
	sink := &churnSink{seen: make([]bool, n+1), last: map[string]int64{}}
	next, err := consumer.NewMetrics(sink.consume)
	require.NoError(t, err)
	rcv, err := kernelFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, next)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
	r := rcv.(*handle).r

	root := identity.CgroupV2Root()
	type made struct {
		i     int
		paths []string
	}
	var gone []made
	// remove removes the cgroups of exited containers whose creation the
	// receiver has read and looked up (all, with all): a runtime removes a
	// container's cgroup soon after it exits; how soon is the runtime's
	// business, a lookup after that finds nothing (README).
	lookedUp := func(i int) bool {
		received := r.received.Load()
		delivered := r.idLag.n.Load() // every sample is delivered once, after it was received
		return uint64(delivered) >= received && uint64(i) < received
	}
	remove := func(all bool) {
		for len(gone) > 0 && (all || lookedUp(gone[0].i)) {
			for _, p := range gone[0].paths {
				testutil.RemoveCgroups(root, p)
			}
			gone = gone[1:]
		}
	}
	run := func(i int) {
		cg, pod := churnLayout(i)
		abs, _ := testutil.MakeRuntimeCgroupNoCleanup(t, cg)
		_, err := testutil.RunInCgroup(abs, "/bin/busybox", "touch", filepath.Join(dir, "f"+strconv.Itoa(i)))
		require.NoError(t, err)
		m := made{i: i, paths: []string{cg}}
		if pod != "" {
			m.paths = append(m.paths, pod)
		}
		gone = append(gone, m)
		remove(false)
	}
	settle := func(upTo int) {
		// Every sample read and delivered, then the gone workloads swept.
		require.Eventually(t, func() bool {
			return r.received.Load() >= uint64(upTo) && r.resolver.Stats().Pending == 0
		}, 60*time.Second, 10*time.Millisecond, "received %d of %d", r.received.Load(), upTo)
		require.Eventually(t, func() bool {
			st := r.resolver.Stats()
			return r.table.Len() == 0 && st.Workloads <= 1 && st.Processes == 0
		}, 60*time.Second, 10*time.Millisecond, "never forgot the workloads")
	}
	// Cgroup paths are kept while the cgroup exists (the watcher learns
	// every container's, the host's other containers' too), then dropped.
	forgotCgroups := func() {
		require.Eventually(t, func() bool { return r.resolver.Stats().Cgroups < 200 }, 60*time.Second, 10*time.Millisecond,
			"never forgot the removed cgroups")
	}
	t.Cleanup(func() { remove(true) })

	start := time.Now()
	for i := range warm {
		run(i)
	}
	settle(warm)
	remove(true)
	forgotCgroups()
	heapWarm := heapAfterGC()
	for i := warm; i < n; i++ {
		run(i)
	}
	settle(n)
	remove(true)
	forgotCgroups()
	heapEnd := heapAfterGC()
	elapsed := time.Since(start)

	// The next new container is identified.
	run(n)
	require.Eventually(t, func() bool { return sink.identified(n) }, 20*time.Second, 10*time.Millisecond,
		"the container after %d others got no container.id", n)
	remove(true)

	identified := 0
	for i := range n {
		if sink.identified(i) {
			identified++
		}
	}
	maxLag, meanLag := r.idLag.snapshot()
	t.Logf("%d containers in %v (%.0f/s); identified %d; heap after GC: %d KiB at %d, %d KiB at %d; lookup→delivery max %v mean %v; stats %+v",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), identified, heapWarm>>10, warm, heapEnd>>10, n, maxLag, meanLag, r.resolver.Stats())
	assert.Zero(t, r.resolver.Stats().Overflow, "workloads overflowed: gone containers were not forgotten")
	assert.Zero(t, sink.metric("kernel.workloads.overflowed"))
	assert.Equal(t, int64(n+1), sink.metric("kernel.events.received"))
	// Flat: 8,000 more containers leave no trace (a workload entry, its key
	// and cgroup path alone are about 600 bytes each: 4.6 MiB for 8,000).
	// What may differ is the peak size of maps (Go maps keep their buckets),
	// which follows the most containers alive at once, not their number.
	assert.Less(t, int64(heapEnd)-int64(heapWarm), int64(2<<20), "heap grew from %d to %d bytes", heapWarm, heapEnd)
	// Every container whose cgroup was there at its lookup is named.
	assert.Equal(t, n, identified)
}
