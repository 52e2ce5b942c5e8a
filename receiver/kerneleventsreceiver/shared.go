// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// lifecycle is what a shared component does once for all its pipelines.
type lifecycle interface {
	start(ctx context.Context, host component.Host) error
	shutdown(ctx context.Context) error
}

// sharedComponents keeps one component per key (the collector passes the
// same *Config for one receiver id in every pipeline), as the collector's
// internal sharedcomponent package does for otlpreceiver: each pipeline
// gets a handle; the first handle started starts the component, the last
// one shut down stops it (so the probe stays attached while any pipeline
// runs), and the last one closed forgets it.
type sharedComponents[K comparable, C lifecycle] struct {
	mu sync.Mutex
	m  map[K]*sharedEntry[C]
}

type sharedEntry[C lifecycle] struct {
	c                C
	handles, started int // guarded by sharedComponents.mu
}

func newSharedComponents[K comparable, C lifecycle]() *sharedComponents[K, C] {
	return &sharedComponents[K, C]{m: map[K]*sharedEntry[C]{}}
}

// LoadOrStore returns a new handle on key's component, made by create when
// there is none. attach runs under the lock with the component, so that a
// pipeline's consumer is set before any handle can start it.
func (s *sharedComponents[K, C]) LoadOrStore(key K, create func() (C, error), attach func(C)) (*sharedHandle[K, C], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		c, err := create()
		if err != nil {
			return nil, err
		}
		e = &sharedEntry[C]{c: c}
		s.m[key] = e
	}
	attach(e.c)
	e.handles++
	return &sharedHandle[K, C]{s: s, key: key, e: e, r: e.c}, nil
}

// Len returns how many components are held.
func (s *sharedComponents[K, C]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// sharedHandle is what the factory returns for one pipeline.
type sharedHandle[K comparable, C lifecycle] struct {
	s   *sharedComponents[K, C]
	key K
	e   *sharedEntry[C]
	r   C // the shared component

	started, closed bool // guarded by s.mu
	// leave, when set, runs when this handle shuts down while the component
	// keeps running for another pipeline (under the lock).
	leave func(C, context.Context)
}

// Start starts the shared component with the first handle.
func (h *sharedHandle[K, C]) Start(ctx context.Context, host component.Host) error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.started {
		return nil
	}
	if h.e.started == 0 {
		if err := h.e.c.start(ctx, host); err != nil {
			return err
		}
	}
	h.e.started++
	h.started = true
	return nil
}

// Shutdown stops the shared component with the last started handle. It is
// safe without Start and more than once.
func (h *sharedHandle[K, C]) Shutdown(ctx context.Context) error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	var err error
	if h.started {
		h.started = false
		if h.e.started--; h.e.started == 0 {
			err = h.e.c.shutdown(ctx)
		} else if h.leave != nil {
			h.leave(h.e.c, ctx)
		}
	}
	if !h.closed {
		h.closed = true
		if h.e.handles--; h.e.handles == 0 {
			delete(h.s.m, h.key)
		}
	}
	return err
}
