// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"sync"
	"time"

	"github.com/kernelevents/kernelevents/internal/event"
)

// pending is a sample waiting for its creator's lookup, copied out of the
// reader's buffer.
type pending struct {
	e          event.Event
	comm       [event.CommLen]byte
	path       [event.PathLen]byte
	commN, pN  uint16
	receivedAt time.Time
}

func newPending(e *event.Event, receivedAt time.Time) *pending {
	p := &pending{e: *e, receivedAt: receivedAt}
	p.commN = uint16(copy(p.comm[:], e.Comm))
	p.pN = uint16(copy(p.path[:], e.Path))
	return p
}

// event returns the copied sample.
func (p *pending) event() *event.Event {
	p.e.Comm, p.e.Path = p.comm[:p.commN], p.path[:p.pN]
	return &p.e
}

// pendingQueue holds the samples waiting for their creator's lookup, at
// most max, grouped by process: the workers get each process's key once,
// however many of its samples wait.
type pendingQueue struct {
	mu      sync.Mutex
	waiting map[procKey][]*pending
	n       int
	max     int
	keys    chan procKey // nil until open, closed by close
	closed  bool
}

func newPendingQueue(maxWaiting int) *pendingQueue {
	return &pendingQueue{waiting: map[procKey][]*pending{}, max: maxWaiting}
}

// open makes the queue take samples; the workers range over the keys.
func (q *pendingQueue) open() <-chan procKey {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.keys = make(chan procKey, q.max)
	return q.keys
}

// close ends the keys once the workers took those queued.
func (q *pendingQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	if q.keys != nil {
		close(q.keys)
	}
}

type queued int

const (
	queuedOK  queued = iota
	queueFull        // max samples wait
	queueShut        // not open or closed: resolve in the caller
)

// add queues p under k.
func (q *pendingQueue) add(k procKey, p *pending) queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.keys == nil || q.closed:
		return queueShut
	case q.n >= q.max:
		return queueFull
	}
	first := q.waiting[k] == nil
	q.waiting[k] = append(q.waiting[k], p)
	q.n++
	if first {
		q.keys <- k // cannot block: the channel holds max keys
	}
	return queuedOK
}

// first returns the first sample waiting under k.
func (q *pendingQueue) first(k procKey) *pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting[k][0]
}

// take removes and returns the samples waiting under k.
func (q *pendingQueue) take(k procKey) []*pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	ps := q.waiting[k]
	delete(q.waiting, k)
	q.n -= len(ps)
	return ps
}

// addRefs adds what the waiting samples refer to to in.
func (q *pendingQueue) addRefs(in refs) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k := range q.waiting {
		in.add(k)
	}
}

func (q *pendingQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
