// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// TestFakeEvidenceOperations: each way a name comes to be has its own verb
// in the record's body and its operation and file type in
// kernelevents.file.operation and kernelevents.file.type, and the
// kernel.file.creations series keep the operations apart.
func TestFakeEvidenceOperations(t *testing.T) {
	cases := []struct {
		path      string
		op        event.Op
		typ       event.Type
		verb      string
		operation string
		fileType  string
	}{
		{"/ops/create/f", event.OpCreate, event.TypeFile, "created", "create", "file"},
		{"/ops/symlink/l", event.OpSymlink, event.TypeSymlink, "made a symbolic link", "symlink", "symlink"},
		{"/ops/copyup/f", event.OpCopyUp, event.TypeFile, "copied up into", "copy_up", "file"},
		{"/ops/link/f", event.OpLink, event.TypeFile, "linked", "link", "file"},
		{"/ops/rename/f", event.OpRename, event.TypeFile, "renamed into", "rename", "file"},
		{"/ops/renamedir/d", event.OpRename, event.TypeDirectory, "renamed a directory into", "rename", "directory"},
	}
	run := startFake(t, fakeConfig(), true, nil)
	for _, c := range cases {
		e := sample(c.path)
		e.Op, e.Type = c.op, c.typ
		run.src.push(e)
	}
	run.waitDelivered(t, uint64(len(cases)))
	run.r.flushLogs(context.Background(), true)
	byPath := map[string]record{}
	for _, r := range records(run.lsink) {
		if r.name == EventName {
			byPath[r.attrs["file.path"].(string)] = r
		}
	}
	series := map[string]string{}
	for _, p := range run.emit(t)["kernel.file.creations"] {
		series[p.attrs["kernelevents.directory.prefix"].(string)] = p.attrs["kernelevents.file.operation"].(string)
	}
	for _, c := range cases {
		r, ok := byPath[c.path]
		require.True(t, ok, "a record of %s", c.path)
		assert.Contains(t, r.body, " "+c.verb+" "+c.path+" (pid ", c.path)
		assert.Equal(t, c.operation, r.attrs["kernelevents.file.operation"], c.path)
		assert.Equal(t, c.fileType, r.attrs["kernelevents.file.type"], c.path)
		dir := c.path[:len(c.path)-2]
		assert.Equal(t, c.operation, series[dir], "the series of %s", dir)
	}
}

// TestFakeLostCountersUnreadable: a collection whose kernel loss counters
// cannot be read logs a warning for each counter and still emits what it
// has: the received count and the series.
func TestFakeLostCountersUnreadable(t *testing.T) {
	src := newFakeSource()
	core, logs := observer.New(zap.WarnLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	sink := new(consumertest.MetricsSink)
	m, err := newFactory(func(probe.Options) (source, error) { return src, nil }).CreateMetrics(context.Background(), set, fakeConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	r := m.(*handle).r
	src.push(sample("/unread/a/f"))
	require.Eventually(t, func() bool { return r.delivered.Load() >= 1 }, 10*time.Second, time.Millisecond)
	src.mu.Lock()
	src.lostErr = errors.New("map lookup failed")
	src.mu.Unlock()
	r.emitTick(context.Background())
	var msgs []string
	for _, e := range logs.All() {
		msgs = append(msgs, e.Message)
		assert.Equal(t, "map lookup failed", e.ContextMap()["error"], e.Message)
	}
	assert.ElementsMatch(t, []string{"Cannot read the kernel's lost-sample counter", "Cannot read the kernel's lost-sample counter by cgroup"}, msgs)
	batch := lastBatch(sink)
	require.Len(t, batch["kernel.events.received"], 1)
	assert.EqualValues(t, 1, batch["kernel.events.received"][0].value)
	assert.Contains(t, creations(batch), "/unread/a")
}
