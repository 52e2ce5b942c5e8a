// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package probe

import (
	"errors"

	"github.com/kernelevents/kernelevents/internal/event"
)

// ErrUnsupportedPlatform is returned by Open outside Linux.
var ErrUnsupportedPlatform = errors.New("the kernel_events receiver needs Linux (eBPF)")

// Probe is not available outside Linux.
type Probe struct{}

// Open returns ErrUnsupportedPlatform.
func Open(Options) (*Probe, error) { return nil, ErrUnsupportedPlatform }

// Hook returns the hook in use.
func (*Probe) Hook() Hook { return "" }

// Programs returns nothing.
func (*Probe) Programs() []ProgramState { return nil }

// Notes returns nothing.
func (*Probe) Notes() []string { return nil }

// Read returns ErrUnsupportedPlatform.
func (*Probe) Read(*event.Event) error { return ErrUnsupportedPlatform }

// Lost returns ErrUnsupportedPlatform.
func (*Probe) Lost() (uint64, error) { return 0, ErrUnsupportedPlatform }

// LostByReason returns ErrUnsupportedPlatform.
func (*Probe) LostByReason() (map[string]uint64, error) { return nil, ErrUnsupportedPlatform }

// LostByCgroup returns ErrUnsupportedPlatform.
func (*Probe) LostByCgroup() (map[uint64]map[string]uint64, error) {
	return nil, ErrUnsupportedPlatform
}

// Drain does nothing.
func (*Probe) Drain() error { return nil }

// ExecFile returns nothing.
func (*Probe) ExecFile(uint64) (ExecFile, bool) { return ExecFile{}, false }

// CurrentExec returns nothing.
func (*Probe) CurrentExec(uint32, uint64) (uint64, bool) { return 0, false }

// ExecsRecordedSince returns nothing.
func (*Probe) ExecsRecordedSince() (uint64, bool) { return 0, false }

// Close does nothing.
func (*Probe) Close() error { return nil }

func monotonicOffset() int64 { return 0 }
