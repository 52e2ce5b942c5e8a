// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/probe"
)

// source is what the receiver needs of the kernel: the seam between the
// hook and ring buffer (internal/probe) and everything after decoding. The
// receiver is written against it so that its logic is tested with a fake
// fed with encoded samples, without root or BPF.
type source interface {
	// Read blocks for the next sample. It returns an error wrapping
	// event.ErrMalformed for a sample it cannot decode, probe.ErrDrained
	// once Drain was called and the ring is empty, and one wrapping
	// os.ErrClosed after Close.
	Read(e *event.Event) error
	// LostByReason returns the samples not delivered since the source was
	// opened, by reason (the probe.Lost* constants).
	LostByReason() (map[string]uint64, error)
	// LostByCgroup returns the losses since the source was opened whose
	// cgroup is known, by the cgroup v2 id of the creating task (0: cgroups
	// past probe.LostCgroupsMax), then by reason (probe.Lost*).
	LostByCgroup() (map[uint64]map[string]uint64, error)
	// Hook is the hook in use.
	Hook() probe.Hook
	// Notes explain the hook choice (logged at start).
	Notes() []string
	// Programs are the hook's programs, each attached or not
	// (kernel.probe.programs).
	Programs() []probe.ProgramState
	// Drain stops new samples; Read returns what is left, then ErrDrained.
	// LostByReason works until Close.
	Drain() error
	// Close frees everything. It is the last call.
	Close() error
}

// openSourceFunc opens the source of one receiver instance.
type openSourceFunc func(probe.Options) (source, error)

// openProbe loads and attaches the BPF programs.
func openProbe(opts probe.Options) (source, error) {
	p, err := probe.Open(opts)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// defaultOpenSource is the source NewFactory's receivers read. The package's
// tests set it to a fake in TestMain (kernel tests ask for openProbe through
// newFactory), so that the generated lifecycle test runs without BPF.
var defaultOpenSource openSourceFunc = openProbe

// execRecords is what a source that records execs (the probe) answers:
// the executable as the kernel knew it at each exec.
type execRecords interface {
	ExecFile(execNs uint64) (probe.ExecFile, bool)
	CurrentExec(tgid uint32, startNs uint64) (uint64, bool)
	ExecsRecordedSince() (uint64, bool)
}

// mountsWatcher is what a source that follows the node's mount table (the
// probe) answers: it tells fn the node's filesystems whenever one comes or
// goes.
type mountsWatcher interface {
	SetMountsChanged(fn func(devs map[uint64]bool))
}

// execSource answers the resolver from the probe's exec records.
type execSource struct{ src execRecords }

func (x execSource) ExecFile(execNs uint64) (identity.ExecRecord, bool) {
	f, ok := x.src.ExecFile(execNs)
	return identity.ExecRecord{Dev: f.Dev, Ino: f.Ino, Path: f.Path}, ok
}

func (x execSource) CurrentExec(tgid uint32, startNs uint64) (uint64, bool) {
	return x.src.CurrentExec(tgid, startNs)
}

func (x execSource) RecordedSince() (uint64, bool) { return x.src.ExecsRecordedSince() }

// execsOf returns the exec records of src, or nil when it keeps none.
func execsOf(src source) identity.ExecSource {
	if x, ok := src.(execRecords); ok {
		return execSource{x}
	}
	return nil
}
