// SPDX-License-Identifier: Apache-2.0

//go:build linux

package identity

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// fakeProc writes /proc/<pid>/{stat,cgroup,exe,root/etc/passwd} under root
// for a process that started at startNs.
func fakeProc(t *testing.T, root string, pid uint32, startNs uint64, cgroup, exe, passwd string) {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprint(pid))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "root", "etc"), 0o755))
	// Fields after "(comm)": state is field 3, starttime field 22.
	fields := make([]string, 20)
	for i := range fields {
		fields[i] = "0"
	}
	fields[0] = "S"
	fields[19] = fmt.Sprint(startNs / 1e7)
	stat := fmt.Sprintf("%d (a) b) %s\n", pid, strings.Join(fields, " "))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cgroup), 0o644))
	if exe != "" {
		require.NoError(t, os.Symlink(exe, filepath.Join(dir, "exe")))
		// exe links into this mount namespace: its mounts are the fake
		// process's (the executable's place inside its filesystem).
		mi, err := os.ReadFile("/proc/self/mountinfo")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "mountinfo"), mi, 0o644))
		// and so is its mount namespace (the one SPIRE's view of exe is in).
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "ns"), 0o755))
		require.NoError(t, os.Symlink("/proc/self/ns/mnt", filepath.Join(dir, "ns", "mnt")))
	}
	if passwd != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "root", "etc", "passwd"), []byte(passwd), 0o644))
	}
}

// realPath is p with symlinks resolved: /proc/<pid>/exe names the file
// itself, never a symlink to it.
func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return r
}

func binSh(t *testing.T) string { return realPath(t, "/bin/sh") }

func statExe(t *testing.T, p string) (dev, ino uint64) {
	var st unix.Stat_t
	require.NoError(t, unix.Stat(p, &st))
	return st.Dev, st.Ino
}

const startA = 5_000_000_000 // 5 s after boot

// On a cgroup-v1-only host every sample carries the default hierarchy's
// root id. The first container seen must not become the identity of every
// later process with that id (the old cache mapped id → path for any id).
func TestV1RootIDNeverCachedAsContainer(t *testing.T) {
	proc := testutil.TempDir(t)
	fakeProc(t, proc, 100, startA, "4:memory:/docker/"+cid+"\n1:name=systemd:/docker/"+cid+"\n", "", "")
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: testutil.TempDir(t)})
	in := r.lookupFacts(&event.Event{TGID: 100, StartNs: startA, CgroupID: 1, Comm: []byte("c")})
	assert.Equal(t, cid, in.ContainerID)
	assert.Equal(t, "/docker/"+cid, in.Cgroup)
	resolveNow(r, &event.Event{TGID: 100, StartNs: startA, CgroupID: 1, Comm: []byte("c")})
	// A host process, gone before its lookup, with the same (root) id.
	host := r.lookupFacts(&event.Event{TGID: 200, StartNs: startA, CgroupID: 1, Comm: []byte("h")})
	assert.Equal(t, "", host.ContainerID)
	assert.Equal(t, "", host.Cgroup)
	assert.Equal(t, 0, r.Stats().Cgroups)
}

// A reused pid: /proc/<pid> is another process (another start time). Nothing
// read there is the sample's creator's: not its executable, cgroup or user.
func TestReusedPIDIsNotBelieved(t *testing.T) {
	proc := testutil.TempDir(t)
	dev, ino := statExe(t, binSh(t))
	fakeProc(t, proc, 100, startA+1e9, "4:memory:/docker/"+cid+"\n", binSh(t), "evil:x:1000:1000::/:/bin/sh\n")
	host := testutil.TempDir(t)
	require.NoError(t, os.MkdirAll(filepath.Join(host, "etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(host, "etc", "passwd"), []byte("alice:x:1000:1000::/:/bin/sh\n"), 0o644))
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: host})
	f := r.lookupFacts(&event.Event{TGID: 100, StartNs: startA, EUID: 1000, ExeDev: dev, ExeIno: ino, Comm: []byte("c")})
	assert.Equal(t, Facts{EUID: 1000, Comm: "c", User: "alice"}, f)
	// The same pid with the matching start time is believed.
	right := &event.Event{TGID: 100, StartNs: startA + 1e9, EUID: 1000, ExeDev: dev, ExeIno: ino, Comm: []byte("c")}
	g := r.lookupFacts(right)
	assert.Equal(t, cid, g.ContainerID)
	assert.Equal(t, "alice", g.User, "the user name is the node's, never the process's own root's")
	// Executables are found on the node: with this machine's root as the node's.
	onNode := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/"})
	assert.Equal(t, binSh(t), onNode.lookupFacts(right).Executable)
}

// The executable is the one that ran at the creation: when /proc/<pid>/exe
// is now another file (an exec since), the path is not believed; an
// executable seen (and checked) before is named by its device and inode.
func TestExecutableIsTheOneAtCreation(t *testing.T) {
	proc := testutil.TempDir(t)
	shDev, shIno := statExe(t, binSh(t))
	// pid 100 ran /bin/sh, created the file, then exec'ed /usr/bin/env.
	fakeProc(t, proc, 100, startA, "0::/\n", realPath(t, "/usr/bin/env"), "")
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/"})
	e := &event.Event{TGID: 100, StartNs: startA, ExeDev: shDev, ExeIno: shIno, Comm: []byte("sh")}
	assert.Equal(t, "", r.lookupFacts(e).Executable, "not credited to the exec'ed program")

	// Another process running /bin/sh teaches the resolver that inode.
	fakeProc(t, proc, 101, startA, "0::/\n", binSh(t), "")
	_, f := resolveNow(r, &event.Event{TGID: 101, StartNs: startA, ExeDev: shDev, ExeIno: shIno, Comm: []byte("sh")})
	assert.Equal(t, binSh(t), f.Executable)
	assert.Equal(t, binSh(t), r.lookupFacts(e).Executable)
}

// cgroup ids resolve through open_by_handle_at to the directory that has
// them, without walking; a removed cgroup resolves to nothing.
func TestCgroupByHandle(t *testing.T) {
	root := CgroupV2Root()
	testutil.RequireRoot(t)
	if root == "" {
		testutil.SkipUnlessStrict(t, "needs a cgroup v2 mount")
	}
	rel := "/kernelevents-test-handle-" + fmt.Sprint(os.Getpid()) + "/a"
	abs := filepath.Join(root, rel)
	require.NoError(t, os.MkdirAll(abs, 0o755))
	t.Cleanup(func() { os.Remove(abs); os.Remove(filepath.Dir(abs)) })
	s := newSysLookup("/proc", root, "/")
	defer s.close()
	id, ok := s.cgroupIDOf(rel)
	require.True(t, ok)
	p, ok := s.cgroupByID(id)
	require.True(t, ok, "open_by_handle_at on %s", root)
	assert.Equal(t, rel, p)
	p, ok = s.cgroupByID(1)
	assert.True(t, ok)
	assert.Equal(t, "/", p)
	require.NoError(t, os.Remove(abs))
	_, ok = s.cgroupByID(id)
	assert.False(t, ok)
	assert.False(t, s.noHandles.Load())
}

// Without open_by_handle_at, a path read from /proc/<pid>/cgroup is used
// only when that directory has the sample's id: a process that moved, or a
// pid now used by a process elsewhere, does not poison the cache.
func TestCgroupFromProcIsChecked(t *testing.T) {
	testutil.RequireRoot(t)
	root := CgroupV2Root()
	if root == "" {
		testutil.SkipUnlessStrict(t, "needs a cgroup v2 mount")
	}
	base := "/kernelevents-test-checked-" + fmt.Sprint(os.Getpid())
	for _, d := range []string{"a", "b"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, base, d), 0o755))
	}
	t.Cleanup(func() {
		os.Remove(filepath.Join(root, base, "a"))
		os.Remove(filepath.Join(root, base, "b"))
		os.Remove(filepath.Join(root, base))
	})
	proc := testutil.TempDir(t)
	fakeProc(t, proc, 100, startA, "0::"+base+"/b\n", "", "")
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: root, HostRoot: testutil.TempDir(t)})
	r.sys.noHandles.Store(true)
	idA, _ := r.sys.cgroupIDOf(base + "/a")
	idB, _ := r.sys.cgroupIDOf(base + "/b")
	// The sample was taken in a; the process is in b by now.
	assert.Equal(t, "", r.lookupFacts(&event.Event{TGID: 100, StartNs: startA, CgroupID: idA}).Cgroup)
	assert.Equal(t, base+"/b", r.lookupFacts(&event.Event{TGID: 100, StartNs: startA, CgroupID: idB}).Cgroup)
	resolveNow(r, &event.Event{TGID: 100, StartNs: startA, CgroupID: idA})
	r.mu.Lock()
	_, cachedA := r.cgroups.peek(idA)
	r.mu.Unlock()
	assert.False(t, cachedA)
}

func TestParsePasswd(t *testing.T) {
	m := parsePasswd(strings.NewReader("root:x:0:0::/root:/bin/sh\n#c:x:5:5\nbad\napp:x:1000:1000::/:/bin/sh\ndup:x:1000:1:::\n"))
	assert.Equal(t, map[uint32]string{0: "root", 1000: "app"}, m)
}

// Lookup never waits for lookups: with every worker stuck (here in
// deliver), samples of new processes are queued until MaxPending wait, then
// attributed from the caches alone and counted; cached ones are answered at
// once. Everything queued is delivered once the workers move again.
func TestLookupNeverWaits(t *testing.T) {
	proc := testutil.TempDir(t)
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: testutil.TempDir(t), MaxPending: 10, Workers: 1})
	cached := &event.Event{TGID: 1, StartNs: startA, EUID: 7, Comm: []byte("c")}
	resolveNow(r, cached)
	release := make(chan struct{})
	var mu sync.Mutex
	delivered := map[uint32]int{}
	// The cgroup watcher may not start here (its error says why); the
	// workers this test is about do.
	_ = r.Start(func(e *event.Event, _ uint32, f *Facts, _ time.Time) {
		<-release
		mu.Lock()
		delivered[e.TGID]++
		mu.Unlock()
		assert.Equal(t, "new", f.Comm)
	})
	now := time.Now()
	// The one worker takes a first sample and is stuck delivering it.
	_, _, ok := r.Lookup(&event.Event{TGID: 99, StartNs: startA, Comm: []byte("new"), Path: []byte("/x")}, now)
	require.False(t, ok)
	require.Eventually(t, func() bool { return r.Stats().Pending == 0 }, 10*time.Second, time.Millisecond)
	queued, direct := 0, 0
	for i := range 25 {
		// Two samples per process: the second waits behind the first's lookup.
		for range 2 {
			e := &event.Event{TGID: uint32(100 + i), StartNs: startA, EUID: 7, Comm: []byte("new"), Path: []byte("/x")}
			if _, f, ok := r.Lookup(e, now); ok {
				direct++
				assert.Equal(t, "new", f.Comm)
			} else {
				queued++
			}
		}
		_, _, ok := r.Lookup(cached, now)
		assert.True(t, ok, "a cached process is answered while the workers are stuck")
	}
	assert.Equal(t, 10, queued)
	assert.Equal(t, 40, direct)
	assert.Equal(t, uint64(40), r.Stats().Unresolved)
	close(release)
	r.Close()
	n := 0
	for _, c := range delivered {
		n += c
	}
	assert.Equal(t, 11, n)
	assert.Equal(t, 0, r.Stats().Pending)
}

// The watcher learns container and pod cgroups as they are made, at every
// level of the runtimes' layouts, so a sample read after its container's
// cgroup was removed is still named.
func TestWatcherLearnsNewContainerCgroups(t *testing.T) {
	v2 := CgroupV2Root()
	testutil.RequireRoot(t)
	if v2 == "" {
		testutil.SkipUnlessStrict(t, "needs a cgroup v2 mount")
	}
	// A test subtree stands for the hierarchy's root.
	root := filepath.Join(v2, fmt.Sprintf("kernelevents-test-watch-%d", os.Getpid()))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "docker"), 0o755))
	var made []string
	t.Cleanup(func() {
		for i := len(made) - 1; i >= 0; i-- {
			os.Remove(filepath.Join(root, made[i]))
		}
		os.Remove(filepath.Join(root, "docker"))
		os.Remove(root)
	})
	r := NewResolver(Options{ProcRoot: testutil.TempDir(t), CgroupRoot: root, HostRoot: testutil.TempDir(t)})
	require.NoError(t, r.Start(func(*event.Event, uint32, *Facts, time.Time) {}))
	defer r.Close()

	const pod = "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"
	cases := []struct{ dirs []string }{
		{[]string{"/docker/" + cid}},
		// the kubelet's root appears after the watcher started, then each level
		{[]string{"/kubepods", "/kubepods/burstable", "/kubepods/burstable/pod" + pod, "/kubepods/burstable/pod" + pod + "/" + strings.Repeat("a", 64)}},
		{[]string{"/kubepods.slice", "/kubepods.slice/kubepods-pod" + strings.ReplaceAll(pod, "-", "_") + ".slice",
			"/kubepods.slice/kubepods-pod" + strings.ReplaceAll(pod, "-", "_") + ".slice/crio-" + strings.Repeat("b", 64) + ".scope"}},
	}
	for _, tc := range cases {
		var ids []uint64
		for _, d := range tc.dirs {
			require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o755))
			made = append(made, d)
			id, ok := r.sys.cgroupIDOf(d)
			require.True(t, ok)
			ids = append(ids, id)
		}
		leaf, leafID := tc.dirs[len(tc.dirs)-1], ids[len(ids)-1]
		require.Eventually(t, func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			_, ok := r.cgroups.peek(leafID)
			return ok
		}, 10*time.Second, time.Millisecond, "never learnt %s", leaf)
		// The runtime removes it; the creator is gone too.
		for i := len(tc.dirs) - 1; i >= 0; i-- {
			require.NoError(t, os.Remove(filepath.Join(root, tc.dirs[i])))
		}
		made = made[:len(made)-len(tc.dirs)]
		f := r.lookupFacts(&event.Event{TGID: 1 << 30, StartNs: startA, CgroupID: leafID})
		assert.Equal(t, leaf, f.Cgroup)
		assert.NotEmpty(t, f.ContainerID, leaf)
		assert.Equal(t, strings.Contains(leaf, "pod"), f.PodUID == pod, leaf)
	}
	// Cgroups outside the runtimes' layouts are not recorded: once a
	// container made after them is learnt, they are still unknown.
	for _, d := range []string{"/other", "/docker/" + cid + "-x", "/docker/" + strings.Repeat("c", 64)} {
		require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o755))
		made = append(made, d)
	}
	other, _ := r.sys.cgroupIDOf("/other")
	notContainer, _ := r.sys.cgroupIDOf("/docker/" + cid + "-x")
	last, _ := r.sys.cgroupIDOf("/docker/" + strings.Repeat("c", 64))
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		_, ok := r.cgroups.peek(last)
		return ok
	}, 10*time.Second, time.Millisecond)
	r.mu.Lock()
	_, knownOther := r.cgroups.peek(other)
	_, knownNot := r.cgroups.peek(notContainer)
	r.mu.Unlock()
	assert.False(t, knownOther)
	assert.False(t, knownNot)
}

// TestCgroupIDUnderRuntimeDefault: containerd's RuntimeDefault seccomp
// profile refuses name_to_handle_at to a container without CAP_SYS_ADMIN (the
// DaemonSet's). The ids of cgroup directories (the lookup that checks a
// cgroup path, and the watcher that learns every new container's cgroup
// before its processes exit) must still be learned there: the child runs
// under a filter refusing name_to_handle_at and must find the ids the
// kernel's own handles give.
func TestCgroupIDUnderRuntimeDefault(t *testing.T) {
	if mode, ok := testutil.RerunMode(t); ok {
		dir, want, _ := strings.Cut(mode, "=")
		_, _, err := unix.NameToHandleAt(unix.AT_FDCWD, dir, 0)
		require.ErrorIs(t, err, unix.EPERM, "the filter refuses name_to_handle_at")
		s := newSysLookup("/proc", dir, "/")
		defer s.close()
		cid := "/docker/" + strings.Repeat("c", 64)
		id, ok := s.cgroupIDOf(cid)
		require.True(t, ok, "cgroupIDOf(%s) under the filter", cid)
		assert.Equal(t, want, fmt.Sprint(id))
		got := make(chan uint64, 1)
		w, err := newCgroupWatcher(dir, func(id uint64, rel string) {
			if rel == cid {
				got <- id
			}
		})
		require.NoError(t, err)
		defer w.close()
		select {
		case id := <-got:
			assert.Equal(t, want, fmt.Sprint(id), "the watcher's id for %s", cid)
		case <-time.After(10 * time.Second):
			t.Fatalf("the watcher did not record %s", cid)
		}
		return
	}
	root := CgroupV2Root()
	testutil.RequireRoot(t)
	if root == "" {
		testutil.SkipUnlessStrict(t, "needs a cgroup v2 mount")
	}
	// A runtime's layout inside a cgroup of the test's own, taken as the
	// hierarchy's root by the child.
	dir := filepath.Join(root, "kernelevents-test-nth-"+fmt.Sprint(os.Getpid()))
	abs := filepath.Join(dir, "docker", strings.Repeat("c", 64))
	require.NoError(t, os.MkdirAll(abs, 0o755))
	t.Cleanup(func() { os.Remove(abs); os.Remove(filepath.Dir(abs)); os.Remove(dir) })
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, abs, 0)
	require.NoError(t, err)
	require.Len(t, h.Bytes(), 8)
	want := binary.LittleEndian.Uint64(h.Bytes())
	testutil.Rerun(t, fmt.Sprintf("%s=%d", dir, want), testutil.WithSeccompDeny(unix.SYS_NAME_TO_HANDLE_AT))
}

// TestExecutablePathsDroppedWhenDeviceLeaves: an executable path cached for
// a filesystem is dropped when that filesystem leaves the node's mount
// table, so a reused device number (the next tmpfs or overlay mounted takes
// the freed one) never names the old filesystem's file; the paths of
// filesystems still mounted stay cached.
func TestExecutablePathsDroppedWhenDeviceLeaves(t *testing.T) {
	r := NewResolver(Options{ProcRoot: t.TempDir(), CgroupRoot: "none", HostRoot: t.TempDir()})
	gone := unix.Mkdev(0, 4001)
	kept := unix.Mkdev(0, 4002)
	now := time.Now()
	// The paths a checked lookup gave each (device, inode, path inside it).
	r.execs.paths.put(exeKey{gone, 7, "/bin/tool"}, "/mnt/old/bin/tool", now)
	r.execs.paths.put(exeKey{kept, 7, "/bin/tool"}, "/mnt/kept/bin/tool", now)
	exe := func(dev uint64) string {
		e := &event.Event{TGID: 1, ExeDev: dev, ExeIno: 7, ExecState: event.ExecSame}
		return r.execs.name(e, "/bin/tool", r.sys.process(1, 0), now)
	}
	require.Equal(t, "/mnt/old/bin/tool", exe(gone), "cached while its filesystem is mounted")

	r.NodeMountsChanged(map[uint64]bool{kept: true, unix.Mkdev(8, 1): true})
	// Not cached any more, and not on the node: nothing (a new filesystem
	// under the same number is looked up and checked afresh).
	assert.Equal(t, "", exe(gone), "the path of a filesystem that left the node's table")
	assert.Equal(t, "/mnt/kept/bin/tool", exe(kept), "a filesystem still mounted keeps its cached path")
	assert.Equal(t, 1, r.Stats().Executables)
}
