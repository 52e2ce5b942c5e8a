// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// nameCase is one case of TestNames, made ready in its own directory before
// the probe opens: the path prefixes it watches, the names its point needs
// no watched directory to have, and the case itself, run once the probe
// watches the union of every case's prefixes.
type nameCase struct {
	watch []string
	// unwatched: names that must be no watched directory's or ancestor's
	// name (watched_names, bpf/filter.h) in the union, or the case would
	// take another path than the one it is about (a name with a '/' whose
	// last directory has no watched name, a rename within one directory
	// that stops at that lookup, an exchange whose new name is not one).
	unwatched []string
	run       func(t *testing.T, s *sharedProbe)
}

// sharedProbe is the probe of one hook that TestNames' cases share, as one
// case sees it: its samples (each case counts only its own children's) and
// its losses since the case started (the loss counters are the probe's,
// across every case).
type sharedProbe struct {
	p     *Probe
	c     *collector
	start map[string]uint64
}

// lost returns the losses by reason since the case started.
func (s *sharedProbe) lost(t *testing.T) map[string]uint64 {
	t.Helper()
	lost, err := s.p.LostByReason()
	require.NoError(t, err)
	for reason := range lost {
		lost[reason] -= s.start[reason]
	}
	return lost
}

// assertNoLoss is assertNoLoss for the case: none lost since it started.
func (s *sharedProbe) assertNoLoss(t *testing.T) {
	t.Helper()
	assertNoneLost(t, s.p.Hook(), s.lost(t))
}

// unionNames are the names the tracepoint hook takes for a watched
// directory's or an ancestor's (watched_names) with these prefixes: every
// component of each, cut as the kernel cuts it (watchedNames; the loader
// puts in those inside each prefix's filesystem, a subset).
func unionNames(prefixes []string) map[[watchedNameLen]byte]bool {
	names := map[[watchedNameLen]byte]bool{}
	for _, p := range prefixes {
		for _, n := range watchedNames(p) {
			names[n] = true
		}
	}
	return names
}

// TestNames: the names that arrive in a watched directory (renames, links,
// symbolic links, directories; issue 24), one case per subtest. One probe
// per hook watches the union of the cases' prefixes, each case in its own
// directory (named as the case): a load of a hook is most of a case's time
// in the VMs of the kernel matrix (qemu emulates the verifier), and each case
// counts only its own children's samples and its own losses. The names that
// a case needs unwatched are checked against the union before the probe
// opens. TestNamePrefixRenames has a probe of its own: a name prefix sends
// every rename within one directory to the prefix filter
// (filter_name_prefixes), which the cases here must not have.
func TestNames(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, h Hook, root string) nameCase
	}{
		{"NamesArriving", namesArriving},
		{"LongNamesAreNotWithinOneDirectory", longNamesAreNotWithinOneDirectory},
		{"TmpfileLinkedThroughIOUring", tmpfileLinkedThroughIOUring},
		{"DirectoriesArriving", directoriesArriving},
		{"SymlinksArriving", symlinksArriving},
		{"SlashNamesResolved", slashNamesResolved},
		{"SlashNameLookupBounded", slashNameLookupBounded},
		{"IOUringNameCompletedElsewhere", ioUringNameCompletedElsewhere},
		{"SymlinkOnWatchedDirectory", symlinkOnWatchedDirectory},
		{"ExchangeOntoWatchedDirectory", exchangeOntoWatchedDirectory},
	}
	for _, h := range testedHooks() {
		t.Run(string(h), func(t *testing.T) {
			suite := testutil.TempDir(t)
			ready := make([]nameCase, len(cases))
			var prefixes []string
			for i, tc := range cases {
				root := filepath.Join(suite, tc.name)
				require.NoError(t, os.Mkdir(root, 0o755))
				ready[i] = tc.prepare(t, h, root)
				require.NotEmpty(t, ready[i].watch, "%s watches its directories", tc.name)
				prefixes = append(prefixes, ready[i].watch...)
			}
			names := unionNames(prefixes)
			for i, tc := range cases {
				for _, n := range ready[i].unwatched {
					require.NotEmpty(t, watchedNames(n), n)
					require.False(t, names[watchedNames(n)[0]], "%s: %q is a watched name in the union of prefixes %v: name the other case's directory otherwise", tc.name, n, prefixes)
				}
			}
			opts := DefaultOptions()
			opts.Hook = h
			opts.PathPrefixes = prefixes
			opts.ExcludePID = os.Getpid()
			p := openHook(t, opts)
			c := collect(p)
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					start, err := p.LostByReason()
					require.NoError(t, err)
					ready[i].run(t, &sharedProbe{p: p, c: c, start: start})
				})
			}
		})
	}
}

// namesArriving (issue 24, section 2): a file made elsewhere and
// renamed or hard-linked into a watched directory is a new name there,
// counted with its operation and its creator: renameat, renameat2 with
// RENAME_NOREPLACE and RENAME_EXCHANGE (each of the two files, in the
// other's directory), linkat, rename(2)/link(2) where they exist, and
// io_uring's IORING_OP_RENAMEAT and IORING_OP_LINKAT. A
// rename or link within one directory (sed -i's "./sedXXXX" over the file,
// a second name beside the first) is not counted.
func namesArriving(t *testing.T, _ Hook, root string) nameCase {
	dir, out, other := filepath.Join(root, "watched"), filepath.Join(root, "out"), filepath.Join(root, "other")
	for _, d := range []string{dir, out, other} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	for _, f := range []string{"r-at", "r-noreplace", "l-at", "x-out", "r-legacy", "l-legacy", "r-uring", "l-uring", "xu-out"} {
		require.NoError(t, os.WriteFile(filepath.Join(out, f), []byte("made elsewhere"), 0o644))
	}
	for _, f := range []string{"x-in", "same-src", "sedtmp", "target", "beside", "xu-in", "same-uring"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("already here"), 0o644))
	}
	return nameCase{
		// out/ is watched too, to see RENAME_EXCHANGE's second name;
		// other/ is not.
		watch:     []string{dir + "/", out + "/"},
		unwatched: []string{"other", "same-dst", "target", "beside2", "same-uring2"},
		run: func(t *testing.T, s *sharedProbe) {
			ops := []testutil.Op{
				{Kind: testutil.OpRenameat, For: filepath.Join(out, "r-at"), Path: "r-at"},
				{Kind: testutil.OpRenameNoReplace, For: filepath.Join(out, "r-noreplace"), Path: "r-noreplace"},
				{Kind: testutil.OpLinkat, For: filepath.Join(out, "l-at"), Path: "l-at"},
				{Kind: testutil.OpRenameExchange, For: filepath.Join(out, "x-out"), Path: "x-in"},
				// Within the watched directory: not counted.
				{Kind: testutil.OpRenameat, For: "same-src", Path: "same-dst"},
				{Kind: testutil.OpRenameat, For: "./sedtmp", Path: "target"},
				{Kind: testutil.OpLinkat, For: "beside", Path: "beside2"},
				// io_uring's forms
				{Kind: testutil.OpIOUringRenameat, For: filepath.Join(out, "r-uring"), Path: "r-uring"},
				{Kind: testutil.OpIOUringLinkat, For: filepath.Join(out, "l-uring"), Path: "l-uring"},
				{Kind: testutil.OpIOUringExchange, For: filepath.Join(out, "xu-out"), Path: "xu-in"},
				{Kind: testutil.OpIOUringRenameat, For: "same-uring", Path: "same-uring2"}, // within: not counted
				{Kind: testutil.OpOpenat, Path: "control"},
			}
			want := map[string]event.Op{
				filepath.Join(dir, "r-at"):        event.OpRename,
				filepath.Join(dir, "r-noreplace"): event.OpRename,
				filepath.Join(dir, "l-at"):        event.OpLink,
				filepath.Join(dir, "x-in"):        event.OpRename, // out's file, now here
				filepath.Join(out, "x-out"):       event.OpRename, // watched's file, now there
				filepath.Join(dir, "r-uring"):     event.OpRename,
				filepath.Join(dir, "l-uring"):     event.OpLink,
				filepath.Join(dir, "xu-in"):       event.OpRename,
				filepath.Join(out, "xu-out"):      event.OpRename,
				filepath.Join(dir, "control"):     event.OpCreate,
			}
			if testutil.HasLegacySyscalls {
				ops = append(ops,
					testutil.Op{Kind: testutil.OpRenameLegacy, For: filepath.Join(out, "r-legacy"), Path: "r-legacy"},
					testutil.Op{Kind: testutil.OpLinkLegacy, For: filepath.Join(out, "l-legacy"), Path: "l-legacy"},
				)
				want[filepath.Join(dir, "r-legacy")] = event.OpRename
				want[filepath.Join(dir, "l-legacy")] = event.OpLink
			}
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})
			got := s.c.wait(t, len(want), uint32(child.PID))
			gotOps := opsByPath(t, got, func(e seen) {
				assert.Equal(t, uint32(child.PID), e.tgid, "%s: the renaming process", e.path)
				// every name, the exchange's absolute old name too (the
				// tracepoint hook looks it up: bpf/lookup.h), and its type
				assert.Zero(t, e.flags&event.FlagUnresolved, "%s: resolved in the kernel", e.path)
				assert.Equal(t, event.TypeFile, e.typ, "%s: a regular file", e.path)
			})
			assert.Equal(t, want, gotOps, "each name arriving from another directory, with its operation; none within one")
			s.assertNoLoss(t)
		},
	}
}

// longNamesAreNotWithinOneDirectory: the tracepoint hook decides
// "within one directory" from the names as written, read up to 255 bytes. A
// rename whose two names share their first 255 bytes ("./" x 127, then
// "../out/f" and "f") moves a file into the watched directory from another;
// it must be counted, never taken for a rename within one directory (before,
// it was: the cut names' directory parts compared equal). Every hook: kretprobe
// and fexit compare the kernel's dentries and count it too.
func longNamesAreNotWithinOneDirectory(t *testing.T, _ Hook, root string) nameCase {
	dir, out := filepath.Join(root, "watched"), filepath.Join(root, "out")
	for _, d := range []string{dir, out} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	for _, f := range []string{"r-long", "l-long", "u-long"} {
		require.NoError(t, os.WriteFile(filepath.Join(out, f), []byte("made elsewhere"), 0o644))
	}
	return nameCase{
		watch: []string{dir + "/"},
		run: func(t *testing.T, s *sharedProbe) {
			pad := strings.Repeat("./", 127) // 254 bytes: both names are cut after one more
			ops := []testutil.Op{
				{Kind: testutil.OpRenameat, For: pad + "../out/r-long", Path: pad + "r-long"},
				{Kind: testutil.OpLinkat, For: pad + "../out/l-long", Path: pad + "l-long"},
				{Kind: testutil.OpIOUringRenameat, For: pad + "../out/u-long", Path: pad + "u-long"},
			}
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})
			got := s.c.wait(t, len(ops), uint32(child.PID))
			var renames, links int
			for _, e := range got {
				assert.Equal(t, uint32(child.PID), e.tgid, "%s: the renaming process", e.path)
				switch e.op {
				case event.OpRename:
					renames++
				case event.OpLink:
					links++
				}
			}
			assert.Equal(t, 2, renames, "the two renames into the watched directory (syscall and io_uring)")
			assert.Equal(t, 1, links, "the link into the watched directory")
			s.assertNoLoss(t)
		},
	}
}

// tmpfileLinkedThroughIOUring (issue 24, section 3): an O_TMPFILE file
// one process opens and names through io_uring (IORING_OP_LINKAT) is
// credited to that process, once; another process's link(2) afterwards is
// its own link and takes nothing of the first's. (The tracepoint hook once
// missed the io_uring link and credited the file to the next process that
// called link(2).)
func tmpfileLinkedThroughIOUring(t *testing.T, _ Hook, root string) nameCase {
	dir, out := filepath.Join(root, "watched"), filepath.Join(root, "out")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.Mkdir(out, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(out, "other"), nil, 0o644))
	return nameCase{
		watch: []string{dir + "/"},
		run: func(t *testing.T, s *sharedProbe) {
			a := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{
				{Kind: testutil.OpTmpfileLinkIOUring, Path: "t-uring"},
			}})
			b := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{
				{Kind: testutil.OpLinkat, For: filepath.Join(out, "other"), Path: "b-link"},
			}})
			got := s.c.wait(t, 2, uint32(a.PID), uint32(b.PID))
			by := map[string]uint32{}
			for _, e := range got {
				_, dup := by[e.path]
				assert.False(t, dup, "%s counted twice", e.path)
				by[e.path] = e.tgid
			}
			assert.Equal(t, map[string]uint32{
				filepath.Join(dir, "t-uring"): uint32(a.PID),
				filepath.Join(dir, "b-link"):  uint32(b.PID),
			}, by, "each name credited to the process that made it")
			s.assertNoLoss(t)
		},
	}
}

// directoriesArriving (issue 24, section 2): a directory renamed into
// place brings the files it holds, so it is counted, once, as a rename of a
// directory (TypeDirectory, on every hook: the tracepoint hook finds the new
// name's dentry in the dentry cache, bpf/lookup.h) when its new name is inside a watched directory, is
// the watched directory itself, or is an ancestor of one: from another
// directory, or within one ("mv ~/staged ~/.ssh": both in ~). Tried as an
// unprivileged user (nobody) on its own directories: onto the watched
// directory (absent before) from elsewhere, and within its parent by a
// plain name, an absolute name and io_uring; over a missing ancestor
// ("mv /tmp/x ~" as "mv x bob" beside it); inside ("mv /tmp/d
// /etc/cron.d/d"; io_uring too). Before, kretprobe and fexit counted
// regular files only and stopped every rename within one directory, and the
// tracepoint hook's filter dropped a directory's own path (it lacks the
// prefix's trailing '/') and stopped renames within one directory. Not
// counted: a directory renamed to a sibling of the watched ones, renames
// within the watched directory (one onto a name that is a watched
// directory's, but inside it), and mkdir there.
func directoriesArriving(t *testing.T, _ Hook, root string) nameCase {
	cron := filepath.Join(root, "cron.d")
	homes := []string{"alice", "carol", "dave", "erin"}
	dirs := []string{"x", "x/.ssh", "d", "u", "w", "cron.d", "estaged"}
	for _, u := range homes {
		dirs = append(dirs, u, u+"/staged")
	}
	for _, d := range dirs {
		require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	for _, f := range []string{"x/.ssh/authorized_keys", "d/job", "u/job", "w/f", "alice/staged/authorized_keys", "estaged/authorized_keys"} {
		require.NoError(t, os.WriteFile(filepath.Join(root, f), []byte("carried in"), 0o644))
	}
	// everything the attacker's: nobody owns its homes and staging dirs
	require.NoError(t, filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, 65534, 65534)
	}))
	watch := []string{cron + "/", filepath.Join(root, "bob/.ssh") + "/"} // bob's home absent: arrives whole
	for _, u := range homes {
		watch = append(watch, filepath.Join(root, u, ".ssh")+"/") // absent: arrives whole
	}
	return nameCase{
		watch:     watch,
		unwatched: []string{"other", "d2", "new"},
		run: func(t *testing.T, s *sharedProbe) {
			as := func(dir string, ops ...testutil.Op) uint32 {
				return uint32(testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops}.AsUser(65534, 65534)).PID)
			}
			alice := as(filepath.Join(root, "alice"), testutil.Op{Kind: testutil.OpRenameat, For: "staged", Path: ".ssh"}) // within ~, plain names
			carol := as(filepath.Join(root, "carol"), testutil.Op{Kind: testutil.OpRenameat,
				For: filepath.Join(root, "carol/staged"), Path: filepath.Join(root, "carol/.ssh")}) // within ~, absolute names
			dave := as(filepath.Join(root, "dave"), testutil.Op{Kind: testutil.OpIOUringRenameat, For: "staged", Path: ".ssh"})                // within ~, io_uring
			erin := as(filepath.Join(root, "erin"), testutil.Op{Kind: testutil.OpRenameat, For: filepath.Join(root, "estaged"), Path: ".ssh"}) // from another directory
			top := as(root,
				testutil.Op{Kind: testutil.OpRenameat, For: "x", Path: "bob"},   // an ancestor, within root
				testutil.Op{Kind: testutil.OpRenameat, For: "w", Path: "other"}) // a sibling: not counted
			in := as(cron,
				testutil.Op{Kind: testutil.OpRenameat, For: filepath.Join(root, "d"), Path: "d"},        // inside
				testutil.Op{Kind: testutil.OpIOUringRenameat, For: filepath.Join(root, "u"), Path: "u"}, // inside, io_uring
				testutil.Op{Kind: testutil.OpRenameat, For: "d", Path: "d2"},                            // within: not counted
				testutil.Op{Kind: testutil.OpRenameat, For: "d2", Path: "cron.d"},                       // within, a watched name, but inside: not counted
				testutil.Op{Kind: testutil.OpMkdir, Path: "new"})                                        // an empty directory: not counted
			want := map[string]uint32{
				filepath.Join(root, "alice/.ssh"): alice,
				filepath.Join(root, "carol/.ssh"): carol,
				filepath.Join(root, "dave/.ssh"):  dave,
				filepath.Join(root, "erin/.ssh"):  erin,
				filepath.Join(root, "bob"):        top,
				filepath.Join(cron, "d"):          in,
				filepath.Join(cron, "u"):          in,
			}
			got := s.c.wait(t, len(want), alice, carol, dave, erin, top, in)
			by := map[string]uint32{}
			wantType := event.TypeDirectory // every hook: the tracepoint hook finds the new dentry in the dentry cache
			for _, e := range got {
				_, dup := by[e.path]
				assert.False(t, dup, "%s counted twice", e.path)
				by[e.path] = e.tgid
				assert.Equal(t, event.OpRename, e.op, e.path)
				assert.Equal(t, wantType, e.typ, "%s: its type", e.path)
				assert.Equal(t, uint32(65534), e.uid, "%s: the renaming user", e.path)
				// a name with a '/' too (carol's): the tracepoint hook looks it up (bpf/lookup.h)
				assert.Zero(t, e.flags&event.FlagUnresolved, "%s: resolved in the kernel", e.path)
			}
			assert.Equal(t, want, by, "each directory arriving at, above or in a watched directory, by its renamer; none elsewhere or within one")
			s.assertNoLoss(t)
		},
	}
}

// symlinksArriving (issue 24, section 2): a symbolic link made in a
// watched directory is a new name there, counted (OpSymlink, TypeSymlink):
// symlinkat, symlink(2) and ia32 symlink/symlinkat where they exist,
// io_uring's IORING_OP_SYMLINKAT; one renamed in from another directory is
// a rename of a symbolic link (TypeSymlink, on every hook). Tried as nobody. One made outside, and one renamed within the
// watched directory, are not counted. Before, no hook counted symlinks.
func symlinksArriving(t *testing.T, _ Hook, root string) nameCase {
	dir, out := filepath.Join(root, "watched"), filepath.Join(root, "out")
	for _, d := range []string{dir, out} {
		require.NoError(t, os.Mkdir(d, 0o755))
		require.NoError(t, os.Chown(d, 65534, 65534))
	}
	require.NoError(t, os.Symlink("/etc/shadow", filepath.Join(out, "staged")))
	require.NoError(t, os.Lchown(filepath.Join(out, "staged"), 65534, 65534))
	return nameCase{
		watch:     []string{dir + "/"},
		unwatched: []string{"s-at2"},
		run: func(t *testing.T, s *sharedProbe) {
			ops := []testutil.Op{
				{Kind: testutil.OpSymlinkat, For: "/etc/shadow", Path: "s-at"},
				{Kind: testutil.OpSymlinkat, For: "dangling", Path: "s-dangling"},
				{Kind: testutil.OpIOUringSymlinkat, For: "/root", Path: "s-uring"},
				{Kind: testutil.OpRenameat, For: filepath.Join(out, "staged"), Path: "s-renamed"},
				{Kind: testutil.OpRenameat, For: "s-at", Path: "s-at2"}, // within: not counted
				// absolute names: the tracepoint hook looks them up
				// (bpf/lookup.h) and filters them as any
				{Kind: testutil.OpSymlinkat, For: "/etc/shadow", Path: filepath.Join(dir, "s-abs")},
				{Kind: testutil.OpSymlinkat, For: "/etc/shadow", Path: filepath.Join(out, "s-abs-out")}, // not watched
			}
			want := map[string]event.Op{
				filepath.Join(dir, "s-at"):       event.OpSymlink,
				filepath.Join(dir, "s-dangling"): event.OpSymlink,
				filepath.Join(dir, "s-uring"):    event.OpSymlink,
				filepath.Join(dir, "s-renamed"):  event.OpRename,
				filepath.Join(dir, "s-abs"):      event.OpSymlink,
			}
			if testutil.HasLegacySyscalls {
				ops = append(ops, testutil.Op{Kind: testutil.OpSymlinkLegacy, For: "/etc/shadow", Path: "s-legacy"})
				want[filepath.Join(dir, "s-legacy")] = event.OpSymlink
			}
			if testutil.HasCompatSyscalls && testutil.CompatSyscallsEnabled() {
				ops = append(ops, testutil.Op{Kind: testutil.OpCompatSymlink, Path: "s-compat"},
					testutil.Op{Kind: testutil.OpCompatSymlinkat, Path: "s-compatat"})
				want[filepath.Join(dir, "s-compat")] = event.OpSymlink
				want[filepath.Join(dir, "s-compatat")] = event.OpSymlink
			}
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops}.AsUser(65534, 65534))
			outside := testutil.RunChild(t, testutil.ChildSpec{Dir: out, Ops: []testutil.Op{
				{Kind: testutil.OpSymlinkat, For: "/etc/shadow", Path: "s-outside"}, // not watched
			}}.AsUser(65534, 65534))
			got := s.c.wait(t, len(want), uint32(child.PID), uint32(outside.PID))
			gotOps := opsByPath(t, got, func(e seen) {
				assert.Equal(t, event.TypeSymlink, e.typ, "%s: its type", e.path)
				assert.Equal(t, uint32(65534), e.uid, "%s: the user who made it", e.path)
				assert.Zero(t, e.flags&event.FlagUnresolved, "%s: resolved in the kernel", e.path)
			})
			assert.Equal(t, want, gotOps, "each symbolic link made in or renamed into the watched directory; none outside or within")
			s.assertNoLoss(t)
		},
	}
}

// slashNamesResolved (issue 24): a symbolic link, mknod or rename named
// with a '/' is counted where the kernel put it, on every hook. The
// tracepoint hook, which cannot reach the new dentry, repeats the lookup in
// the dentry cache (bpf/lookup.h): through a directory whose name no watched
// directory has, a symbolic link on the way, and "..". Where the lookup
// cannot be repeated (a link whose target its inode does not hold: a long
// one), a symbolic link is counted lost (name_unresolved) and a mknod is
// reported unresolved, as written. Before, the tracepoint hook dropped the
// first two silently (their last directory has no watched name), reported
// the others as written and unresolved, and dropped the lost one unseen.
func slashNamesResolved(t *testing.T, h Hook, root string) nameCase {
	w := filepath.Join(root, "home/alice/.ssh")
	require.NoError(t, os.MkdirAll(filepath.Join(w, "sub"), 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(root, "out"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "out/r1"), nil, 0o644))
	require.NoError(t, os.Symlink(w, filepath.Join(root, "lnk")))
	// past what ext4 (60 bytes) and tmpfs (128) keep in the inode
	long := "/" + strings.Repeat("./", 80) + strings.TrimPrefix(w, "/")
	require.NoError(t, os.Symlink(long, filepath.Join(root, "longlnk")))
	return nameCase{
		watch: []string{w + "/"},
		// the last directories that have no watched name
		unwatched: []string{"sub", "lnk", "longlnk"},
		run: func(t *testing.T, s *sharedProbe) {
			ops := []testutil.Op{
				{Kind: testutil.OpSymlinkat, For: "t", Path: w + "/sub/k-sub"},                  // last directory "sub": no watched name
				{Kind: testutil.OpSymlinkat, For: "t", Path: root + "/lnk/k-link"},              // through a symbolic link
				{Kind: testutil.OpSymlinkat, For: "t", Path: "out/../home/alice/.ssh/k-dotdot"}, // relative, through ".."
				{Kind: testutil.OpMknodat, Path: root + "/lnk/m-link"},                          // mknod through the link
				{Kind: testutil.OpRenameat, For: "out/r1", Path: "lnk/r-link"},                  // renamed in through the link
				{Kind: testutil.OpSymlinkat, For: "t", Path: root + "/out/k-out"},               // not watched
				{Kind: testutil.OpSymlinkat, For: "t", Path: root + "/longlnk/k-long"},          // tracepoint: lost
				{Kind: testutil.OpMknodat, Path: root + "/longlnk/m-long"},                      // tracepoint: unresolved
			}
			want := map[string]event.Op{
				filepath.Join(w, "sub/k-sub"): event.OpSymlink,
				filepath.Join(w, "k-link"):    event.OpSymlink,
				filepath.Join(w, "k-dotdot"):  event.OpSymlink,
				filepath.Join(w, "m-link"):    event.OpMknod,
				filepath.Join(w, "r-link"):    event.OpRename,
			}
			unresolved := map[string]bool{}
			if h == HookTracepoint {
				// as written, from the task's root
				want[filepath.Join(root, "longlnk/m-long")] = event.OpMknod
				unresolved[filepath.Join(root, "longlnk/m-long")] = true
			} else {
				want[filepath.Join(w, "k-long")] = event.OpSymlink
				want[filepath.Join(w, "m-long")] = event.OpMknod
			}
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: ops})
			got := s.c.wait(t, len(want), uint32(child.PID))
			gotOps := opsByPath(t, got, func(e seen) {
				assert.Equal(t, unresolved[e.path], e.flags&event.FlagUnresolved != 0, "%s: resolved in the kernel", e.path)
			})
			assert.Equal(t, want, gotOps, "each name counted where the kernel put it")
			for reason, n := range s.lost(t) {
				if h == HookTracepoint && reason == LostNameUnresolved {
					assert.Equal(t, uint64(1), n, "the link made through a link whose target is not in its inode")
					continue
				}
				assert.Zero(t, n, "lost %s", reason)
			}
		},
	}
}

// slashNameLookupBounded: an attacker who floods a directory on the
// way with cached names (3,000 files made after the one sought, or, on
// ext4, lookups of names that do not exist) pushes the tracepoint
// hook's lookup past its bound (bpf/lookup.h): never a silent drop. A
// symbolic link through it is counted lost (name_unresolved), a mknod is
// reported unresolved; kretprobe and fexit take the dentry and count both.
func slashNameLookupBounded(t *testing.T, h Hook, root string) nameCase {
	w := filepath.Join(root, "w")
	require.NoError(t, os.MkdirAll(filepath.Join(w, "deeper"), 0o755))
	return nameCase{
		watch:     []string{w + "/"},
		unwatched: []string{"deeper"},
		run: func(t *testing.T, s *sharedProbe) {
			// files, not lookups of missing names: tmpfs keeps no negative
			// dentries (and ext4 may drop them under memory pressure);
			// made here, right before the child (by this process, which
			// the probe excludes), not before the other cases
			for i := range 3000 {
				require.NoError(t, os.WriteFile(filepath.Join(root, fmt.Sprintf("f-%d", i)), nil, 0o644))
			}
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: []testutil.Op{
				{Kind: testutil.OpSymlinkat, For: "t", Path: w + "/deeper/k"},
				{Kind: testutil.OpMknodat, Path: w + "/deeper/m"},
			}})
			want := map[string]bool{filepath.Join(w, "deeper/k"): false, filepath.Join(w, "deeper/m"): false}
			if h == HookTracepoint {
				want = map[string]bool{filepath.Join(w, "deeper/m"): true} // as written, unresolved
			}
			got := s.c.wait(t, len(want), uint32(child.PID))
			by := map[string]bool{}
			for _, e := range got {
				by[e.path] = e.flags&event.FlagUnresolved != 0
			}
			assert.Equal(t, want, by, "counted, unresolved past the bound")
			wantLost := uint64(0)
			if h == HookTracepoint {
				wantLost = 1
			}
			assert.Equal(t, wantLost, s.lost(t)[LostNameUnresolved], "the link past the bound, counted lost")
		},
	}
}

// ioUringNameCompletedElsewhere: an IORING_OP_RENAMEAT on an
// IORING_SETUP_DEFER_TASKRUN ring runs in an io-wq worker, but its
// completion is posted by the submitter, when it reaps: which can chdir()
// between the two, one thread, no race. The rename (relative to the cwd)
// puts a file in the watched directory; the submitter then changes to a
// decoy directory and reaps. kretprobe and fexit take the dentry and count
// it there. The tracepoint hook reads the directory at the completion:
// posted outside the worker (6.18; 6.1 posts it in the worker), it cannot
// know the op's cwd or dfd, and reports the name unresolved (never
// filtered out). Before, it reported the
// file under the decoy directory, where the prefix filter dropped it with
// no count and no loss.
func ioUringNameCompletedElsewhere(t *testing.T, h Hook, root string) nameCase {
	w, out, decoy := filepath.Join(root, "watched"), filepath.Join(root, "out"), filepath.Join(root, "decoy")
	for _, d := range []string{w, out, decoy} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(out, "k-defer"), nil, 0o644))
	return nameCase{
		watch: []string{w + "/"},
		// the decoy is no watched directory's name
		unwatched: []string{"decoy"},
		run: func(t *testing.T, s *sharedProbe) {
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: w, Ops: []testutil.Op{
				{Kind: testutil.OpIOUringDeferRenameChdir, For: filepath.Join(out, "k-defer") + ":" + decoy, Path: "k-defer"},
			}})
			_, err := os.Stat(filepath.Join(w, "k-defer"))
			require.NoError(t, err, "the file is in the watched directory")
			got := s.c.wait(t, 1, uint32(child.PID))
			require.Len(t, got, 1, "the rename counted once: %v (lost: %v)", paths(got), s.lost(t))
			e := got[0]
			assert.Equal(t, event.OpRename, e.op)
			if h == HookTracepoint && e.flags&event.FlagUnresolved != 0 {
				// posted outside the worker (6.18: by the submitter, at
				// reaping): unresolved, never filtered as under the decoy
				assert.True(t, strings.HasSuffix(e.path, "/k-defer"), "%s: the name as written", e.path)
			} else {
				// the dentry taken, or (tracepoint) the completion posted by
				// the worker itself (6.1 posts it there): the real directory
				assert.Equal(t, filepath.Join(w, "k-defer"), e.path)
			}
			s.assertNoLoss(t)
		},
	}
}

// symlinkOnWatchedDirectory: a symbolic link named as a watched
// directory (or an ancestor of one) puts what it points to there, as a
// directory renamed onto it does: "ln -s /tmp/evil ~/.ssh" where ~/.ssh is
// missing (or was renamed away, within ~: not counted), or a link made as
// ~/.ssh-new and renamed within ~ onto ~/.ssh, or hard-linked there (link
// of the symbolic link itself, within ~). Each is counted, on every hook,
// under the watched directory's path. Before, the prefix filter
// matched a symbolic link as a regular file: its exact path, without the
// "/" a watched prefix ends in, matched nothing and it was dropped with no
// count and no loss.
func symlinkOnWatchedDirectory(t *testing.T, _ Hook, root string) nameCase {
	a, b, l, evil := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "l"), filepath.Join(root, "evil")
	for _, d := range []string{a, b, l, evil} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	wa, wb, wl := filepath.Join(a, ".ssh"), filepath.Join(b, ".ssh"), filepath.Join(l, ".ssh")
	return nameCase{
		watch:     []string{wa + "/", wb + "/", wl + "/"},
		unwatched: []string{".ssh-new", ".ssh-other"},
		run: func(t *testing.T, s *sharedProbe) {
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: b, Ops: []testutil.Op{
				{Kind: testutil.OpSymlinkat, For: evil, Path: wa},
				{Kind: testutil.OpSymlinkat, For: evil, Path: ".ssh-new"},
				{Kind: testutil.OpRenameat, For: ".ssh-new", Path: ".ssh"},  // within b
				{Kind: testutil.OpSymlinkat, For: evil, Path: ".ssh-other"}, // beside: not watched
				{Kind: testutil.OpSymlinkat, For: evil, Path: filepath.Join(l, "lnk")},
				{Kind: testutil.OpLinkat, For: filepath.Join(l, "lnk"), Path: wl}, // within l
			}})
			got := s.c.wait(t, 3, uint32(child.PID))
			gotOps := opsByPath(t, got, func(e seen) {
				assert.Equal(t, event.TypeSymlink, e.typ, "%s: its type", e.path)
				assert.Zero(t, e.flags&event.FlagUnresolved, "%s: resolved in the kernel", e.path)
			})
			assert.Equal(t, map[string]event.Op{wa: event.OpSymlink, wb: event.OpRename, wl: event.OpLink}, gotOps,
				"each link on a watched directory's path; none beside")
			s.assertNoLoss(t)
		},
	}
}

// exchangeOntoWatchedDirectory: renameat2 RENAME_EXCHANGE within one
// directory swaps a watched directory with the attacker's, with the
// watched one named first ("mv --exchange ~/.ssh ~/evil"): the old name,
// ~/.ssh, is then the attacker's directory, though the new name (~/evil)
// is not a watched name. Counted on every hook, natively and through
// io_uring, as a rename of the watched directory (type directory). Before,
// the tracepoint hook looked only the new name up in watched_names and
// dropped it with no count and no loss.
func exchangeOntoWatchedDirectory(t *testing.T, _ Hook, root string) nameCase {
	h1, h2 := filepath.Join(root, "h1"), filepath.Join(root, "h2")
	w1, w2 := filepath.Join(h1, ".ssh"), filepath.Join(h2, ".ssh")
	for _, d := range []string{w1, w2, filepath.Join(h1, "evil"), filepath.Join(h2, "evil")} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	return nameCase{
		watch: []string{w1 + "/", w2 + "/"},
		// the new name is no watched name: only the old one is
		unwatched: []string{"evil"},
		run: func(t *testing.T, s *sharedProbe) {
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: h1, Ops: []testutil.Op{
				{Kind: testutil.OpRenameExchange, For: ".ssh", Path: "evil"},
				{Kind: testutil.OpIOUringExchange, For: w2, Path: filepath.Join(h2, "evil")},
			}})
			got := s.c.wait(t, 2, uint32(child.PID))
			gotOps := opsByPath(t, got, func(e seen) {
				assert.Equal(t, event.TypeDirectory, e.typ, "%s: its type", e.path)
				assert.Zero(t, e.flags&event.FlagUnresolved, "%s: resolved in the kernel", e.path)
			})
			assert.Equal(t, map[string]event.Op{w1: event.OpRename, w2: event.OpRename}, gotOps,
				"the watched directory's name, now the attacker's directory")
			s.assertNoLoss(t)
		},
	}
}

// TestNamePrefixRenames: a prefix that does not end in "/" is a name prefix
// (/etc/cron matches /etc/crontab), so a name can start to match it by a
// rename or a link within one directory (/etc/x to /etc/crontab): counted,
// on every hook, natively and through io_uring; a rename within the
// directory whose new name no prefix matches is not.
func TestNamePrefixRenames(t *testing.T) {
	for _, h := range testedHooks() {
		t.Run(string(h), func(t *testing.T) {
			dir := filepath.Join(testutil.TempDir(t), "etc")
			require.NoError(t, os.Mkdir(dir, 0o755))
			for _, f := range []string{"x", "y", "z", "w", "plain", "plain3"} {
				require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("made beside"), 0o644))
			}
			opts := DefaultOptions()
			opts.Hook = h
			opts.PathPrefixes = []string{filepath.Join(dir, "cron")}
			opts.ExcludePID = os.Getpid()
			p := openHook(t, opts)
			c := collect(p)
			ops := []testutil.Op{
				{Kind: testutil.OpRenameat, For: "x", Path: "crontab"},
				{Kind: testutil.OpLinkat, For: "y", Path: "cron.hourly"},
				{Kind: testutil.OpIOUringRenameat, For: "z", Path: "cron.weekly"},
				{Kind: testutil.OpRenameat, For: "plain", Path: "plain2"}, // no prefix matches: not counted
				// nor named with a '/' (dpkg's x.dpkg-new to x): the
				// tracepoint hook looks it up and filters it
				{Kind: testutil.OpRenameat, For: filepath.Join(dir, "plain3"), Path: filepath.Join(dir, "plain4")},
				// named with a '/', a match: counted (the tracepoint hook
				// counted only names without a '/' before it looked names up)
				{Kind: testutil.OpRenameat, For: filepath.Join(dir, "w"), Path: filepath.Join(dir, "cron.monthly")},
				{Kind: testutil.OpOpenat, Path: "cron-control"},
			}
			want := map[string]event.Op{
				filepath.Join(dir, "crontab"):      event.OpRename,
				filepath.Join(dir, "cron.hourly"):  event.OpLink,
				filepath.Join(dir, "cron.weekly"):  event.OpRename,
				filepath.Join(dir, "cron.monthly"): event.OpRename,
				filepath.Join(dir, "cron-control"): event.OpCreate,
			}
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})
			got := c.wait(t, len(want), uint32(child.PID))
			gotOps := opsByPath(t, got, nil)
			assert.Equal(t, want, gotOps, "each name that starts to match the name prefix, within one directory")
			assertNoLoss(t, p)
		})
	}
}

// opsByPath maps each sample's path to its operation, failing the test for
// a path counted twice, and gives each sample to check (when not nil).
func opsByPath(t *testing.T, got []seen, check func(seen)) map[string]event.Op {
	t.Helper()
	ops := map[string]event.Op{}
	for _, e := range got {
		_, dup := ops[e.path]
		assert.False(t, dup, "%s counted twice", e.path)
		ops[e.path] = e.op
		if check != nil {
			check(e)
		}
	}
	return ops
}
