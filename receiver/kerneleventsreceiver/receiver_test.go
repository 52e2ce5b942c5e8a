// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"context"
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
