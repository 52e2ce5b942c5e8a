// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

// countingComponent counts its starts and stops.
type countingComponent struct {
	starts, stops int
	attached      []string
	startErr      error
}

func (c *countingComponent) start(context.Context, component.Host) error {
	c.starts++
	return c.startErr
}

func (c *countingComponent) shutdown(context.Context) error {
	c.stops++
	return nil
}

// TestSharedComponents: one component per key, started by the first handle
// and stopped by the last, forgotten when every handle is closed; a failed
// create stores nothing; a failed start leaves it unstarted.
func TestSharedComponents(t *testing.T) {
	ctx, host := context.Background(), componenttest.NewNopHost()
	s := newSharedComponents[string, *countingComponent]()
	_, err := s.LoadOrStore("k", func() (*countingComponent, error) { return nil, errors.New("no") }, nil)
	require.Error(t, err)
	assert.Zero(t, s.Len())

	create := func() (*countingComponent, error) { return &countingComponent{}, nil }
	a, err := s.LoadOrStore("k", create, func(c *countingComponent) { c.attached = append(c.attached, "metrics") })
	require.NoError(t, err)
	b, err := s.LoadOrStore("k", create, func(c *countingComponent) { c.attached = append(c.attached, "logs") })
	require.NoError(t, err)
	require.Same(t, a.r, b.r)
	c := a.r
	assert.Equal(t, []string{"metrics", "logs"}, c.attached)

	require.NoError(t, a.Start(ctx, host))
	require.NoError(t, a.Start(ctx, host), "a second Start of one handle does nothing")
	require.NoError(t, b.Start(ctx, host))
	assert.Equal(t, 1, c.starts)
	require.NoError(t, a.Shutdown(ctx))
	require.NoError(t, a.Shutdown(ctx))
	assert.Zero(t, c.stops, "running while a pipeline still runs")
	assert.Equal(t, 1, s.Len())
	require.NoError(t, b.Shutdown(ctx))
	assert.Equal(t, 1, c.stops)
	assert.Zero(t, s.Len())

	// A failed start: the next handle's Start tries again.
	d, err := s.LoadOrStore("k", func() (*countingComponent, error) { return &countingComponent{startErr: errors.New("boom")}, nil }, func(*countingComponent) {})
	require.NoError(t, err)
	require.Error(t, d.Start(ctx, host))
	require.NoError(t, d.Shutdown(ctx), "Shutdown after a failed Start does not stop")
	assert.Zero(t, d.r.stops)
	assert.Zero(t, s.Len())
}

// TestSharedComponentsConcurrent: pipelines created and started at once
// (as the collector may) share one component, started once; run with -race.
func TestSharedComponentsConcurrent(t *testing.T) {
	ctx, host := context.Background(), componenttest.NewNopHost()
	s := newSharedComponents[int, *countingComponent]()
	var wg sync.WaitGroup
	handles := make([]*sharedHandle[int, *countingComponent], 8)
	errs := make([]error, len(handles))
	for i := range handles {
		wg.Go(func() {
			h, err := s.LoadOrStore(1, func() (*countingComponent, error) { return &countingComponent{}, nil }, func(*countingComponent) {})
			if err == nil {
				err = h.Start(ctx, host)
			}
			handles[i], errs[i] = h, err
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	assert.Equal(t, 1, handles[0].r.starts)
	for _, h := range handles {
		require.NoError(t, h.Shutdown(ctx))
	}
	assert.Equal(t, 1, handles[0].r.stops)
	assert.Zero(t, s.Len())
}
