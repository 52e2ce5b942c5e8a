// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// The tests of this file (issue 24, "where") show the kernel a watched
// directory under another path, as the root of a user namespace can: the
// file must be counted under the watched directory's path on the node,
// through the path prefix filter, whatever the creator's mount namespace,
// chroot or mount. Before, the path was walked to the creator's root across
// its mounts: each of these files was reported under the creator's path and
// dropped by the filter, with no count and no loss.

// inUserNS starts a child as root of a new user namespace with its own
// mount namespace (unshare -Urm). Its root is mapped to the node's root so
// that the re-executed test binary (in a directory only root may read) can
// run; what is tested is what the kernel's path walk sees (mount namespace,
// chroot, detached mounts, overlays), which the mapping does not change.
func inUserNS() testutil.ChildOption {
	return testutil.WithCmd(func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		}
	})
}

// TestNodePathThroughNamespaces: a child in its own user and mount namespace
// creates a file in a watched directory through (a) a bind mount of it on
// another path, (b) a chroot holding such a bind (an open and a mknod
// relative to the cwd), (c) a detached mount (open_tree OPEN_TREE_CLONE, an
// openat on its fd), (e) an overlayfs whose upper layer is inside the
// watched directory; and (d) a host process creates through
// /proc/<pid>/cwd and /proc/<pid>/root of a process sitting on such a bind.
// Each is counted once under the watched directory's node path. A file on a
// filesystem the node does not mount (a tmpfs of the namespace) is not
// dropped by the filter: counted, its node path unresolved.
func TestNodePathThroughNamespaces(t *testing.T) {
	testutil.RequireRoot(t)
	cases := []struct {
		name string
		// ops given the watched dir and a scratch dir outside it
		ops  func(t *testing.T, w, s string) []testutil.Op
		want []string // node paths below the watched dir
	}{
		{"bind", func(t *testing.T, w, s string) []testutil.Op {
			return []testutil.Op{
				{Kind: testutil.OpPrivateMounts},
				{Kind: testutil.OpBind, Path: s + "/x", For: w},
				{Kind: testutil.OpOpenAbs, Path: s + "/x/a-bind"},
				// named with a '/' through the bind mount: the
				// tracepoint hook looks the name up in the creator's
				// mounts (bpf/lookup.h)
				{Kind: testutil.OpSymlinkat, For: "t", Path: s + "/x/a-symlink"},
				{Kind: testutil.OpMknodat, Path: s + "/x/a-mknod"},
			}
		}, []string{"a-bind", "a-mknod", "a-symlink"}},
		{"chroot", func(t *testing.T, w, s string) []testutil.Op {
			return []testutil.Op{
				{Kind: testutil.OpPrivateMounts},
				{Kind: testutil.OpBind, Path: s + "/root/w", For: w},
				{Kind: testutil.OpChroot, Path: s + "/root"},
				{Kind: testutil.OpOpenAbs, Path: "/w/b-chroot"},
				{Kind: testutil.OpChdir, Path: "/w"},
				{Kind: testutil.OpMknodAs, Path: "b-mknod"},
			}
		}, []string{"b-chroot", "b-mknod"}},
		{"detached", func(t *testing.T, w, s string) []testutil.Op {
			return []testutil.Op{
				{Kind: testutil.OpOpenTreeCreate, For: w, Path: "c-detached"},
			}
		}, []string{"c-detached"}},
		{"overlay", func(t *testing.T, w, s string) []testutil.Op {
			loadOverlay(t)
			lower := filepath.Join(s, "lower")
			require.NoError(t, os.Mkdir(lower, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(lower, "existing"), nil, 0o644))
			require.NoError(t, os.Mkdir(filepath.Join(w, "up"), 0o755))
			require.NoError(t, os.Mkdir(filepath.Join(w, "work"), 0o755))
			return []testutil.Op{
				{Kind: testutil.OpPrivateMounts},
				{Kind: testutil.OpOverlay, Path: s + "/m", For: lower + ":" + w + "/up:" + w + "/work"},
				{Kind: testutil.OpOpenAbs, Path: s + "/m/e-new"},
				// (a copy-up of "existing": TestOverlayCopyUp)
			}
		}, []string{"up/e-new"}},
	}
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			// One probe per hook watches a directory with one
			// subdirectory per case: a load of a hook is most of a
			// case's time in the VMs (qemu emulates the verifier), and
			// each case counts only its own children's samples. Overlay
			// goes in first (the loader reads its types at Open); the
			// overlay case skips or fails when it cannot be loaded.
			_ = exec.Command("modprobe", "overlay").Run()
			watched := testutil.TempDir(t)
			p, c := watchDir(t, h, watched)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					w, s := filepath.Join(watched, tc.name), testutil.TempDir(t)
					require.NoError(t, os.Mkdir(w, 0o755))
					ops := tc.ops(t, w, s)
					child := testutil.RunChild(t, testutil.ChildSpec{Dir: s, Ops: ops}, inUserNS())
					var want []string
					for _, f := range tc.want {
						want = append(want, filepath.Join(w, f))
					}
					got := c.wait(t, len(want), uint32(child.PID))
					assert.Equal(t, want, paths(got), "counted under the watched directory's node path")
					for _, e := range got {
						assert.Zero(t, e.where&event.WhereNodeUnknown, "%s: on a node mount", e.path)
						assert.Zero(t, e.flags&(event.FlagUnresolved|event.FlagTruncated), e.path)
					}
					if tc.name == "overlay" {
						for _, e := range got {
							assert.NotZero(t, e.where&event.WhereOverlayUpper, "%s: the overlay's upper layer followed", e.path)
						}
					}
					assertNoLoss(t, p)
				})
			}
			t.Run("proc_cwd_root", func(t *testing.T) { procCwdRoot(t, p, c, watched) })
			t.Run("unknown_fs", func(t *testing.T) { unknownFS(t, p, c) })
		})
	}
}

// loadOverlay loads overlayfs before the probe: where it is a module (Debian),
// the loader reads the types it follows (struct ovl_inode) from the BTF of
// the modules loaded when it starts (README).
func loadOverlay(t *testing.T) {
	if _, err := os.Stat("/sys/module/overlay"); err == nil {
		return
	}
	if out, err := exec.Command("modprobe", "overlay").CombinedOutput(); err != nil {
		testutil.SkipUnlessStrict(t, "overlayfs is not available here (modprobe overlay: %v: %s)", err, out)
	}
}

// procCwdRoot: a process of another mount namespace sits on a bind mount of
// the watched directory; a host process creates through its
// /proc/<pid>/cwd and /proc/<pid>/root. p and c watch watched.
func procCwdRoot(t *testing.T, p *Probe, c *collector, watched string) {
	w, s := filepath.Join(watched, "proc_cwd_root"), testutil.TempDir(t)
	require.NoError(t, os.Mkdir(w, 0o755))
	pidFile := filepath.Join(testutil.TempDir(t), "pid")
	held := testutil.StartHeld(t, testutil.ChildSpec{Dir: s, Ops: []testutil.Op{
		{Kind: testutil.OpPrivateMounts},
		{Kind: testutil.OpBind, Path: s + "/x", For: w},
		{Kind: testutil.OpChdir, Path: s + "/x"},
		{Kind: testutil.OpPidFile, Path: pidFile},
	}}, inUserNS())
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || len(b) == 0 {
			return false
		}
		pid, err = strconv.Atoi(string(b))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the namespaced child is in place")
	proc := "/proc/" + strconv.Itoa(pid)
	viaCwd := testutil.RunChild(t, testutil.ChildSpec{Dir: proc + "/cwd", Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "d-cwd"}}})
	viaRoot := testutil.RunChild(t, testutil.ChildSpec{Dir: proc + "/root" + s, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "x/d-root"}}})
	held.Release(t)
	got := c.wait(t, 2, uint32(viaCwd.PID), uint32(viaRoot.PID))
	assert.Equal(t, []string{filepath.Join(w, "d-cwd"), filepath.Join(w, "d-root")}, paths(got), "counted under the watched directory's node path")
	assertNoLoss(t, p)
}

// unknownFS: a tmpfs mounted only in the creator's namespace is on no node
// mount; its files cannot be placed, so the filter never drops them: they
// are counted with WhereNodeUnknown and the path inside that tmpfs. Its
// device number may be one a node mount just freed (anonymous numbers are
// reused at once; tests beside this one mount and unmount tmpfs on the
// node): the kernel does not trust the number of a filesystem mounted from
// a user namespace (WhereUserNSFS). p and c watch another directory.
func unknownFS(t *testing.T, p *Probe, c *collector) {
	s := testutil.TempDir(t)
	child := testutil.RunChild(t, testutil.ChildSpec{Dir: s, Ops: []testutil.Op{
		{Kind: testutil.OpPrivateMounts},
		{Kind: testutil.OpTmpfs, Path: s + "/t"},
		{Kind: testutil.OpOpenAbs, Path: s + "/t/g-tmpfs"},
	}}, inUserNS())
	got := c.wait(t, 1, uint32(child.PID))
	if assert.Equal(t, []string{"/g-tmpfs"}, paths(got), "counted, with its path inside the tmpfs") {
		assert.NotZero(t, got[0].where&event.WhereNodeUnknown, "its node path unresolved")
		assert.NotZero(t, got[0].where&event.WhereUserNSFS, "mounted from a user namespace")
	}
	assertNoLoss(t, p)
}

// TestMknodSymlinkDecoy: a mknod name with a '/' was once resolved later in
// user space, through /proc/<pid>/root: a symlink swapped between the mknod
// and that lookup put the file under the decoy (and the filter dropped it).
// The file must be counted under its real directory, never under the
// decoy: the kretprobe and fexit hooks take the dentry, the tracepoint
// hook looks the name up at the syscall's exit (bpf/lookup.h).
func TestMknodSymlinkDecoy(t *testing.T) {
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			root := testutil.TempDir(t)
			w, decoy := filepath.Join(root, "watched"), filepath.Join(root, "decoy")
			require.NoError(t, os.Mkdir(w, 0o755))
			require.NoError(t, os.Mkdir(decoy, 0o755))
			require.NoError(t, os.Symlink("watched", filepath.Join(root, "lnk")))
			opts := DefaultOptions()
			opts.Hook = h
			opts.PathPrefixes = []string{w + "/"}
			opts.ExcludePID = os.Getpid()
			p := openHook(t, opts)
			// The swap happens before the reader starts: the sample waits
			// in the ring while the link already points at the decoy.
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: []testutil.Op{
				{Kind: testutil.OpMknodAs, Path: "lnk/f"},
				{Kind: testutil.OpSymlinkSwap, Path: filepath.Join(root, "lnk"), For: "decoy"},
			}})
			_, err := os.Stat(filepath.Join(w, "f"))
			require.NoError(t, err, "the file is in the watched directory")
			c := collect(p)
			got := c.wait(t, 1, uint32(child.PID))
			// the swap's new symbolic link is made outside the watched
			// directory (filtered; were its lookup to fail, reported
			// unresolved): the mknod is the sample this test is about
			got = slices.DeleteFunc(got, func(e seen) bool { return e.op == event.OpSymlink })
			require.Len(t, got, 1, "the mknod is counted")
			e := got[0]
			assert.False(t, strings.HasPrefix(e.path, decoy), "%s: not under the decoy", e.path)
			// every hook: the tracepoint hook looks the name up at the
			// syscall's exit, before the swap (bpf/lookup.h)
			assert.Zero(t, e.flags&event.FlagUnresolved, "%s: resolved in the kernel", e.path)
			assert.Equal(t, filepath.Join(w, "f"), e.path, "where the kernel put it")
			assertNoLoss(t, p)
		})
	}
}

// TestLookupFollowsMountsAsTheKernel: a child in its own user and mount
// namespace names a new file with a '/' so that the kernel's lookup crosses
// mounts where the tracepoint hook's repetition of it (bpf/lookup.h) could
// go elsewhere: (a) "../f" from a cwd under a directory that a bind of the
// watched one covers since (the kernel enters the mount on the parent
// after ".."), (b) "/../f" with the watched directory bound on the
// namespace's root ("/.." is the root, whose mount the kernel enters), (c)
// five mounts stacked on one directory, the watched one on top, (d) the
// watched one bound on a directory of a mount with 300 other mounts on it,
// (e) ".." from the top of nine stacked mounts; (f) 1,100 mounts beside
// the watched one. Each file is counted under
// the watched directory, or (tracepoint hook, past the lookup's bounds:
// c, e, f) reported unresolved as written; never under a decoy directory
// (a lookup that stopped on a lower mount or the directory under a mount),
// which the prefix filter dropped with no count and no loss before.
func TestLookupFollowsMountsAsTheKernel(t *testing.T) {
	testutil.RequireRoot(t)
	type made struct {
		written, file string // as written; where the kernel puts it (below w)
		resolved      bool   // by the tracepoint hook's lookup too
	}
	cases := []struct {
		name string
		ops  func(t *testing.T, w, s string) ([]testutil.Op, []made)
	}{
		{"dotdot_onto_mount", func(t *testing.T, w, s string) ([]testutil.Op, []made) {
			require.NoError(t, os.MkdirAll(filepath.Join(s, "a/b"), 0o755))
			return []testutil.Op{
					{Kind: testutil.OpPrivateMounts},
					{Kind: testutil.OpChdir, Path: s + "/a/b"},
					{Kind: testutil.OpBind, Path: s + "/a", For: w},
					{Kind: testutil.OpMknodAs, Path: "../m-dotdot"},
					{Kind: testutil.OpSymlinkAs, For: "t", Path: "../k-dotdot"},
				}, []made{
					{"../m-dotdot", "m-dotdot", true},
					{"../k-dotdot", "k-dotdot", true},
				}
		}},
		{"root_dotdot_onto_mount", func(t *testing.T, w, s string) ([]testutil.Op, []made) {
			return []testutil.Op{
					{Kind: testutil.OpPrivateMounts},
					{Kind: testutil.OpBind, Path: "/", For: w},
					{Kind: testutil.OpMknodAs, Path: "/../m-root"},
					{Kind: testutil.OpSymlinkAs, For: "t", Path: "/../k-root"},
				}, []made{
					{"/../m-root", "m-root", true},
					{"/../k-root", "k-root", true},
				}
		}},
		{"stacked", func(t *testing.T, w, s string) ([]testutil.Op, []made) {
			decoy := filepath.Join(s, "decoy")
			require.NoError(t, os.Mkdir(decoy, 0o755))
			ops := []testutil.Op{{Kind: testutil.OpPrivateMounts}}
			for range 4 {
				ops = append(ops, testutil.Op{Kind: testutil.OpBind, Path: s + "/d", For: decoy})
			}
			ops = append(ops,
				testutil.Op{Kind: testutil.OpBind, Path: s + "/d", For: w},
				testutil.Op{Kind: testutil.OpMknodAs, Path: s + "/d/m-stacked"})
			return ops, []made{{s + "/d/m-stacked", "m-stacked", false}}
		}},
		{"many_mounts", func(t *testing.T, w, s string) ([]testutil.Op, []made) {
			return manyMounts(s, w, 300, "m-many"), []made{{s + "/d/m-many", "m-many", true}}
		}},
		{"too_many_mounts", func(t *testing.T, w, s string) ([]testutil.Op, []made) {
			return manyMounts(s, w, 1100, "m-too-many"), []made{{s + "/d/m-too-many", "m-too-many", false}}
		}},
		{"dotdot_climb", func(t *testing.T, w, s string) ([]testutil.Op, []made) {
			// the lowest mount holds a "W" too: a lookup that stops
			// climbing early finds it
			d1, d2 := filepath.Join(s, "d1"), filepath.Join(s, "d2")
			require.NoError(t, os.MkdirAll(filepath.Join(d1, "W"), 0o755))
			require.NoError(t, os.Mkdir(d2, 0o755))
			ops := []testutil.Op{
				{Kind: testutil.OpPrivateMounts},
				{Kind: testutil.OpBind, Path: s + "/W", For: w},
				{Kind: testutil.OpBind, Path: s + "/d", For: d1},
			}
			for range 8 {
				ops = append(ops, testutil.Op{Kind: testutil.OpBind, Path: s + "/d", For: d2})
			}
			ops = append(ops,
				testutil.Op{Kind: testutil.OpChdir, Path: s + "/d"},
				testutil.Op{Kind: testutil.OpMknodAs, Path: "../W/m-climb"})
			return ops, []made{{"../W/m-climb", "m-climb", false}}
		}},
	}
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			watched := testutil.TempDir(t)
			p, c := watchDir(t, h, watched)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					w, s := filepath.Join(watched, tc.name), testutil.TempDir(t)
					require.NoError(t, os.Mkdir(w, 0o755))
					ops, want := tc.ops(t, w, s)
					child := testutil.RunChild(t, testutil.ChildSpec{Dir: s, Ops: ops}, inUserNS())
					got := c.wait(t, len(want), uint32(child.PID))
					require.Len(t, got, len(want), "each name counted once: %v", paths(got))
					for _, m := range want {
						_, err := os.Lstat(filepath.Join(w, m.file))
						require.NoError(t, err, "the kernel put %s in the watched directory", m.written)
						i := slices.IndexFunc(got, func(e seen) bool {
							return e.path == filepath.Join(w, m.file) || strings.HasSuffix(e.path, m.written)
						})
						if !assert.GreaterOrEqual(t, i, 0, "%s counted: %v", m.written, paths(got)) {
							continue
						}
						e := got[i]
						if h == HookTracepoint && !m.resolved {
							assert.NotZero(t, e.flags&event.FlagUnresolved, "%s: past the lookup's bounds, unresolved", e.path)
							assert.True(t, strings.HasSuffix(e.path, m.written), "%s: as written", e.path)
							continue
						}
						assert.Zero(t, e.flags&event.FlagUnresolved, "%s: resolved in the kernel", e.path)
						assert.Equal(t, filepath.Join(w, m.file), e.path, "where the kernel put it")
					}
					assertNoLoss(t, p)
				})
			}
		})
	}
}

// manyMounts: n tmpfs mounts beside s/d (on the same mount), then w bound on
// s/d, and a mknod of s/d/name.
func manyMounts(s, w string, n int, name string) []testutil.Op {
	ops := []testutil.Op{{Kind: testutil.OpPrivateMounts}}
	for i := range n {
		ops = append(ops, testutil.Op{Kind: testutil.OpTmpfs, Path: fmt.Sprintf("%s/t/%d", s, i)})
	}
	return append(ops,
		testutil.Op{Kind: testutil.OpBind, Path: s + "/d", For: w},
		testutil.Op{Kind: testutil.OpMknodAs, Path: s + "/d/" + name})
}

// TestNodeMountsFollowed: a bind mount the node makes after the probe
// started, of a directory outside the watched one onto a path inside it,
// is followed: the table is read again when it changes (mountinfo's
// POLLPRI), and a file created through that mount is counted under the
// watched directory. Before the re-read the kernel drops such a file (its
// filesystem is known, its path inside it is not watched).
func TestNodeMountsFollowed(t *testing.T) {
	testutil.RequireRoot(t)
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			w, src := testutil.TempDir(t), testutil.TempDir(t)
			p, c := watchDir(t, h, w)
			sub := filepath.Join(w, "sub")
			require.NoError(t, os.Mkdir(sub, 0o755))
			require.NoError(t, syscall.Mount(src, sub, "", syscall.MS_BIND, ""))
			t.Cleanup(func() { _ = syscall.Unmount(sub, syscall.MNT_DETACH) })
			var st syscall.Stat_t
			require.NoError(t, syscall.Stat(src, &st))
			key := src + "/"
			if rest, ok := mountRootOf(t, src); ok {
				key = rest + "/"
			}
			require.Eventually(t, func() bool {
				p.where.mu.Lock()
				defer p.where.mu.Unlock()
				for _, k := range p.where.keys[kernelDev(st.Dev)] {
					if k == key {
						return true
					}
				}
				return false
			}, 10*time.Second, 10*time.Millisecond, "the new mount's key %s is in the filter", key)
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: sub, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "f"}}})
			got := c.wait(t, 1, uint32(child.PID))
			require.Len(t, got, 1, "counted")
			// The node has two paths for it: the bind's (the narrowest
			// root) is the one reported.
			assert.Equal(t, filepath.Join(sub, "f"), got[0].path)
			assertNoLoss(t, p)
		})
	}
}

// mountRootOf returns dir's path inside its filesystem, from the node's
// mount table.
func mountRootOf(t *testing.T, dir string) (string, bool) {
	tab, err := readMountTable(DefaultMountInfo)
	require.NoError(t, err)
	best := -1
	for i, m := range tab.mounts {
		if under(dir, m.point) && (best < 0 || len(m.point) >= len(tab.mounts[best].point)) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	m := tab.mounts[best]
	rest := dir
	if m.point != "/" {
		rest = dir[len(m.point):]
	}
	if m.root == "/" {
		return rest, true
	}
	return m.root + rest, true
}

// TestMountOverWatched: a process sits in a watched directory (its cwd and
// an open descriptor), then the node mounts a filesystem over that
// directory (as a setuid fusermount3 lets a user do over their own
// ~/.ssh); the process creates through its old cwd and descriptor, in the
// filesystem below the mount, where the file shows once the mount goes.
// Those files must be counted under the watched directory's node path, as
// must a file created through the new mount. Before, only the top mount on
// the directory had a key in the kernel's filter: the filesystem below was
// known to the kernel (node_devs) without a key for the directory, and its
// files were dropped, uncounted.
func TestMountOverWatched(t *testing.T) {
	testutil.RequireRoot(t)
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			w := testutil.TempDir(t)
			gates := testutil.TempDir(t)
			pidFile, gate := filepath.Join(gates, "pid"), filepath.Join(gates, "gate")
			require.NoError(t, os.WriteFile(gate, nil, 0o644))
			p, c := watchDir(t, h, w)
			// The child opens w (its cwd and descriptor) before its ops.
			held := testutil.StartHeld(t, testutil.ChildSpec{Dir: w, Ops: []testutil.Op{
				{Kind: testutil.OpPidFile, Path: pidFile},
				{Kind: testutil.OpWaitGone, Path: gate},
				{Kind: testutil.OpOpenat, Path: "under-fd"},
				{Kind: testutil.OpOpenatRel, Path: "under-cwd"},
				{Kind: testutil.OpOpenAbs, Path: w + "/over"},
			}})
			require.Eventually(t, func() bool {
				b, err := os.ReadFile(pidFile)
				return err == nil && len(b) > 0
			}, 10*time.Second, 10*time.Millisecond, "the child sits in the watched directory")
			var below syscall.Stat_t
			require.NoError(t, syscall.Stat(w, &below))
			require.NoError(t, syscall.Mount("tmpfs", w, "tmpfs", 0, ""))
			t.Cleanup(func() { _ = syscall.Unmount(w, syscall.MNT_DETACH) })
			var over syscall.Stat_t
			require.NoError(t, syscall.Stat(w, &over))
			require.NotEqual(t, below.Dev, over.Dev)
			require.Eventually(t, func() bool {
				p.where.mu.Lock()
				defer p.where.mu.Unlock()
				return slices.Contains(p.where.keys[kernelDev(over.Dev)], "/")
			}, 10*time.Second, 10*time.Millisecond, "the mount over the watched directory is in the filter")
			require.NoError(t, os.Remove(gate))
			child := held.Release(t)
			got := c.wait(t, 3, uint32(child.PID))
			assert.Equal(t, []string{w + "/over", w + "/under-cwd", w + "/under-fd"}, paths(got), "counted under the watched directory's node path")
			for _, e := range got {
				assert.Zero(t, e.where&event.WhereNodeUnknown, "%s: on a node mount", e.path)
			}
			require.NoError(t, syscall.Unmount(w, 0))
			for _, f := range []string{"under-fd", "under-cwd"} {
				_, err := os.Stat(filepath.Join(w, f))
				assert.NoError(t, err, "%s is in the directory below the mount", f)
			}
			assertNoLoss(t, p)
		})
	}
}
