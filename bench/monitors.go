// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/probe"
	"golang.org/x/sys/unix"
)

// monitor is one way of watching file creation. A fresh monitor is made for
// each measured run.
type monitor interface {
	// start watches dir (a fresh, empty directory).
	start(dir string) error
	// drain waits until the monitor has seen expected creations or given
	// up; the generator has already finished.
	drain(expected int)
	// consumerCPU is the CPU time used so far by whatever consumes the
	// events in user space (the bench process, auditd).
	consumerCPU() (time.Duration, error)
	// stop releases everything and says what was seen.
	stop() (counts, error)
}

// counts is what a monitor saw in one run.
type counts struct {
	received, lost uint64
	known          bool // false when the monitor cannot count
}

// config is one column of the alternation.
type config struct {
	name string
	kind string     // kindBaseline, kindBatched, ... (the targets look configurations up by it)
	hook probe.Hook // for the probe kinds
	// exact: received+lost must equal the files created (false for the
	// baseline and the filtered-out probe, which must see nothing).
	exact bool
	// newMonitor is nil for the baseline (no monitoring).
	newMonitor func() monitor
}

// Kinds of configuration.
const (
	kindBaseline = "baseline"
	kindBatched  = "batched"
	kindPerEvent = "per-event"
	kindFiltered = "filtered-out"
	kindFanotify = "fanotify"
	kindAudit    = "audit"
)

// mainConfigs: baseline first (the ratios are to it), with aa the baseline
// again (the A/A row: what noise alone makes of two identical runs), then
// each available hook with batched and per-event wakeups, the probe
// filtering the files out, and fanotify.
func mainConfigs(h hookInfo, aa bool) []config {
	batched := probe.DefaultOptions().WakeupBytes
	cfgs := []config{{name: "baseline (no monitoring)", kind: kindBaseline}}
	if aa {
		cfgs = append(cfgs, config{name: "A/A: baseline again (no monitoring; the noise floor)", kind: kindBaseAA})
	}
	for _, hook := range h.available {
		cfgs = append(cfgs,
			config{name: fmt.Sprintf("probe %s, batched wakeup (default)", hook), kind: kindBatched, hook: hook, exact: true,
				newMonitor: func() monitor { return newProbeMonitor(hook, batched, "") }},
			config{name: fmt.Sprintf("probe %s, per-event wakeup", hook), kind: kindPerEvent, hook: hook, exact: true,
				newMonitor: func() monitor { return newProbeMonitor(hook, 0, "") }})
	}
	if h.auto != "" {
		hook := h.auto
		cfgs = append(cfgs, config{name: fmt.Sprintf("probe %s, files outside its path filter", hook), kind: kindFiltered, hook: hook,
			newMonitor: func() monitor { return newProbeMonitor(hook, batched, "/kebench-filtered-out/") }})
	}
	return append(cfgs, config{name: "fanotify FAN_CREATE, filesystem mark", kind: kindFanotify, exact: true,
		newMonitor: func() monitor { return &fanotifyMonitor{} }})
}

// hookInfo says which hooks attach on this kernel, and why the others do not.
type hookInfo struct {
	available []probe.Hook
	missing   map[probe.Hook]string
	auto      probe.Hook // what HookAuto picks
}

func detectHooks() hookInfo {
	h := hookInfo{missing: map[probe.Hook]string{}}
	for _, hook := range probe.Hooks {
		opts := probe.DefaultOptions()
		opts.Hook = hook
		opts.PathPrefixes = []string{"/kebench-detect/"}
		p, err := probe.Open(opts)
		if err != nil {
			h.missing[hook] = err.Error()
			continue
		}
		p.Close()
		h.available = append(h.available, hook)
		if h.auto == "" {
			h.auto = hook // probe.Hooks is auto's order
		}
	}
	return h
}

// selfCPU is the user+sys time of the bench process: with a probe or
// fanotify, the reader goroutine's work.
func selfCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// probeMonitor is the receiver's probe with a reader goroutine that drains
// and counts, as the receiver's reader does before aggregation.
type probeMonitor struct {
	opts      probe.Options
	p         *probe.Probe
	received  atomic.Uint64
	malformed atomic.Uint64
	readErr   error
	done      chan struct{}
}

// newProbeMonitor watches the run directory, or prefix when set (a prefix
// that does not match measures the cost of being filtered out).
func newProbeMonitor(hook probe.Hook, wakeupBytes int, prefix string) *probeMonitor {
	opts := probe.DefaultOptions()
	opts.Hook = hook
	opts.WakeupBytes = wakeupBytes
	opts.ExcludePID = os.Getpid()
	if prefix != "" {
		opts.PathPrefixes = []string{prefix}
	}
	return &probeMonitor{opts: opts, done: make(chan struct{})}
}

func (m *probeMonitor) start(dir string) error {
	if m.opts.PathPrefixes == nil {
		m.opts.PathPrefixes = []string{dir + "/"}
	}
	p, err := probe.Open(m.opts)
	if err != nil {
		return fmt.Errorf("open probe: %w", err)
	}
	m.p = p
	go m.read()
	return nil
}

func (m *probeMonitor) read() {
	defer close(m.done)
	var e event.Event
	for {
		err := m.p.Read(&e)
		switch {
		case err == nil:
			m.received.Add(1)
		case errors.Is(err, event.ErrMalformed):
			m.malformed.Add(1)
		case errors.Is(err, os.ErrClosed):
			return
		default:
			m.readErr = err
			return
		}
	}
}

func (m *probeMonitor) seen() uint64 {
	lost, _ := m.p.Lost() // a failed read shows up again in stop
	return m.received.Load() + m.malformed.Load() + lost
}

// drain waits past MaxLatency: with batched wakeups the last samples sit in
// the ring until the reader's deadline.
func (m *probeMonitor) drain(expected int) {
	waitFor(func() bool { return m.seen() >= uint64(expected) }, m.opts.MaxLatency+3*time.Second)
}

func (m *probeMonitor) consumerCPU() (time.Duration, error) { return selfCPU() }

func (m *probeMonitor) stop() (counts, error) {
	lost, lerr := m.p.Lost()
	cerr := m.p.Close()
	<-m.done
	c := counts{received: m.received.Load(), lost: lost + m.malformed.Load(), known: true}
	return c, errors.Join(lerr, cerr, m.readErr)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(cond func() bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
