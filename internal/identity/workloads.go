// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

type workloadEntry struct {
	attrs []KV
	key   string
	used  time.Time
	live  bool
}

// workloadTable interns resources: each distinct attribute set gets a small
// id, at most max alive at once (past it, OverflowWorkload, counted). Ids
// nothing refers to for the grace period are freed by sweep and reused.
type workloadTable struct {
	mu       sync.Mutex
	entries  []workloadEntry
	free     []uint32
	nlive    int
	byKey    map[string]uint32
	overflow uint64
	max      int
}

func newWorkloadTable(maxLive int) *workloadTable {
	return &workloadTable{
		entries: []workloadEntry{
			{key: "", live: true},
			{attrs: []KV{{AttrOverflow, "true"}}, key: "\x00overflow", live: true},
		},
		byKey: map[string]uint32{"": HostWorkload},
		max:   maxLive,
	}
}

// intern returns the id of the resource with attrs, marked used now.
func (t *workloadTable) intern(attrs map[string]string, now time.Time) uint32 {
	kvs := make([]KV, 0, len(attrs))
	for k, v := range attrs {
		kvs = append(kvs, KV{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	var key strings.Builder
	for _, kv := range kvs {
		fmt.Fprintf(&key, "%q=%q;", kv.Key, kv.Value)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.byKey[key.String()]; ok {
		t.entries[id].used = now
		return id
	}
	if t.nlive >= t.max {
		t.overflow++
		t.entries[OverflowWorkload].used = now
		return OverflowWorkload
	}
	w := workloadEntry{attrs: kvs, key: key.String(), used: now, live: true}
	var id uint32
	if n := len(t.free); n > 0 {
		id = t.free[0]
		t.free = t.free[1:]
		t.entries[id] = w
	} else {
		id = uint32(len(t.entries))
		t.entries = append(t.entries, w)
	}
	t.byKey[w.key] = id
	t.nlive++
	return id
}

// touch marks id used now.
func (t *workloadTable) touch(id uint32, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if int(id) < len(t.entries) {
		t.entries[id].used = now
	}
}

// get returns the attributes of id.
func (t *workloadTable) get(id uint32) Workload {
	t.mu.Lock()
	defer t.mu.Unlock()
	if int(id) >= len(t.entries) {
		return Workload{}
	}
	return Workload{Attrs: t.entries[id].attrs}
}

// sweep frees the ids not used since cutoff that inUse does not name (the
// host and overflow workloads stay).
func (t *workloadTable) sweep(cutoff time.Time, inUse func(uint32) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := OverflowWorkload + 1; int(id) < len(t.entries); id++ {
		w := &t.entries[id]
		if !w.live || inUse(id) || !w.used.Before(cutoff) {
			continue
		}
		delete(t.byKey, w.key)
		*w = workloadEntry{}
		t.free = append(t.free, id)
		t.nlive--
	}
}

// stats returns the live workloads and the overflow count.
func (t *workloadTable) stats() (live int, overflow uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nlive, t.overflow
}
