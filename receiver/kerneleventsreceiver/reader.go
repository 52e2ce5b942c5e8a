// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/probe"
)

// read drains the ring buffer until the probe is closed. It never waits for
// identity lookups: a sample whose creator is not cached is handed to the
// resolver's workers, which deliver it.
func (r *kernelEventsReceiver) read() {
	defer close(r.readDone)
	var e event.Event
	for {
		err := r.probe.Read(&e)
		switch {
		case err == nil:
			r.received.Add(1)
			now := time.Now()
			r.lag.observe(monotonicNs() - int64(e.TimeNs))
			if id, f, ok := r.resolver.Lookup(&e, now); ok {
				r.deliver(&e, id, f, now)
			}
		case errors.Is(err, event.ErrMalformed):
			r.malformed.Add(1)
		case errors.Is(err, probe.ErrDrained), errors.Is(err, os.ErrClosed):
			return
		default:
			err = fmt.Errorf("read ring buffer: %w", err)
			r.set.Logger.Error("Kernel events reader stopped", zap.Error(err))
			componentstatus.ReportStatus(r.host, componentstatus.NewPermanentErrorEvent(err))
			return
		}
	}
}

// deliver counts a sample whose workload is known, on the reader or a
// resolver worker.
func (r *kernelEventsReceiver) deliver(e *event.Event, id uint32, f *identity.Facts, receivedAt time.Time) {
	if r.metrics != nil {
		r.table.AddAs(e, id)
	}
	if r.evidence != nil {
		r.evidence.add(e, id, *f, receivedAt)
	}
	r.idLag.observe(int64(time.Since(receivedAt)))
	r.delivered.Add(1)
}

// lagStats keeps the largest and the mean of a delay, in nanoseconds.
type lagStats struct {
	max, sum, n atomic.Int64
}

func (l *lagStats) observe(ns int64) {
	l.sum.Add(ns)
	l.n.Add(1)
	for {
		m := l.max.Load()
		if ns <= m || l.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// snapshot returns the largest and the mean delay so far.
func (l *lagStats) snapshot() (maxLag, mean time.Duration) {
	n := l.n.Load()
	if n == 0 {
		return 0, 0
	}
	return time.Duration(l.max.Load()), time.Duration(l.sum.Load() / n)
}

// monotonicNs is CLOCK_MONOTONIC, the clock of the samples' ts_ns.
func monotonicNs() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
