// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestOverlayCopyUp: a child, root of its own user and mount namespaces,
// mounts an overlayfs whose upper layer is inside a watched directory and
// makes the kernel copy lower files up, new files in the watched directory
// that no open created: a lower file opened for write, one chmod'ed (a
// copy-up with no open at all) and one opened with O_CREAT (it exists: no
// creation, a copy-up). Every hook counts each once (operation copy_up,
// under the upper layer's node path, credited to the child), however often
// the file is opened again: kretprobe and fexit at ovl_copy_up_one's
// return, the tracepoint hook (6.13+) from the new inode's first timestamp
// under overlayfs' credentials, named at the syscall's exit
// (bpf/copyup.h). A file created through the overlay by an open or a mknod
// is that creation, once, never also a copy-up. On a kernel without the
// timestamp tracepoints the tracepoint hook says so (a note) and counts the
// creations alone.
func TestOverlayCopyUp(t *testing.T) {
	testutil.RequireRoot(t)
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			l := overlayLayers(t, false, "existing", "meta", "reopened")
			w, s, m := l.w, l.s, l.m
			p, c := watchDir(t, h, w)
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: s, Ops: []testutil.Op{
				{Kind: testutil.OpPrivateMounts},
				{Kind: testutil.OpOverlay, Path: m, For: l.spec()},
				{Kind: testutil.OpOpenWrite, Path: m + "/existing"},
				{Kind: testutil.OpOpenWrite, Path: m + "/existing"}, // already up: nothing new
				{Kind: testutil.OpChmod, Path: m + "/meta"},
				{Kind: testutil.OpOpenAbs, Path: m + "/reopened"},
				{Kind: testutil.OpOpenAbs, Path: m + "/fresh"},
				{Kind: testutil.OpMknodAbs, Path: m + "/node"},
			}}, inUserNS())
			body, err := os.ReadFile(filepath.Join(w, "up", "existing"))
			require.NoError(t, err, "the kernel copied the file up")
			require.Equal(t, "lower", string(body))
			up := filepath.Join(w, "up")
			want := map[string]event.Op{
				up + "/existing": event.OpCopyUp,
				up + "/meta":     event.OpCopyUp,
				up + "/reopened": event.OpCopyUp,
				up + "/fresh":    event.OpCreate,
				up + "/node":     event.OpMknod,
			}
			if h == HookTracepoint && slices.ContainsFunc(p.Notes(), func(n string) bool {
				return strings.Contains(n, "timestamp tracepoints")
			}) {
				// a kernel before 6.13: the note says copy-ups go uncounted
				for f, op := range want {
					if op == event.OpCopyUp {
						delete(want, f)
					}
				}
			}
			got := c.wait(t, len(want), uint32(child.PID))
			ops := map[string]event.Op{}
			for _, e := range got {
				ops[e.path] = e.op
				if e.op == event.OpCopyUp {
					assert.NotZero(t, e.where&event.WhereOverlayUpper, "%s: the overlay's upper layer followed", e.path)
				}
				assert.Zero(t, e.where&event.WhereNodeUnknown, "%s: on a node mount", e.path)
				assert.Zero(t, e.flags&(event.FlagUnresolved|event.FlagTruncated), e.path)
			}
			assert.Len(t, got, len(want), "each file once: %v", paths(got))
			assert.Equal(t, want, ops, "under the upper layer's node path, each with its operation")
			assertNoLoss(t, p)
		})
	}
}

// TestOverlayCopyUpAttacks: the tracepoint hook's copy-up (bpf/copyup.h)
// against every way a process can make overlayfs copy a lower file up into
// a watched upper directory, and against what must not count. Each copy-up
// is counted once as copy_up under the file's name at the end of the call
// that made it, credited to the child: truncate, touch (utimensat),
// setxattr, chown, open O_TRUNC, a link of a lower file (the copy-up and the
// new name, a link), a rename of one (the copy-up, under its new name, and
// the rename), RENAME_EXCHANGE of two (two copy-ups in one call, two
// renames), IORING_OP_OPENAT for write inline, in an io-wq worker
// (IOSQE_ASYNC) and in a worker of a DEFER_TASKRUN ring (which posts no
// completion itself). Not counted: a write to a file already copied up, a
// chmod of an upper-only file, the unlink of a lower file (a whiteout). The
// kretprobe and fexit hooks see copy-ups at ovl_copy_up_one's return
// (TestOverlayCopyUp).
func TestOverlayCopyUpAttacks(t *testing.T) {
	testutil.RequireRoot(t)
	h := HookTracepoint
	l := overlayLayers(t, false, "trunc", "touch", "xattr", "chown", "otrunc", "linksrc", "rensrc", "xa", "xb",
		"uring", "uringasync", "uringdefer", "uringhidden", "uringxattr", "uringxattrgone", "uringskip", "uringskipgone", "appended", "gone")
	w, s, m, up := l.w, l.s, l.m, l.up
	// a copy-up long enough (its data) for the NOPs' completions to take
	// the worker's inode while it has no name yet
	require.NoError(t, os.WriteFile(filepath.Join(l.lower, "uringflood"), bytes.Repeat([]byte("lower"), 4<<20), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(up, "uponly"), []byte("upper"), 0o644))
	p, c := watchDir(t, h, w)
	if slices.ContainsFunc(p.Notes(), func(n string) bool { return strings.Contains(n, "timestamp tracepoints") }) {
		// a kernel before 6.13: the hook says copy-ups go uncounted
		// (TestOverlayCopyUp checks that creations still count there);
		// these attacks are on the timestamp programs, which it lacks
		t.Logf("no timestamp tracepoints on this kernel: %q", p.Notes())
		return
	}
	child := testutil.RunChild(t, testutil.ChildSpec{Dir: s, Ops: []testutil.Op{
		{Kind: testutil.OpPrivateMounts},
		{Kind: testutil.OpOverlay, Path: m, For: l.spec()},
		{Kind: testutil.OpTruncate, Path: m + "/trunc"},
		{Kind: testutil.OpTouch, Path: m + "/touch"},
		{Kind: testutil.OpSetxattr, Path: m + "/xattr"},
		{Kind: testutil.OpChown, Path: m + "/chown"},
		{Kind: testutil.OpOpenTrunc, Path: m + "/otrunc"},
		// absolute old names, new names relative to the child's directory:
		// not "within one directory" (bpf/sysexit.h), so reported
		{Kind: testutil.OpLinkat, For: m + "/linksrc", Path: "m/linked"},
		{Kind: testutil.OpRenameat, For: m + "/rensrc", Path: "m/renamed"},
		{Kind: testutil.OpRenameExchange, For: m + "/xa", Path: "m/xb"},
		{Kind: testutil.OpIOUringOpenWrite, Path: m + "/uring"},
		{Kind: testutil.OpIOUringOpenWrite, Path: m + "/uringasync", For: "async"},
		{Kind: testutil.OpIOUringOpenWrite, Path: m + "/uringdefer", For: "defer"},
		// the worker's copy-up is taken at the completion (the
		// submitter's), before the file is unlinked, the ring still open
		{Kind: testutil.OpIOUringOpenWrite, Path: m + "/uringhidden", For: "defer-unlink"},
		{Kind: testutil.OpIOUringOpenWrite, Path: m + "/uringflood", For: "flood"},
		// IORING_OP_SETXATTR: in a worker, its completion not an open's
		{Kind: testutil.OpIOUringSetxattr, Path: m + "/uringxattr"},
		{Kind: testutil.OpIOUringSetxattr, Path: m + "/uringxattrgone", For: "unlink"},
		// no completion (IOSQE_CQE_SKIP_SUCCESS): taken at the next
		// completion or thread exit of the process (the worker's)
		{Kind: testutil.OpIOUringSetxattr, Path: m + "/uringskip", For: "skip"},
		// a file an io_uring open makes through the overlay (in a
		// worker: O_CREAT is not tried inline): its creation, once
		{Kind: testutil.OpIOUring, Path: "m/uringnew"},
		{Kind: testutil.OpOpenWrite, Path: m + "/appended"},
		{Kind: testutil.OpAppend, Path: m + "/appended"}, // already up: nothing new
		{Kind: testutil.OpChmod, Path: m + "/uponly"},    // upper only: nothing new
		{Kind: testutil.OpUnlinkAbs, Path: m + "/gone"},  // a whiteout: nothing new
	}}, inUserNS())
	type sample struct {
		path string
		op   event.Op
	}
	want := []sample{
		{up + "/trunc", event.OpCopyUp},
		{up + "/touch", event.OpCopyUp},
		{up + "/xattr", event.OpCopyUp},
		{up + "/chown", event.OpCopyUp},
		{up + "/otrunc", event.OpCopyUp},
		{up + "/linksrc", event.OpCopyUp},
		{up + "/linked", event.OpLink},
		{up + "/renamed", event.OpCopyUp}, // its name at the call's end
		{up + "/renamed", event.OpRename},
		{up + "/xa", event.OpCopyUp}, // xb's file, now at xa
		{up + "/xb", event.OpCopyUp},
		{up + "/xa", event.OpRename},
		{up + "/xb", event.OpRename},
		{up + "/uring", event.OpCopyUp},
		{up + "/uringasync", event.OpCopyUp},
		{up + "/uringdefer", event.OpCopyUp},
		{up + "/uringhidden", event.OpCopyUp},
		{up + "/uringflood", event.OpCopyUp},
		{up + "/uringxattr", event.OpCopyUp},
		{up + "/uringxattrgone", event.OpCopyUp},
		{up + "/uringskip", event.OpCopyUp},
		{up + "/appended", event.OpCopyUp},
		{up + "/uringnew", event.OpCreate},
	}
	for _, f := range []string{"trunc", "otrunc"} {
		fi, err := os.Stat(filepath.Join(up, f))
		require.NoError(t, err, "the kernel copied %s up", f)
		assert.Less(t, fi.Size(), int64(len("lower")), f)
	}
	got := c.wait(t, len(want), uint32(child.PID))
	var have []sample
	for _, e := range got {
		have = append(have, sample{e.path, e.op})
		if e.op == event.OpCopyUp {
			assert.NotZero(t, e.where&event.WhereOverlayUpper, "%s: the overlay's upper layer followed", e.path)
			assert.Zero(t, e.flags&(event.FlagUnresolved|event.FlagTruncated), e.path)
		}
	}
	cmp := func(a, b sample) int { return strings.Compare(a.path+a.op.String(), b.path+b.op.String()) }
	slices.SortFunc(want, cmp)
	slices.SortFunc(have, cmp)
	assert.Equal(t, want, have, "each once, with its operation, credited to the child")
	c.mu.Lock()
	all := slices.Clone(c.events)
	c.mu.Unlock()
	for _, e := range all {
		if strings.HasPrefix(e.path, up+"/") && e.tgid != uint32(child.PID) {
			t.Errorf("%s %s credited to %d (%s), not the child %d", e.path, e.op, e.tgid, e.comm, child.PID)
		}
	}
	assertNoLoss(t, p)

	// README "What an attacker can still do": a worker's copy-up with no
	// completion, in a process with no other completion or thread exit
	// until the file is unlinked, is never counted (a process of its own:
	// no other worker of it exits meanwhile)
	hidden := testutil.RunChild(t, testutil.ChildSpec{Dir: s, Ops: []testutil.Op{
		{Kind: testutil.OpPrivateMounts},
		{Kind: testutil.OpOverlay, Path: m, For: l.spec()},
		{Kind: testutil.OpIOUringSetxattr, Path: m + "/uringskipgone", For: "skip-unlink"},
		{Kind: testutil.OpOpenAbs, Path: m + "/after"}, // a creation after it, waited for
	}}, inUserNS())
	got = c.wait(t, 1, uint32(hidden.PID))
	assert.Equal(t, []string{up + "/after"}, paths(got), "the hidden copy-up not counted (documented)")
	assertNoLoss(t, p)
}

// TestOverlayCopyUpIndex: an overlay mounted by the node's root (a mount
// namespace of its own, no user namespace: index and metacopy are refused
// or fall back to off in one) with index=on and metacopy=on, its work
// directory outside the watched one. The copy-up of a lower file that has
// another link names the new file in the index first (work/index/<handle>),
// then in the upper directory: counted once under the upper name (the
// tracepoint hook skips a name in a directory of mode 0, bpf/copyup.h
// upper_report; it reported the index name, outside the watched directory,
// and the copy-up went uncounted). A chmod makes a metadata-only copy-up
// (a new file, counted) and the open for write that follows copies the
// data into that same file (nothing new). The other link opened for write
// afterwards gets its upper name as a link of the index's file, no new
// inode: not counted by the tracepoint hook (README "What an attacker can
// still do").
func TestOverlayCopyUpIndex(t *testing.T) {
	testutil.RequireRoot(t)
	h := HookTracepoint
	l := overlayLayers(t, true, "hl", "meta")
	w, s, m, up := l.w, l.s, l.m, l.up
	require.NoError(t, os.Link(filepath.Join(l.lower, "hl"), filepath.Join(l.lower, "hl2")))
	p, c := watchDir(t, h, w)
	child := testutil.RunChild(t, testutil.ChildSpec{Dir: s, Ops: []testutil.Op{
		{Kind: testutil.OpPrivateMounts},
		{Kind: testutil.OpOverlay, Path: m, For: l.spec() + ":index=on,metacopy=on,redirect_dir=on"},
		{Kind: testutil.OpOpenWrite, Path: m + "/hl"},
		{Kind: testutil.OpChmod, Path: m + "/meta"},
		{Kind: testutil.OpOpenWrite, Path: m + "/meta"},
		{Kind: testutil.OpOpenWrite, Path: m + "/hl2"},
	}}, testutil.WithCmd(func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	}))
	index, err := os.ReadDir(filepath.Join(s, "work", "index"))
	require.NoError(t, err)
	require.NotEmpty(t, index, "the copy-up was indexed")
	want := map[string]event.Op{up + "/hl": event.OpCopyUp, up + "/meta": event.OpCopyUp}
	if slices.ContainsFunc(p.Notes(), func(n string) bool { return strings.Contains(n, "timestamp tracepoints") }) {
		want = map[string]event.Op{} // a kernel before 6.13: the note says copy-ups go uncounted
	}
	got := c.wait(t, len(want), uint32(child.PID))
	ops := map[string]event.Op{}
	for _, e := range got {
		ops[e.path] = e.op
	}
	assert.Len(t, got, len(want), "each file once: %v", paths(got))
	assert.Equal(t, want, ops, "under the upper layer's node path")
	assertNoLoss(t, p)
}

// overlay is a test overlay's directories: the upper one (up) and, by
// default, the work one in the watched directory w; the lower one, with
// its files, and the mount point m in s, beside it.
type overlay struct{ w, s, lower, up, work, m string }

// overlayLayers makes an overlay's directories, the lower one holding
// files (each "lower"); workOutside puts the work directory in s.
func overlayLayers(t *testing.T, workOutside bool, files ...string) overlay {
	t.Helper()
	loadOverlay(t)
	w, s := testutil.TempDir(t), testutil.TempDir(t)
	l := overlay{w: w, s: s, lower: filepath.Join(s, "lower"), up: filepath.Join(w, "up"), work: filepath.Join(w, "work"), m: s + "/m"}
	if workOutside {
		l.work = filepath.Join(s, "work")
	}
	for _, d := range []string{l.lower, l.up, l.work} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	for _, n := range files {
		require.NoError(t, os.WriteFile(filepath.Join(l.lower, n), []byte("lower"), 0o644))
	}
	return l
}

// spec is the overlay's layers as testutil.OpOverlay takes them.
func (l overlay) spec() string { return l.lower + ":" + l.up + ":" + l.work }
