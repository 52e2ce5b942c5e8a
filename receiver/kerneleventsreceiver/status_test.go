// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// statusHost records the component status events reported to it, as the
// collector's service does for health_check.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

var _ componentstatus.Reporter = (*statusHost)(nil)

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func (h *statusHost) permanent() *componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.events {
		if ev.Status() == componentstatus.StatusPermanentError {
			return ev
		}
	}
	return nil
}

// TestReaderDeathReportsPermanentError: when the ring-buffer reader stops
// on an error (here: the ring's consumer position corrupted from outside),
// the receiver reports a permanent error naming it, which health_check turns
// into an unhealthy status (internal/e2etest TestAgentHealthFailsWhenReaderDies
// runs that part with the shipped agent); Shutdown still works.
func TestReaderDeathReportsPermanentError(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTracefs(t)
	dir := testutil.TempDir(t)
	sink := new(consumertest.MetricsSink)
	host := &statusHost{Host: componenttest.NewNopHost()}
	r, err := kernelFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), testConfig(dir), sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()

	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "alive"}}})
	waitTotal(t, sink, 1)
	require.Nil(t, host.permanent(), "no permanent error while the reader runs")

	testutil.CorruptRingConsumer(t, testutil.RingBufferOf(t, os.Getpid()))
	require.Eventually(t, func() bool { return host.permanent() != nil }, 10*time.Second, 20*time.Millisecond,
		"no permanent error reported after the reader died")
	ev := host.permanent()
	require.True(t, strings.Contains(ev.Err().Error(), "read ring buffer"), "the error names the reader: %v", ev.Err())
}
