// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadatatest"
)

// TestComponentTelemetry: the receiver's health is component telemetry
// (otelcol_kernel_events_*) with the same values the data stream's
// kernel.events.received, kernel.events.lost (every reason), kernel.probe.hook
// and kernel.series.active carry; after Shutdown it reports nothing more.
func TestComponentTelemetry(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	src := newFakeSource()
	src.hook = probe.HookFexit
	f := newFactory(func(probe.Options) (source, error) { return src, nil })
	sink := new(consumertest.MetricsSink)
	m, err := f.CreateMetrics(context.Background(), metadatatest.NewSettings(tel), fakeConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background(), componenttest.NewNopHost()))
	r := m.(*handle).r
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			require.NoError(t, m.Shutdown(context.Background()))
		}
	})

	for _, p := range []string{"/tmp/a/1", "/tmp/a/2", "/srv/b/3"} {
		src.push(sample(p))
	}
	src.pushRaw([]byte{1, 2, 3}) // malformed
	src.setLost("ring_buffer_full", 7)
	require.Eventually(t, func() bool { return r.received.Load()+r.malformed.Load() == 4 && r.table.Len() == 2 },
		10*time.Second, time.Millisecond)

	ignore := []metricdatatest.Option{metricdatatest.IgnoreTimestamp()}
	metadatatest.AssertEqualKernelEventsReceived(t, tel, []metricdata.DataPoint[int64]{{Value: 3}}, ignore...)
	metadatatest.AssertEqualKernelEventsSeriesActive(t, tel, []metricdata.DataPoint[int64]{{Value: 2}}, ignore...)
	metadatatest.AssertEqualKernelEventsProbeHook(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("kernelevents.hook", "fexit"))}}, ignore...)
	var lost []metricdata.DataPoint[int64]
	for _, reason := range slices.Sorted(maps.Keys(metadata.MapAttributeKerneleventsLostReason)) {
		v := int64(0)
		switch reason {
		case "ring_buffer_full":
			v = 7
		case "malformed":
			v = 1
		}
		lost = append(lost, metricdata.DataPoint[int64]{Value: v,
			Attributes: attribute.NewSet(attribute.String("kernelevents.lost.reason", reason))})
	}
	require.Greater(t, len(lost), 2)
	metadatatest.AssertEqualKernelEventsLost(t, tel, lost, ignore...)

	// The data stream says the same.
	lostNow, err := src.LostByReason()
	require.NoError(t, err)
	r.emit(context.Background(), losses{byReason: lostNow})
	batch := lastBatch(sink)
	require.Len(t, batch["kernel.events.received"], 1)
	require.Len(t, batch["kernel.series.active"], 1)
	assert.Equal(t, int64(3), batch["kernel.events.received"][0].value)
	assert.Equal(t, int64(2), batch["kernel.series.active"][0].value)
	// metadata.yaml's sem_conv_version gives every resource a schema URL.
	all := sink.AllMetrics()
	rms := all[len(all)-1].ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		assert.Equal(t, "https://opentelemetry.io/schemas/1.38.0", rms.At(i).SchemaUrl())
	}

	require.NoError(t, m.Shutdown(context.Background()))
	stopped = true
	for _, name := range []string{"otelcol_kernel_events_received", "otelcol_kernel_events_lost",
		"otelcol_kernel_events_probe_hook", "otelcol_kernel_events_series_active"} {
		if got, err := tel.GetMetric(name); err == nil {
			t.Errorf("after Shutdown the receiver still reports %s: %+v", name, got)
		}
	}
}
