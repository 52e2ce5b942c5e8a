// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// setupTestMain runs first in the generated TestMain: a re-executed test
// binary acting as a file-creating child does its work and exits there.
// Receivers of NewFactory read a fake source in this package's tests (the
// generated lifecycle test among them); kernel tests use kernelFactory.
func setupTestMain() {
	testutil.MaybeRunChild()
	defaultOpenSource = func(probe.Options) (source, error) { return newFakeSource(), nil }
}

// kernelFactory returns the factory whose receivers load the BPF programs.
func kernelFactory() receiver.Factory { return newFactory(openProbe) }

func TestShutdownWithoutStart(t *testing.T) {
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()))
}

// point is one kernel.file.creations data point, flattened.
type point struct {
	attrs map[string]any
	value int64
	start pcommon.Timestamp
}

// lastBatch returns the data points of each metric, by name, in the newest
// batch the sink holds.
func lastBatch(sink *consumertest.MetricsSink) map[string][]point {
	all := sink.AllMetrics()
	out := map[string][]point{}
	if len(all) == 0 {
		return out
	}
	md := all[len(all)-1]
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				}
				for l := 0; l < dps.Len(); l++ {
					dp := dps.At(l)
					out[m.Name()] = append(out[m.Name()], point{dp.Attributes().AsRaw(), dp.IntValue(), dp.StartTimestamp()})
				}
			}
		}
	}
	return out
}

func startReceiver(t *testing.T, cfg *Config) (*consumertest.MetricsSink, func()) {
	t.Helper()
	_, sink, stop := startKernelReceiver(t, cfg)
	return sink, stop
}

// startKernelReceiver starts cfg's receiver on the BPF probe in a metrics
// pipeline and returns it, the sink and its stop function.
func startKernelReceiver(t *testing.T, cfg *Config) (*kernelEventsReceiver, *consumertest.MetricsSink, func()) {
	t.Helper()
	testutil.RequireRoot(t)
	if cfg.Hook == "tracepoint" || cfg.Hook == "auto" {
		testutil.RequireTracefs(t)
	}
	sink := new(consumertest.MetricsSink)
	r, err := kernelFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			require.NoError(t, r.Shutdown(context.Background()))
		}
	}
	t.Cleanup(stop)
	return r.(*handle).r, sink, stop
}

func testConfig(dir string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.CollectionInterval = 100 * time.Millisecond
	cfg.Filter.PathPrefixes = []string{dir + "/"}
	cfg.FileDirectoryDepth = 16
	return cfg
}

func TestReceiverCountsCreations(t *testing.T) {
	dir := testutil.TempDir(t)
	cfg := testConfig(dir)
	cfg.Metrics.KernelFileCreations.EnabledAttributes = append(cfg.Metrics.KernelFileCreations.EnabledAttributes,
		metadata.KernelFileCreationsMetricAttributeKeyProcessPid)
	sink, stop := startReceiver(t, cfg)

	const n = 25
	ops := make([]testutil.Op, 0, n+2)
	for i := range n {
		ops = append(ops, testutil.Op{Kind: testutil.OpOpenat, Path: "f" + strconv.Itoa(i)})
	}
	ops = append(ops, testutil.Op{Kind: testutil.OpReopen, Path: "f0"}, testutil.Op{Kind: testutil.OpExclFail, Path: "f1"})
	child := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})

	require.Eventually(t, func() bool {
		for _, p := range lastBatch(sink)["kernel.file.creations"] {
			if p.attrs["process.pid"] == int64(child.PID) && p.value >= n {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond)
	stop()

	// The batch emitted at Shutdown holds the final counts.
	batch := lastBatch(sink)
	var mine []point
	for _, p := range batch["kernel.file.creations"] {
		if p.attrs["process.pid"] == int64(child.PID) {
			mine = append(mine, p)
		}
	}
	require.Len(t, mine, 1)
	assert.Equal(t, int64(n), mine[0].value)
	assert.Equal(t, map[string]any{
		"kernelevents.directory.prefix": dir,
		"kernelevents.file.operation":   "create",
		"kernelevents.hook":             "tracepoint",
		"kernelevents.process.comm":     testutil.ChildComm,
		"process.user.id":               int64(0),
		"process.pid":                   int64(child.PID),
	}, mine[0].attrs)
	assert.NotZero(t, mine[0].start)

	require.Len(t, batch["kernel.probe.hook"], 1)
	assert.Equal(t, "tracepoint", batch["kernel.probe.hook"][0].attrs["kernelevents.hook"])
	require.Len(t, batch["kernel.events.received"], 1)
	assert.GreaterOrEqual(t, batch["kernel.events.received"][0].value, int64(n))
	lost := map[any]int64{}
	for _, p := range batch["kernel.events.lost"] {
		lost[p.attrs["kernelevents.lost.reason"]] = p.value
	}
	want := map[any]int64{}
	for name := range metadata.MapAttributeKerneleventsLostReason {
		want[name] = 0 // every reason, exported even when zero
	}
	assert.Equal(t, want, lost)
}

func TestReceiverOverflow(t *testing.T) {
	dir := testutil.TempDir(t)
	cfg := testConfig(dir)
	cfg.MaxSeries = 3
	sink, stop := startReceiver(t, cfg)

	const dirs = 10
	var ops []testutil.Op
	for i := range dirs {
		sub := filepath.Join(dir, "d"+strconv.Itoa(i))
		require.NoError(t, os.Mkdir(sub, 0o755))
		ops = append(ops, testutil.Op{Kind: testutil.OpOpenat, Path: filepath.Join("d"+strconv.Itoa(i), "f")})
	}
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})
	waitTotal(t, sink, dirs)
	stop()

	batch := lastBatch(sink)
	var regular, overflow int
	for _, p := range batch["kernel.file.creations"] {
		if p.attrs["otel.metric.overflow"] == true {
			overflow++
			assert.Equal(t, map[string]any{"otel.metric.overflow": true}, p.attrs, "the overflow series carries nothing else")
			assert.Equal(t, int64(dirs-3), p.value)
		} else {
			regular++
		}
	}
	assert.Equal(t, 3, regular)
	assert.Equal(t, 1, overflow)
	assert.Equal(t, int64(dirs-3), batch["kernel.series.overflowed"][0].value)
	assert.Equal(t, int64(3), batch["kernel.series.active"][0].value)
}

func TestRestartStartsNewSeries(t *testing.T) {
	dir := testutil.TempDir(t)
	cfg := testConfig(dir)
	var starts []pcommon.Timestamp
	for range 2 {
		sink, stop := startReceiver(t, cfg)
		testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "x" + strconv.Itoa(len(starts))}}})
		require.Eventually(t, func() bool { return len(lastBatch(sink)["kernel.file.creations"]) > 0 }, 10*time.Second, 50*time.Millisecond)
		stop()
		ps := lastBatch(sink)["kernel.file.creations"]
		require.Len(t, ps, 1)
		assert.Equal(t, int64(1), ps[0].value, "a restarted receiver counts from zero")
		starts = append(starts, ps[0].start)
	}
	assert.Less(t, starts[0], starts[1], "a restarted receiver starts new series")
}

func TestStartFailsWithReason(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := createDefaultConfig().(*Config)
	cfg.Hook = "kretprobe"
	r, err := kernelFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = r.Start(context.Background(), componenttest.NewNopHost())
	if err == nil {
		require.NoError(t, r.Shutdown(context.Background()))
		t.Skip("this kernel has kprobes: nothing to refuse")
	}
	assert.Contains(t, err.Error(), "kretprobe")
	assert.Contains(t, err.Error(), "kprobes are not available")
	require.NoError(t, r.Shutdown(context.Background()))
}
