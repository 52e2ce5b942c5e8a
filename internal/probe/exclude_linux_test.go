// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestExcludeSelfInPIDNamespace runs the probe as a collector in a container
// without host PID does: in a new pid namespace (CLONE_NEWPID), where
// os.Getpid() is 1 and the kernel's host tgid is something else. Its own file
// must be excluded and a child's counted. Before the comparison was made in
// one namespace, the probe compared the host tgid with 1: it counted the
// collector's own files (and would have dropped the host's pid 1).
func TestExcludeSelfInPIDNamespace(t *testing.T) {
	// Run again as pid 1 of a new pid namespace, in mode "<hook>:<dir>".
	if spec, ok := testutil.RerunMode(t); ok {
		hook, dir, _ := strings.Cut(spec, ":")
		excludeSelfInside(t, Hook(hook), dir)
		return
	}
	testutil.RequireRoot(t)
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			dir := testutil.TempDir(t)
			_, skipped := testutil.Rerun(t, string(h)+":"+dir, testutil.WithCmd(func(cmd *exec.Cmd) {
				cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
			}))
			if skipped {
				if slices.Contains(requiredHooks(), h) {
					t.Fatalf("hook %s is required but was skipped (its output is above)", h)
				}
				t.Skipf("hook %s is not available here (its output is above)", h)
			}
		})
	}
}

// TestExcludeSelf: the collector in the initial pid namespace (the host,
// or a pod with hostPID, as the DaemonSet runs), where its own files are
// told by the kernel's tgid alone (self_init_pidns): its file is excluded
// and a child's counted, on every hook.
func TestExcludeSelf(t *testing.T) {
	testutil.RequireRoot(t)
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat("/proc/self/ns/pid", &st))
	require.EqualValues(t, initPIDNamespaceIno, st.Ino, "this test runs in the initial pid namespace")
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			excludeSelfIn(t, h, testutil.TempDir(t))
		})
	}
}

// excludeSelfInside is the collector's side, pid 1 of its own namespace.
func excludeSelfInside(t *testing.T, h Hook, dir string) {
	require.Equal(t, 1, os.Getpid(), "the test runs as pid 1 of a new pid namespace")
	excludeSelfIn(t, h, dir)
}

// excludeSelfIn watches dir with hook h, this process excluded, and checks
// that its own file is not counted and a child's is.
func excludeSelfIn(t *testing.T, h Hook, dir string) {
	_, c := watchDir(t, h, dir)

	self := filepath.Join(dir, "self")
	require.NoError(t, os.WriteFile(self, nil, 0o644))
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "child"}}})
	// The child's file is the proof that the probe works; samples carry
	// host tgids, so wait by path.
	byPath := func() []string {
		c.mu.Lock()
		defer c.mu.Unlock()
		var out []string
		for _, e := range c.events {
			out = append(out, e.path)
		}
		slices.Sort(out)
		return out
	}
	require.Eventually(t, func() bool { return slices.Contains(byPath(), filepath.Join(dir, "child")) },
		10*time.Second, 20*time.Millisecond, "the child's file is counted")
	// Read what is still in the ring before judging (the self sample, if
	// counted, was written before the child's).
	assert.Equal(t, []string{filepath.Join(dir, "child")}, byPath(), "the collector's own file is excluded, the child's counted")
}

// TestExcludeCgroup: tasks in an excluded cgroup are dropped whatever they
// call themselves; a task elsewhere is counted even when it takes the name
// of an excluded one's. Unlike a name, a cgroup is not the task's choice: it
// cannot move into one it may not write to.
func TestExcludeCgroup(t *testing.T) {
	root := testutil.TempDir(t)
	cg, _ := testutil.MakeCgroup(t, "daemon")
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(cg, &st))
	opts := DefaultOptions()
	opts.PathPrefixes = []string{root + "/"}
	opts.ExcludeCgroupIDs = []uint64{st.Ino}
	p := openHook(t, opts)
	c := collect(p)

	in := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Cgroup: cg, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "in-1"}}})
	renamed := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Cgroup: cg, Ops: []testutil.Op{
		{Kind: testutil.OpComm, Path: "innocent"}, {Kind: testutil.OpOpenat, Path: "in-2"}}})
	out := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "out"}}})
	got := c.wait(t, 1, uint32(in.PID), uint32(renamed.PID), uint32(out.PID))
	assert.Equal(t, []string{filepath.Join(root, "out")}, paths(got), "only the task outside the excluded cgroup is counted")
}
