// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// OpWaitGone keeps the child alive until the file Path (relative to Dir, or
// absolute) no longer exists, at most a minute: the test removes it once
// user space has looked the child up (for example asked a SPIRE agent about
// its pid).
const OpWaitGone = "wait_gone"

// Held is a child started by StartHeld: it does its ops, then stays alive
// until Release, so that user space can look it up while it runs (its
// /proc/<pid> entry, a SPIRE agent's attestation by pid) without the test
// guessing how long that takes.
type Held struct {
	hold  string
	done  chan struct{}
	child Child
	err   error
}

// StartHeld starts spec's child in the background (RunChild's protocol) and
// returns at once; the child does spec's ops and then waits for Release.
func StartHeld(t testing.TB, spec ChildSpec, opts ...ChildOption) *Held {
	t.Helper()
	// Apart from the test's directories (a watched one would count it), and
	// reachable by a child running as another user.
	hold := filepath.Join(TempDir(t), "hold")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatalf("create the hold file: %v", err)
	}
	spec.Ops = append(slices.Clone(spec.Ops), Op{Kind: OpWaitGone, Path: hold})
	h := &Held{hold: hold, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		// The error goes back to the test's goroutine (Release): t.Fatal
		// here would stop only this goroutine.
		h.child, h.err = RunChildErr(spec, opts...)
	}()
	t.Cleanup(func() {
		os.Remove(hold)
		<-h.done
	})
	return h
}

// Release lets the child exit, waits for it, and fails t when it failed.
// Call it from the test's goroutine.
func (h *Held) Release(t testing.TB) Child {
	t.Helper()
	os.Remove(h.hold)
	<-h.done
	if h.err != nil {
		t.Fatal(h.err)
	}
	return h.child
}
