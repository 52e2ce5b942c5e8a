// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// flushTick hands buffered evidence records on, every flush interval.
func (r *kernelEventsReceiver) flushTick(ctx context.Context) bool {
	r.flushLogs(ctx, false)
	return true
}

// endEvidence ends the evidence stream when the logs pipeline shuts down
// while another pipeline keeps the receiver running: the collector may shut
// the logs pipeline's exporters down before the last pipeline, so the last
// records and the final checkpoint go now. Creations after it are counted by
// the metrics only (the logs pipeline is gone).
func (r *kernelEventsReceiver) endEvidence(ctx context.Context) {
	if r.evidence == nil || r.evidence.ended() {
		return
	}
	r.logsCancel()
	<-r.logsDone
	r.flushLogs(ctx, true)
	r.evidence.end()
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
