// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

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
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// execRecords answers identity from the probe's exec records, as the
// receiver does.
type execRecords struct{ p *Probe }

func (x execRecords) ExecFile(execNs uint64) (identity.ExecRecord, bool) {
	f, ok := x.p.ExecFile(execNs)
	return identity.ExecRecord{Dev: f.Dev, Ino: f.Ino, Path: f.Path}, ok
}

func (x execRecords) CurrentExec(tgid uint32, startNs uint64) (uint64, bool) {
	return x.p.CurrentExec(tgid, startNs)
}

func (x execRecords) RecordedSince() (uint64, bool) { return x.p.ExecsRecordedSince() }

// samplesByPath reads p's samples into a map by path until the test ends.
func samplesByPath(t *testing.T, p *Probe) func(path string, within time.Duration) (event.Event, bool) {
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
			c := e
			c.Comm, c.Path = append([]byte(nil), e.Comm...), append([]byte(nil), e.Path...)
			mu.Lock()
			got[string(c.Path)] = c
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.Close(); <-done })
	return func(path string, within time.Duration) (event.Event, bool) {
		deadline := time.Now().Add(within)
		for {
			mu.Lock()
			e, ok := got[path]
			mu.Unlock()
			if ok || time.Now().After(deadline) {
				return e, ok
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// copyExecutable copies from to a new file to (mode 0755).
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

func workloadRule(r *identity.Resolver, id uint32) string {
	for _, kv := range r.Workload(id).Attrs {
		if kv.Key == identity.RuleAttribute {
			return kv.Value
		}
	}
	return ""
}

// TestExecutableRecordedAtExec: a process that exec'ed after the probe was
// loaded carries which exec it runs, and the kernel's record of that exec
// names the file it mapped (device, inode, path inside its filesystem),
// which identity places on the node even after the process has exited.
func TestExecutableRecordedAtExec(t *testing.T) {
	dir := testutil.TempDir(t)
	opts := DefaultOptions()
	opts.Hook = HookAuto
	opts.PathPrefixes = []string{dir + "/"}
	p := openHook(t, opts)
	wait := samplesByPath(t, p)

	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "f"}}})
	e, ok := wait(filepath.Join(dir, "f"), 10*time.Second)
	require.True(t, ok, "no sample")
	require.Equal(t, event.ExecSame, e.ExecState, "the child exec'ed after the probe was loaded")
	rec, ok := p.ExecFile(e.ExecNs)
	require.True(t, ok, "the exec is recorded")
	exe, err := filepath.EvalSymlinks(testutil.Exe())
	require.NoError(t, err)
	var st unix.Stat_t
	require.NoError(t, unix.Stat(exe, &st))
	assert.Equal(t, [2]uint64{st.Dev, st.Ino}, [2]uint64{rec.Dev, rec.Ino})
	assert.Equal(t, "/"+filepath.Base(exe), rec.Path[len(rec.Path)-len(filepath.Base(exe))-1:])

	r := identity.NewResolver(identity.Options{CgroupRoot: "none", HostRoot: "/", Execs: execRecords{p}})
	defer r.Close()
	_, f := lookupNow(r, &e)
	assert.Equal(t, exe, f.Executable, "named from the exec record: the child has exited")
	since, ok := p.ExecsRecordedSince()
	require.True(t, ok, "the exec recorder is attached")
	assert.Greater(t, e.StartNs, since, "the child started after the recorder was attached (the same clock)")
	// Records are deleted at exit by the tracepoint hook's
	// sched_process_exit program; kretprobe's and fexit's (raw_tp_vfs_task_exit)
	// takes out kept VFS entries only (their core dumps are files they see),
	// and there records age out of the LRU.
	if p.Hook() == HookTracepoint {
		_, ok = p.CurrentExec(e.TGID, e.StartNs)
		assert.False(t, ok, "the process's record went at its exit")
	}
}

// TestForkOfOlderProcessIsRecorded: a shell started before the probe (no
// exec record) forks a subshell after it, which exec's nothing and creates
// a file. The subshell is recorded at fork with the reference it inherited,
// naming no exec: its sample says ExecUnknown, and identity, which refuses
// /proc for a process started after the records began that has none (one
// pushed out), names it from /proc. At its exit the record goes.
func TestForkOfOlderProcessIsRecorded(t *testing.T) {
	dir := testutil.TempDir(t)
	sh := exec.Command("/bin/sh", "-c", `read a; ( : > "$0/g"; read b ); read c`, dir)
	in, err := sh.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, sh.Start())
	t.Cleanup(func() { in.Close(); _ = sh.Wait() })
	opts := DefaultOptions()
	opts.Hook = HookAuto
	opts.PathPrefixes = []string{dir + "/"}
	p := openHook(t, opts)
	wait := samplesByPath(t, p)
	_, err = in.Write([]byte("\n"))
	require.NoError(t, err)
	e, ok := wait(filepath.Join(dir, "g"), 10*time.Second)
	require.True(t, ok, "no sample")
	require.NotEqual(t, uint32(sh.Process.Pid), e.TGID, "created by the subshell")
	assert.Equal(t, event.ExecUnknown, e.ExecState)
	since, ok := p.ExecsRecordedSince()
	require.True(t, ok)
	require.Greater(t, e.StartNs, since)
	cur, ok := p.CurrentExec(e.TGID, e.StartNs)
	assert.True(t, ok, "recorded at fork")
	assert.Zero(t, cur, "naming no exec")
	r := identity.NewResolver(identity.Options{CgroupRoot: "none", HostRoot: "/", Execs: execRecords{p}})
	defer r.Close()
	want, err := filepath.EvalSymlinks("/bin/sh")
	require.NoError(t, err)
	_, f := lookupNow(r, &e)
	assert.Equal(t, want, f.Executable, "named from /proc")
	_, err = in.Write([]byte("\n"))
	require.NoError(t, err)
	if p.Hook() != HookTracepoint {
		return // records age out of the LRU there (TestExecutableRecordedAtExec)
	}
	assert.Eventually(t, func() bool {
		_, ok := p.CurrentExec(e.TGID, e.StartNs)
		return !ok
	}, 10*time.Second, 10*time.Millisecond, "the record goes at the subshell's exit")
}

// TestReplacedExecutableIsNotBelieved: root of its own user namespace, a
// process replaces its executable reference with a trusted program's
// (prctl PR_SET_MM_MAP with exe_fd), then creates a file, and forks a child
// that creates another (the child exec'ed nothing and inherits the
// reference). Their /proc/<pid>/exe and the samples' device and inode are
// the trusted program's; the kernel's record of the exec says otherwise, and
// the `executable` rule on the trusted path matches neither.
func TestReplacedExecutableIsNotBelieved(t *testing.T) {
	dir := testutil.TempDir(t)
	require.NoError(t, os.Chmod(dir, 0o777))
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	trusted := filepath.Join(dir, "trusted")
	copyExecutable(t, sleep, trusted)
	swapper := testutil.ExeSwapper(t, dir)

	opts := DefaultOptions()
	opts.Hook = HookAuto
	opts.PathPrefixes = []string{dir + "/"}
	p := openHook(t, opts)
	wait := samplesByPath(t, p)

	exe, err := os.Open(trusted)
	require.NoError(t, err)
	defer exe.Close()
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pw.Close()
	cmd := exec.Command(swapper)
	cmd.Dir = dir
	cmd.ExtraFiles = []*os.File{exe, pr} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		Credential:  &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
		Pdeathsig:   syscall.SIGKILL,
	}
	require.NoError(t, cmd.Start())
	pr.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = pw.Close()
		_ = cmd.Process.Kill()
		if err := <-exited; err != nil {
			t.Logf("the swapper ended: %v", err) // killed at cleanup, or failed (reported above)
		}
	})

	wantSample := func(name string) event.Event {
		t.Helper()
		for {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("the swapper exited before creating %s (exit status = stage + errno: 100 prctl, 200 fork): %v", name, err)
			default:
			}
			if e, ok := wait(filepath.Join(dir, name), 50*time.Millisecond); ok {
				return e
			}
		}
	}
	rules, err := identity.CompileRules("rules", []identity.Rule{{Name: "trusted", Match: identity.Match{Executable: trusted}, Attributes: map[string]string{"team": "trusted"}}})
	require.NoError(t, err)
	r := identity.NewResolver(identity.Options{Rules: rules, CgroupRoot: "none", HostRoot: "/", Execs: execRecords{p}})
	defer r.Close()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(trusted, &st))
	for _, name := range []string{testutil.ExeSwapCreated, testutil.ExeSwapChildCreated} {
		e := wantSample(name)
		// The evasion worked: the process's executable reference is the
		// trusted program's.
		require.Equal(t, [2]uint64{st.Dev, st.Ino}, [2]uint64{e.ExeDev, e.ExeIno}, "%s: mm->exe_file is the trusted program", name)
		link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(int(e.TGID)), "exe"))
		require.NoError(t, err)
		require.Equal(t, trusted, link, name)

		id, f := lookupNow(r, &e)
		assert.Equal(t, event.ExecReplaced, e.ExecState, "%s: the kernel tells the replaced reference from the exec", name)
		assert.Empty(t, f.Executable, "%s: a reference the process chose names no executable", name)
		assert.Empty(t, workloadRule(r, id), "%s: the executable rule on the trusted path must not match", name)
	}

	pw.Close()
	require.NoError(t, <-exited, "the swapper exits 0 once released")
	exited <- nil
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
