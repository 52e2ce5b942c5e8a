// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
)

// The resolver's jobs, each on its own.

func TestProcCache(t *testing.T) {
	c := newProcCache(time.Second, 2)
	now := time.Unix(100, 0)
	a, b, d := procKey{tgid: 1}, procKey{tgid: 2, cgroup: 9}, procKey{tgid: 3}
	c.put(a, Facts{Comm: "a"}, 5, 0, now)
	ent, ok := c.get(a, 0, now)
	require.True(t, ok)
	assert.Equal(t, "a", ent.facts.Comm)
	assert.Equal(t, uint32(5), ent.workload)
	_, ok = c.get(a, 1, now)
	assert.False(t, ok, "computed with other rules")
	_, ok = c.get(a, 0, now.Add(time.Second))
	assert.False(t, ok, "past its time")
	// A SPIFFE answer that expires sooner bounds the entry.
	c.put(b, Facts{SPIFFE: SPIFFEFacts{Status: SPIFFEIssued, expires: now.Add(time.Millisecond)}}, 6, 0, now)
	_, ok = c.get(b, 0, now.Add(2*time.Millisecond))
	assert.False(t, ok)
	// Full of fresh entries: all go rather than grow.
	c.put(d, Facts{}, 7, 0, now)
	assert.Equal(t, 1, c.len())
	_, ok = c.get(d, 0, now)
	assert.True(t, ok)

	c.put(a, Facts{}, 5, 0, now)
	in := newRefs()
	c.sweep(0, now, map[uint32]bool{1: true}, in)
	assert.Equal(t, 1, c.len(), "process 3 is not alive")
	assert.Equal(t, map[uint32]bool{5: true}, in.workloads)
	c.sweep(1, now, map[uint32]bool{1: true}, newRefs())
	assert.Zero(t, c.len(), "the rules changed")
}

func TestPathCache(t *testing.T) {
	c := newPathCache[uint64](2)
	t0 := time.Unix(100, 0)
	c.put(1, "/a", t0)
	c.learn(1, "/other", t0)
	p, _ := c.peek(1)
	assert.Equal(t, "/a", p, "learn keeps what is known")
	c.put(2, "/b", t0)
	c.put(3, "/c", t0)
	_, ok := c.peek(3)
	assert.False(t, ok, "no room")
	c.put(1, "/a2", t0)
	p, _ = c.peek(1)
	assert.Equal(t, "/a2", p, "a known path is replaced when full")

	t1 := t0.Add(time.Minute)
	_, _ = c.get(2, t1) // used
	assert.Equal(t, map[uint64]string{1: "/a2"}, c.stale(t1))
	c.put(3, "x", t0) // still full
	c.sweep(t1, t1, func(k uint64) verdict { return drop })
	assert.Equal(t, 1, c.len(), "only the stale entry goes")
	c.put(4, "/d", t0)
	c.sweep(t1, t1, func(uint64) verdict { return refresh })
	assert.Empty(t, c.stale(t1), "refreshed")
	c.sweep(t1.Add(time.Second), t1, func(uint64) verdict { return keep })
	assert.Equal(t, 2, c.len())
}

func TestWorkloadTable(t *testing.T) {
	w := newWorkloadTable(2)
	t0 := time.Unix(100, 0)
	assert.Equal(t, HostWorkload, w.intern(map[string]string{}, t0))
	a := w.intern(map[string]string{"team": "a", "x": "1"}, t0)
	assert.Equal(t, a, w.intern(map[string]string{"x": "1", "team": "a"}, t0), "one id per attribute set")
	assert.Equal(t, []KV{{"team", "a"}, {"x", "1"}}, w.get(a).Attrs, "sorted by key")
	b := w.intern(map[string]string{"team": "b"}, t0)
	assert.Equal(t, OverflowWorkload, w.intern(map[string]string{"team": "c"}, t0), "two alive at most")
	assert.Equal(t, []KV{{AttrOverflow, "true"}}, w.get(OverflowWorkload).Attrs)
	live, overflow := w.stats()
	assert.Equal(t, 2, live)
	assert.Equal(t, uint64(1), overflow)

	t1 := t0.Add(time.Minute)
	w.touch(b, t1)
	w.sweep(t1, func(id uint32) bool { return false })
	assert.Empty(t, w.get(a).Attrs, "a was freed")
	assert.NotEmpty(t, w.get(b).Attrs, "b was used since")
	assert.Equal(t, a, w.intern(map[string]string{"team": "c"}, t1), "a freed id is reused")
	w.sweep(t1.Add(time.Hour), func(id uint32) bool { return id == a })
	assert.Equal(t, []KV{{"team", "c"}}, w.get(a).Attrs, "in use")
	assert.Empty(t, w.get(b).Attrs)
	assert.Empty(t, w.get(HostWorkload).Attrs, "the host stays")
	assert.Equal(t, []KV{{AttrOverflow, "true"}}, w.get(OverflowWorkload).Attrs, "so does the overflow")
}

func TestPendingQueue(t *testing.T) {
	q := newPendingQueue(3)
	e := &event.Event{TGID: 1, Comm: []byte("c"), Path: []byte("/x")}
	k := keyOf(e)
	assert.Equal(t, queueShut, q.add(k, newPending(e, time.Time{})), "not open: the caller resolves")
	keys := q.open()
	for range 2 {
		assert.Equal(t, queuedOK, q.add(k, newPending(e, time.Time{})))
	}
	other := &event.Event{TGID: 2, CgroupID: 7}
	assert.Equal(t, queuedOK, q.add(keyOf(other), newPending(other, time.Time{})))
	assert.Equal(t, queueFull, q.add(k, newPending(e, time.Time{})))
	assert.Equal(t, 3, q.len())
	assert.Equal(t, 2, len(keys), "one key per process")
	in := newRefs()
	q.addRefs(in)
	assert.True(t, in.cgroups[7])

	e.Path[0] = 'y' // the reader's buffer is reused
	got := <-keys
	assert.Equal(t, k, got)
	assert.Equal(t, "/x", string(q.first(got).event().Path), "a copy")
	assert.Len(t, q.take(got), 2)
	assert.Equal(t, 1, q.len())
	q.close()
	q.close()
	assert.Equal(t, queueShut, q.add(k, newPending(e, time.Time{})), "closed")
	assert.Equal(t, keyOf(other), <-keys, "the keys queued are still taken")
	_, open := <-keys
	assert.False(t, open)
}
