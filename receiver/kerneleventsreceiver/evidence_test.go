// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// startBoth creates the receiver for a metrics and a logs pipeline, as the
// collector does for one id in two pipelines, and starts both.
func startBoth(t *testing.T, cfg *Config) (*consumertest.MetricsSink, *consumertest.LogsSink, func()) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireTracefs(t)
	f := kernelFactory()
	set := receivertest.NewNopSettings(metadata.Type)
	msink, lsink := new(consumertest.MetricsSink), new(consumertest.LogsSink)
	m, err := f.CreateMetrics(context.Background(), set, cfg, msink)
	require.NoError(t, err)
	l, err := f.CreateLogs(context.Background(), set, cfg, lsink)
	require.NoError(t, err)
	require.Same(t, m.(*handle).r, l.(*handle).r, "one receiver id shares one instance (one probe)")
	host := componenttest.NewNopHost()
	require.NoError(t, m.Start(context.Background(), host))
	require.NoError(t, l.Start(context.Background(), host))
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		require.NoError(t, m.Shutdown(context.Background()))
		// The probe stays attached until the last pipeline shuts down.
		assert.NotNil(t, l.(*handle).r.cancel)
		require.NoError(t, l.Shutdown(context.Background()))
		assert.Nil(t, l.(*handle).r.cancel)
	}
	t.Cleanup(stop)
	return msink, lsink, stop
}

type record struct {
	attrs map[string]any
	body  string
	name  string
	ts    time.Time
}

// records returns the creation and gap records the sink got, in order
// (checkpoints, the chain's own records, are left out: see
// evidence_chain_test.go).
func records(sink *consumertest.LogsSink) []record {
	var out []record
	for _, ld := range sink.AllLogs() {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if lr.EventName() == chain.EventCheckpoint {
						continue
					}
					attrs := lr.Attributes().AsRaw()
					for kk, v := range rls.At(i).Resource().Attributes().AsRaw() {
						attrs["resource."+kk] = v
					}
					out = append(out, record{attrs, lr.Body().AsString(), lr.EventName(), lr.Timestamp().AsTime()})
				}
			}
		}
	}
	return out
}

func TestEvidenceRecordsMatchMetrics(t *testing.T) {
	dir := testutil.TempDir(t)
	cfg := testConfig(dir)
	cfg.Evidence.FlushInterval = 100 * time.Millisecond
	msink, lsink, stop := startBoth(t, cfg)

	const n = 12
	ops := make([]testutil.Op, n)
	for i := range ops {
		ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: "e" + strconv.Itoa(i)}
	}
	before := time.Now()
	held := testutil.StartHeld(t, testutil.ChildSpec{Dir: dir, Ops: ops}) // alive for the /proc lookup, until its records are there
	require.Eventually(t, func() bool { return len(records(lsink)) >= n }, 10*time.Second, 50*time.Millisecond)
	child := held.Release(t)
	stop()

	rs := records(lsink)
	require.Len(t, rs, n, "exactly one record per created file")
	seen := map[string]bool{}
	for _, r := range rs {
		assert.Equal(t, EventName, r.name)
		assert.Equal(t, int64(child.PID), r.attrs["process.pid"])
		assert.NotZero(t, r.attrs["thread.id"])
		assert.Equal(t, int64(0), r.attrs["process.user.id"])
		assert.Equal(t, "root", r.attrs["process.user.name"])
		assert.Equal(t, testutil.ChildComm, r.attrs["kernelevents.process.comm"])
		assert.Equal(t, filepath.Base(testutil.Exe()), r.attrs["process.executable.name"])
		assert.Equal(t, testutil.Exe(), r.attrs["process.executable.path"])
		assert.Equal(t, dir, r.attrs["file.directory"])
		assert.Equal(t, "tracepoint", r.attrs["kernelevents.hook"])
		assert.Equal(t, "unmatched", r.attrs["resource.kernelevents.identity.rule"])
		assert.Contains(t, r.body, "created "+dir+"/e")
		assert.WithinDuration(t, before, r.ts, 5*time.Second, "kernel timestamp converted to wall time")
		seen[r.attrs["file.path"].(string)] = true
	}
	assert.Len(t, seen, n)

	var counted int64
	for _, p := range lastBatch(msink)["kernel.file.creations"] {
		counted += p.value
	}
	assert.Equal(t, int64(n), counted, "the metrics pipeline of the same receiver counts the same files")
}

func TestEvidenceRateLimitCountsShed(t *testing.T) {
	dir := testutil.TempDir(t)
	cfg := testConfig(dir)
	cfg.Evidence.MaxRecordsPerSecond = 10
	cfg.Evidence.FlushInterval = 100 * time.Millisecond
	msink, lsink, stop := startBoth(t, cfg)

	const n = 200
	ops := make([]testutil.Op, n)
	for i := range ops {
		ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: "r" + strconv.Itoa(i)}
	}
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})
	waitTotal(t, msink, n)
	stop()

	var kept, gapShed int
	for _, r := range records(lsink) {
		switch r.name {
		case EventName:
			kept++
		case "kernel.evidence.gap":
			gapShed += int(r.attrs["kernelevents.evidence.shed"].(int64))
		}
	}
	shed := lastBatch(msink)["kernel.evidence.shed"]
	require.Len(t, shed, 1)
	t.Logf("%d created: %d records, %d shed", n, kept, shed[0].value)
	assert.GreaterOrEqual(t, kept, 10, "the burst allowance is one second's worth")
	assert.LessOrEqual(t, kept, 10+20, "the limit holds (plus what refills during the run)")
	assert.Equal(t, n, kept+int(shed[0].value), "records + shed = created")
	assert.Equal(t, int(shed[0].value), gapShed, "the log stream itself says how much it is missing")
}

func TestRateLimit(t *testing.T) {
	now := time.Unix(0, 0)
	b := newRateLimit(2)
	assert.True(t, b.AllowN(now, 1))
	assert.True(t, b.AllowN(now, 1))
	assert.False(t, b.AllowN(now, 1), "the burst is one second's worth")
	assert.True(t, b.AllowN(now.Add(600*time.Millisecond), 1), "refilled at 2/s")
	assert.False(t, b.AllowN(now.Add(600*time.Millisecond), 1))
	unlimited := newRateLimit(0)
	for range 100 {
		assert.True(t, unlimited.AllowN(now, 1))
	}
}
