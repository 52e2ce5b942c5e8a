// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// logsLoop hands buffered evidence records on every flush interval.
func (r *kernelEventsReceiver) logsLoop(ctx context.Context) {
	defer close(r.logsDone)
	t := time.NewTicker(r.cfg.Evidence.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.flushLogs(ctx, false)
		}
	}
}

func (r *kernelEventsReceiver) flushLogs(ctx context.Context, final bool) {
	ld, ok := r.evidence.take(final, time.Now())
	if !ok {
		return
	}
	ctx = r.obs.StartLogsOp(ctx)
	err := r.logs.ConsumeLogs(ctx, ld)
	r.obs.EndLogsOp(ctx, metadata.Type.String(), ld.LogRecordCount(), err)
	if err != nil {
		r.set.Logger.Warn("Next consumer refused kernel_events evidence records", zap.Error(err), zap.Int("records", ld.LogRecordCount()))
	}
}

// evidenceCounts is what a checkpoint states: the samples read and the
// losses by reason since start, every reason of kernel.events.lost. After
// the probe is closed (the final checkpoint) the counters read at shutdown.
func (r *kernelEventsReceiver) evidenceCounts() checkpointCounts {
	var l losses
	if r.finalLosses != nil {
		l = *r.finalLosses
	} else {
		l = r.readLosses()
	}
	out := make(map[string]uint64, len(metadata.MapAttributeKerneleventsLostReason))
	for name, reason := range metadata.MapAttributeKerneleventsLostReason {
		out[name] = l.byReason[name]
		if reason == metadata.AttributeKerneleventsLostReasonMalformed {
			out[name] = r.malformed.Load()
		}
	}
	return checkpointCounts{received: r.received.Load(), lost: out, lostByCgroup: l.byCgroup}
}
