// SPDX-License-Identifier: Apache-2.0

//go:build linux

package spire_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/internal/spire/spiretest"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestBindMountedExecGetsNoSPIFFEID: an unprivileged user, root of its own
// user and mount namespaces (unshare -Urm), bind-mounts its own program over
// the path of a program SPIRE trusts (a unix:path entry) and execs that
// path. SPIRE's unix attestor reads /proc/<pid>/exe, which the kernel writes
// as the process's own namespace names the file: the agent issues the
// trusted ID (checked here). The file the process creates must not carry
// that ID: the node path of what it exec'ed is its own program's, so the
// answer is dropped (exe_path_unverified). A process really running the
// trusted program in the node's mount namespace keeps its ID.
func TestBindMountedExecGetsNoSPIFFEID(t *testing.T) {
	s := spiretest.Start(t)
	testutil.RequireTracefs(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		testutil.SkipUnlessStrict(t, "no unshare(1): %v", err)
	}
	dir := testutil.TempDir(t)
	require.NoError(t, os.Chmod(dir, 0o777))
	sh, err := filepath.EvalSymlinks("/bin/sh")
	require.NoError(t, err)
	trusted, own := filepath.Join(dir, "trusted"), filepath.Join(dir, "own")
	copyExecutable(t, sh, trusted)
	copyExecutable(t, sh, own)
	trustedID := "spiffe://" + spiretest.TrustDomain + "/trusted"
	s.CreateEntry(trustedID, "", "unix:path:"+trusted)
	s.CreateEntry(spiretest.CollectorID, "", "unix:uid:0")
	c, err := spire.New(spire.Options{Socket: s.AdminSocket, Timeout: 10 * time.Second, RetryInterval: 200 * time.Millisecond, CacheTTL: time.Second})
	require.NoError(t, err)
	defer c.Close()

	p, wait := creations(t, dir)
	sample := func(path string, pid int) event.Event {
		t.Helper()
		e := wait(path, nil)
		require.Equal(t, uint32(pid), e.TGID)
		return e
	}
	r := identity.NewResolver(identity.Options{SPIFFE: c, CgroupRoot: "none", HostRoot: "/", Execs: execRecords{p}})
	defer r.Close()

	// The control: the trusted program, run in the node's namespace, is
	// issued its ID, and so is its creation (and the agent has synced).
	ok := filepath.Join(dir, "by-trusted")
	control := blockedShell(t, trusted, ": > "+ok+"; read x")
	a := waitLookup(t, c, control, identity.SPIFFEIssued)
	require.Equal(t, []string{trustedID}, a.IDs)
	_, f := lookupNow(r, ptr(sample(ok, control)))
	assert.Equal(t, identity.SPIFFEIssued, f.SPIFFE.Status)
	assert.Equal(t, []string{trustedID}, f.SPIFFE.IDs)
	assert.Equal(t, trusted, f.Executable)

	// The evasion: its own program bind-mounted over the trusted path in a
	// private mount namespace, exec'ed by that path.
	created := filepath.Join(dir, "by-own")
	cmd := exec.Command(unshare, "-Urm", sh, "-c",
		"mount --bind "+own+" "+trusted+" && exec "+trusted+" -c ': > "+created+"; read x'")
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: noEntryUID, Gid: noEntryUID}, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	e := sample(created, pid)
	link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	require.NoError(t, err)
	require.Equal(t, trusted, link, "the process names its executable by the trusted path")
	// SPIRE is fooled: it attests the trusted path.
	require.Equal(t, []string{trustedID}, c.Lookup(uint32(pid)).IDs, "SPIRE attests the bind-mounted path")

	_, f = lookupNow(r, &e)
	assert.NotContains(t, f.SPIFFE.IDs, trustedID, "the trusted ID is not the creation's")
	assert.Equal(t, identity.SPIFFEExePathUnverified, f.SPIFFE.Status)
	assert.Equal(t, own, f.Executable, "named where the program really is on the node")
	assert.Equal(t, uint64(1), r.SPIFFECounts()[identity.SPIFFEExePathUnverified], "counted")
}

func ptr[T any](v T) *T { return &v }
