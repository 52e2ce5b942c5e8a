// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"sync"
	"time"

	"github.com/kernelevents/kernelevents/internal/event"
)

// procKey names one process in one state: an exec, a setuid or a move to
// another cgroup makes a new key, so cached facts are never those of another
// executable, user or cgroup.
type procKey struct {
	tgid           uint32
	uid, gid       uint32 // effective
	cgroup         uint64
	exeDev, exeIno uint64
	start          uint64
	execState      event.ExecState
	execNs         uint64
}

func keyOf(e *event.Event) procKey {
	return procKey{e.TGID, e.EUID, e.EGID, e.CgroupID, e.ExeDev, e.ExeIno, e.StartNs, e.ExecState, e.ExecNs}
}

type procEntry struct {
	facts    Facts
	workload uint32
	gen      uint64 // of the rules the workload was computed with
	expires  time.Time
}

// procCache is the process cache: each process's facts and workload, for
// at most ttl (less when a SPIFFE answer expires sooner) and while the rules
// they were computed with are in force, at most max entries.
type procCache struct {
	mu  sync.Mutex
	m   map[procKey]*procEntry
	ttl time.Duration
	max int
}

func newProcCache(ttl time.Duration, maxEntries int) *procCache {
	return &procCache{m: map[procKey]*procEntry{}, ttl: ttl, max: maxEntries}
}

// get returns k's entry while it is fresh and of rules generation gen. The
// entry is never changed once stored.
func (c *procCache) get(k procKey, gen uint64, now time.Time) (*procEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ent, ok := c.m[k]
	if !ok || ent.gen != gen || !now.Before(ent.expires) {
		return nil, false
	}
	return ent, true
}

// put stores what k's lookup found. When the cache is full it first drops
// the entries past their time or generation, and when all are fresh it
// drops them all rather than grow (they are looked up again).
func (c *procCache) put(k procKey, f Facts, workload uint32, gen uint64, now time.Time) *procEntry {
	ent := &procEntry{facts: f, workload: workload, gen: gen, expires: spiffeExpiry(&f, now.Add(c.ttl))}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.expire(gen, now)
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = ent
	return ent
}

func (c *procCache) expire(gen uint64, now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.expires) || e.gen != gen {
			delete(c.m, k)
		}
	}
}

// tgids returns the processes the cache holds.
func (c *procCache) tgids() map[uint32]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[uint32]bool, len(c.m))
	for k := range c.m {
		out[k.tgid] = true
	}
	return out
}

// refs are what cached processes and waiting samples refer to: what a
// sweep keeps.
type refs struct {
	workloads map[uint32]bool
	cgroups   map[uint64]bool
	exes      map[exeKey]bool // by device and inode only
}

func newRefs() refs {
	return refs{workloads: map[uint32]bool{}, cgroups: map[uint64]bool{}, exes: map[exeKey]bool{}}
}

func (r refs) add(k procKey) {
	r.cgroups[k.cgroup] = true
	r.exes[exeKey{dev: k.exeDev, ino: k.exeIno}] = true
}

// sweep drops the entries past their time or generation and those of
// processes not alive, and adds what the others refer to to in.
func (c *procCache) sweep(gen uint64, now time.Time, alive map[uint32]bool, in refs) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if !now.Before(e.expires) || e.gen != gen || !alive[k.tgid] {
			delete(c.m, k)
			continue
		}
		in.workloads[e.workload] = true
		in.add(k)
	}
}

func (c *procCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// stamped is a path checked once and when it was last used.
type stamped struct {
	path string
	used time.Time
}

// pathCache holds checked paths (cgroup paths by id, executables by
// device, inode and path inside their filesystem), at most max; past it a
// new path is not kept. A sweep forgets what was not used for the grace
// period and nothing refers to.
type pathCache[K comparable] struct {
	mu  sync.Mutex
	m   map[K]*stamped
	max int
}

func newPathCache[K comparable](maxEntries int) *pathCache[K] {
	return &pathCache[K]{m: map[K]*stamped{}, max: maxEntries}
}

// get returns k's path and marks it used now.
func (c *pathCache[K]) get(k K, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.m[k]
	if s == nil {
		return "", false
	}
	s.used = now
	return s.path, true
}

// peek returns k's path without marking it used.
func (c *pathCache[K]) peek(k K) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.m[k]; s != nil {
		return s.path, true
	}
	return "", false
}

// put stores k's path, replacing one known, when there is room.
func (c *pathCache[K]) put(k K, p string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok || len(c.m) < c.max {
		c.m[k] = &stamped{p, now}
	}
}

// learn stores k's path unless it is known or there is no room.
func (c *pathCache[K]) learn(k K, p string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) < c.max {
		c.m[k] = &stamped{p, now}
	}
}

// stale returns the entries not used since cutoff.
func (c *pathCache[K]) stale(cutoff time.Time) map[K]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[K]string{}
	for k, s := range c.m {
		if s.used.Before(cutoff) {
			out[k] = s.path
		}
	}
	return out
}

// verdict is what a sweep does with an entry not used since its cutoff.
type verdict int

const (
	keep    verdict = iota // referred to: left as it is
	refresh                // still true: marked used now
	drop                   // forgotten
)

// sweep asks decide about each entry not used since cutoff.
func (c *pathCache[K]) sweep(cutoff, now time.Time, decide func(K) verdict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.m {
		if !s.used.Before(cutoff) {
			continue
		}
		switch decide(k) {
		case refresh:
			s.used = now
		case drop:
			delete(c.m, k)
		}
	}
}

// forget drops every entry gone says to, used or not.
func (c *pathCache[K]) forget(gone func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if gone(k) {
			delete(c.m, k)
		}
	}
}

func (c *pathCache[K]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
