// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"errors"
	"maps"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// startTelemetry registers the receiver's component telemetry (metadata.yaml
// telemetry:, the collector's own otelcol_kernel_events_* metrics): the
// counters the data stream's kernel.events.*, kernel.probe.hook and
// kernel.series.active carry, read live from the same sources whenever the
// collector's telemetry is collected, with or without a metrics pipeline.
// Called once the probe and the table exist; stopTelemetry unregisters the
// callbacks before the probe is closed.
func (r *kernelEventsReceiver) startTelemetry() error {
	tb, err := metadata.NewTelemetryBuilder(r.set.TelemetrySettings)
	if err != nil {
		return err
	}
	lostKey := string(metadata.KernelEventsLostMetricAttributeKeyKerneleventsLostReason)
	hookKey := string(metadata.KernelProbeHookMetricAttributeKeyKerneleventsHook)
	err = errors.Join(
		tb.RegisterKernelEventsReceivedCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(r.received.Load()))
			return nil
		}),
		tb.RegisterKernelEventsLostCallback(func(_ context.Context, o metric.Int64Observer) error {
			lost, err := r.probe.LostByReason()
			if err != nil {
				return err
			}
			// Every reason, zero or not, as the data stream reports them.
			for _, name := range slices.Sorted(maps.Keys(metadata.MapAttributeKerneleventsLostReason)) {
				n := lost[name]
				if metadata.MapAttributeKerneleventsLostReason[name] == metadata.AttributeKerneleventsLostReasonMalformed {
					n = r.malformed.Load()
				}
				o.Observe(int64(n), metric.WithAttributes(attribute.String(lostKey, name)))
			}
			return nil
		}),
		tb.RegisterKernelEventsProbeHookCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(1, metric.WithAttributes(attribute.String(hookKey, probeHookAttr(r.probe.Hook()).String())))
			return nil
		}),
		tb.RegisterKernelEventsSeriesActiveCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(r.table.Len()))
			return nil
		}),
	)
	if err != nil {
		tb.Shutdown()
		return err
	}
	r.telemetry = tb
	return nil
}

func (r *kernelEventsReceiver) stopTelemetry() {
	if r.telemetry != nil {
		r.telemetry.Shutdown()
		r.telemetry = nil
	}
}
