// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"maps"
	"os"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/probe"
)

// fakeSource is a source fed with encoded samples, as the ring buffer hands
// them to the probe: the receiver decodes them with the same code.
type fakeSource struct {
	hook    probe.Hook
	samples chan []byte
	errs    chan error // a Read failing as the ring buffer reader can

	drainOnce, closeOnce sync.Once
	drained, closed      chan struct{}

	mu      sync.Mutex
	lost    map[string]uint64
	lostCg  map[uint64]map[string]uint64 // LostByCgroup
	onDrain map[string]uint64            // added to lost by Drain (the kretprobe miss counters are read then)
	calls   []string                     // "drain", "lost", "close", in order
	lostErr error                        // returned by LostByReason and LostByCgroup when set
}

var _ source = (*fakeSource)(nil)

func newFakeSource() *fakeSource {
	return &fakeSource{
		hook:    probe.HookTracepoint,
		samples: make(chan []byte, 4096),
		errs:    make(chan error, 1),
		drained: make(chan struct{}),
		closed:  make(chan struct{}),
		lost:    map[string]uint64{},
	}
}

// push hands the receiver a sample, encoded as the kernel writes it.
func (f *fakeSource) push(e *event.Event) { f.samples <- event.Encode(e) }

// pushRaw hands the receiver bytes as they are.
func (f *fakeSource) pushRaw(b []byte) { f.samples <- b }

func (f *fakeSource) setLost(reason string, n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lost[reason] = n
}

func (f *fakeSource) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeSource) history() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeSource) Read(e *event.Event) error {
	select {
	case b := <-f.samples:
		return event.Decode(b, e)
	case err := <-f.errs:
		return err
	case <-f.closed:
		return os.ErrClosed
	case <-f.drained:
		// What is still in the ring, then ErrDrained.
		select {
		case b := <-f.samples:
			return event.Decode(b, e)
		default:
			return probe.ErrDrained
		}
	}
}

func (f *fakeSource) LostByReason() (map[string]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "lost")
	if f.lostErr != nil {
		return nil, f.lostErr
	}
	out := make(map[string]uint64, len(f.lost))
	for k, v := range f.lost {
		out[k] = v
	}
	return out, nil
}

// LostByCgroup is not a recorded call: the call-order tests predate it.
func (f *fakeSource) LostByCgroup() (map[uint64]map[string]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lostErr != nil {
		return nil, f.lostErr
	}
	out := make(map[uint64]map[string]uint64, len(f.lostCg))
	for k, v := range f.lostCg {
		out[k] = maps.Clone(v)
	}
	return out, nil
}

// setLostCgroup sets cgroup cg's count of reason.
func (f *fakeSource) setLostCgroup(cg uint64, reason string, n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lostCg == nil {
		f.lostCg = map[uint64]map[string]uint64{}
	}
	if f.lostCg[cg] == nil {
		f.lostCg[cg] = map[string]uint64{}
	}
	f.lostCg[cg][reason] = n
}

func (f *fakeSource) Hook() probe.Hook { return f.hook }

func (f *fakeSource) Notes() []string { return []string{"fake source"} }

func (f *fakeSource) Programs() []probe.ProgramState {
	return []probe.ProgramState{{Name: "fake program", Attached: true}}
}

func (f *fakeSource) Drain() error {
	f.drainOnce.Do(func() {
		f.mu.Lock()
		for k, v := range f.onDrain {
			f.lost[k] += v
		}
		f.calls = append(f.calls, "drain")
		f.mu.Unlock()
		close(f.drained)
	})
	return nil
}

func (f *fakeSource) Close() error {
	f.closeOnce.Do(func() {
		f.record("close")
		close(f.closed)
	})
	return nil
}

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
