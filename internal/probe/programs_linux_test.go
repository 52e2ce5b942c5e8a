// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestIOUringWithoutTracefs (issue 24, section 3): on a node without tracefs
// mounted the tracepoint hook attaches every program, its io_uring ones
// too (raw tracepoints), says so in Programs, and counts a file created by
// an io_uring open and one renamed in by io_uring. The probe is opened on a
// thread in a mount namespace of its own where tracefs and debugfs are
// unmounted (the node's stay as they are). Only the tracepoint hook has
// io_uring programs (kretprobe and fexit see io_uring at the VFS); every
// row of the kernel matrix requires it.
func TestIOUringWithoutTracefs(t *testing.T) {
	testutil.RequireRoot(t)
	dir := testutil.TempDir(t)
	out := testutil.TempDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(out, "moved"), nil, 0o644))
	opts := DefaultOptions()
	opts.Hook = HookTracepoint
	opts.PathPrefixes = []string{dir + "/"}
	opts.ExcludePID = os.Getpid()

	type opened struct {
		p   *Probe
		err error
	}
	ch := make(chan opened)
	go func() {
		// Never unlocked: the thread, in its own mount namespace, ends
		// with this goroutine instead of going back to the scheduler.
		runtime.LockOSThread()
		p, err := openWithoutTracefs(opts)
		ch <- opened{p, err}
	}()
	o := <-ch
	require.NoError(t, o.err)
	p := o.p
	t.Cleanup(func() { p.Close() })
	t.Logf("attached %s; notes: %v", p, p.Notes())

	// a kernel before 6.13 has no timestamp tracepoints: the copy-up
	// programs on them are noted and reported not attached, nothing else
	noTimestamps := slices.ContainsFunc(p.Notes(), func(n string) bool { return strings.Contains(n, "timestamp tracepoints") })
	var uring int
	for _, ps := range p.Programs() {
		if noTimestamps && !ps.Attached && slices.Contains(ctimeProgramNames(), ps.Name) {
			continue
		}
		assert.True(t, ps.Attached, "%s attached without tracefs", ps.Name)
		if ps.Name == "raw tracepoint io_uring_complete" {
			uring++
		}
	}
	assert.Equal(t, 1, uring, "the io_uring completion program is one of the hook's: %v", p.Programs())
	c := collect(p)
	child := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{
		{Kind: testutil.OpIOUring, Path: "uring-new"},
		{Kind: testutil.OpIOUringRenameat, For: filepath.Join(out, "moved"), Path: "moved"},
	}})
	got := c.wait(t, 2, uint32(child.PID))
	ops := map[string]event.Op{}
	for _, e := range got {
		ops[e.path] = e.op
	}
	assert.Equal(t, map[string]event.Op{
		filepath.Join(dir, "uring-new"): event.OpCreate,
		filepath.Join(dir, "moved"):     event.OpRename,
	}, ops)
	assertNoLoss(t, p)
}

// openWithoutTracefs opens opts on the calling (locked) thread after moving
// it to a mount namespace of its own without tracefs or debugfs.
func openWithoutTracefs(opts Options) (*Probe, error) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, err
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, err
	}
	// debugfs too: /sys/kernel/debug/tracing mounts tracefs when looked at.
	for _, m := range []string{"/sys/kernel/debug/tracing", "/sys/kernel/tracing", "/sys/kernel/debug"} {
		for unix.Unmount(m, unix.MNT_DETACH) == nil {
		}
	}
	for _, m := range []string{"/sys/kernel/tracing", "/sys/kernel/debug"} {
		var st unix.Statfs_t
		if err := unix.Statfs(m, &st); err == nil && (st.Type == unix.TRACEFS_MAGIC || st.Type == unix.DEBUGFS_MAGIC) {
			return nil, errors.New(m + " is still mounted in the test's mount namespace")
		}
	}
	return Open(opts)
}

// ctimeProgramNames are the names the copy-up programs on the timestamp
// tracepoints are listed under (Probe.Programs).
func ctimeProgramNames() []string {
	var names []string
	for _, op := range ctimePrograms {
		names = append(names, op.attach(nil).what)
	}
	return names
}
