// SPDX-License-Identifier: Apache-2.0

//go:build linux

package spire_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/internal/spire/spiretest"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// execRecords answers identity from the probe's exec records, as the
// receiver does.
type execRecords struct{ p *probe.Probe }

func (x execRecords) ExecFile(execNs uint64) (identity.ExecRecord, bool) {
	f, ok := x.p.ExecFile(execNs)
	return identity.ExecRecord{Dev: f.Dev, Ino: f.Ino, Path: f.Path}, ok
}

func (x execRecords) CurrentExec(tgid uint32, startNs uint64) (uint64, bool) {
	return x.p.CurrentExec(tgid, startNs)
}

func (x execRecords) RecordedSince() (uint64, bool) { return x.p.ExecsRecordedSince() }

// TestHardLinkExecGetsNoSPIFFEIDForTheCreation: a program creates a file,
// then execs a hard link of itself under another path (the same device and
// inode). SPIRE's unix attestor names a process by /proc/<pid>/exe when it
// looks (unix:path), so the agent, asked about the pid after the exec,
// issues the ID registered for the second path: that ID must not be put on
// the file the first path's program created.
func TestHardLinkExecGetsNoSPIFFEIDForTheCreation(t *testing.T) {
	s := spiretest.Start(t)
	testutil.RequireTracefs(t)
	dir := testutil.TempDir(t)
	require.NoError(t, os.Chmod(dir, 0o777))
	sh, err := filepath.EvalSymlinks("/bin/sh")
	require.NoError(t, err)
	first, second := filepath.Join(dir, "first"), filepath.Join(dir, "second")
	copyExecutable(t, sh, first)
	require.NoError(t, os.Link(first, second))
	firstID := "spiffe://" + spiretest.TrustDomain + "/first"
	secondID := "spiffe://" + spiretest.TrustDomain + "/second"
	s.CreateEntry(firstID, "", "unix:path:"+first)
	s.CreateEntry(secondID, "", "unix:path:"+second)
	s.CreateEntry(spiretest.CollectorID, "", "unix:uid:0")
	c, err := spire.New(spire.Options{Socket: s.AdminSocket, Timeout: 10 * time.Second, RetryInterval: 200 * time.Millisecond, CacheTTL: time.Second})
	require.NoError(t, err)
	defer c.Close()

	p, wait := creations(t, dir)

	// The control: a process running the second path is issued its ID
	// (and the agent has synced the entries).
	control := blockedShell(t, second, "")
	a := waitLookup(t, c, control, identity.SPIFFEIssued)
	require.Equal(t, []string{secondID}, a.IDs)

	// The evasion: create as the first path, then exec the second.
	created := filepath.Join(dir, "created")
	pid := blockedShell(t, first, ": > "+created+"; exec "+second+" -c 'read x'")
	e := wait(created, func() bool {
		link, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		return link == second // and the exec of the second path happened
	})
	require.Equal(t, uint32(pid), e.TGID)
	// The agent would name the process by the second path now.
	now := c.Lookup(uint32(pid))
	require.Equal(t, []string{secondID}, now.IDs, "SPIRE attests the second path")

	r := identity.NewResolver(identity.Options{SPIFFE: c, CgroupRoot: "none", HostRoot: "/", Execs: execRecords{p}})
	defer r.Close()
	_, f := lookupNow(r, &e)
	assert.NotContains(t, f.SPIFFE.IDs, secondID, "the second path's ID is not the creation's")
	assert.Equal(t, identity.SPIFFEProcessChanged, f.SPIFFE.Status)
	assert.Equal(t, first, f.Executable, "the creation ran the first path")
}

// creations opens the probe (hook auto) on dir and keeps every sample by
// its path; the probe closes at the test's end. wait returns path's sample
// once it has arrived and also (nil: nothing more) holds.
func creations(t *testing.T, dir string) (*probe.Probe, func(path string, also func() bool) event.Event) {
	t.Helper()
	opts := probe.DefaultOptions()
	opts.Hook = probe.HookAuto
	opts.PathPrefixes = []string{dir + "/"}
	p, err := probe.Open(opts)
	require.NoError(t, err)
	var mu sync.Mutex
	got := map[string]event.Event{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var e event.Event
		for {
			err := p.Read(&e)
			if errors.Is(err, event.ErrMalformed) {
				continue
			}
			if err != nil {
				return
			}
			cp := e
			cp.Comm, cp.Path = append([]byte(nil), e.Comm...), append([]byte(nil), e.Path...)
			mu.Lock()
			got[string(cp.Path)] = cp
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.Close(); <-done })
	wait := func(path string, also func() bool) event.Event {
		t.Helper()
		var e event.Event
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			var ok bool
			e, ok = got[path]
			return ok && (also == nil || also())
		}, 10*time.Second, 5*time.Millisecond, "no sample of %s", path)
		return e
	}
	return p, wait
}

// blockedShell starts the shell at path as uid 4343 (no uid entry), running
// script and then blocking on its standard input until the test ends, and
// returns its pid.
func blockedShell(t *testing.T, path, script string) int {
	t.Helper()
	if script == "" {
		script = "read x"
	}
	cmd := exec.Command(path, "-c", script)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: noEntryUID, Gid: noEntryUID}, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}

// lookupNow is what the resolver, not started, finds of e's creator: Lookup
// then looks it up in the caller.
func lookupNow(r *identity.Resolver, e *event.Event) (uint32, *identity.Facts) {
	id, f, ok := r.Lookup(e, time.Now())
	if !ok {
		panic("queued: the resolver was started")
	}
	return id, f
}
