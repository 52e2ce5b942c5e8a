// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestShutdownDrainsTheRing: with wakeups batched far above what is written
// and a latency bound far beyond the test, the samples still sit in the ring
// when Shutdown comes. The last batch counts each as received (or lost):
// before, Shutdown closed the reader and they were neither.
func TestShutdownDrainsTheRing(t *testing.T) {
	dir := testutil.TempDir(t)
	cfg := testConfig(dir)
	cfg.RingBufferSize = 1 << 20
	cfg.Wakeup.Bytes = 512 << 10
	cfg.Wakeup.MaxLatency = time.Hour
	cfg.CollectionInterval = time.Hour
	sink, stop := startReceiver(t, cfg)

	const n = 400 // 400 × 312 bytes, under wakeup::bytes
	ops := make([]testutil.Op, n)
	for i := range ops {
		ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: "d" + strconv.Itoa(i)}
	}
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})
	require.Empty(t, sink.AllMetrics(), "nothing emitted before Shutdown (otherwise this test proves nothing)")
	stop()

	batch := lastBatch(sink)
	require.Len(t, batch["kernel.events.received"], 1)
	received := batch["kernel.events.received"][0].value
	var lost int64
	for _, p := range batch["kernel.events.lost"] {
		lost += p.value
	}
	var counted int64
	for _, p := range batch["kernel.file.creations"] {
		counted += p.value
	}
	t.Logf("%d created, %d received, %d lost, %d counted", n, received, lost, counted)
	assert.Equal(t, int64(n), received+lost, "received + lost equals created")
	assert.Equal(t, int64(n), counted, "and each received creation is in the series")
}
