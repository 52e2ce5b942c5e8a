// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.MaybeRunChild()
	os.Exit(m.Run())
}

// requiredHooks are the hooks that must attach on this kernel:
// KERNELEVENTS_HOOKS (set by make vmtest per row), else tracepoint when
// strict. Others may be missing from the kernel and are skipped with the
// reason; where KERNELEVENTS_HOOKS names them, openHook skips the others
// without trying them.
func requiredHooks() []Hook {
	if v := os.Getenv("KERNELEVENTS_HOOKS"); v != "" {
		var hs []Hook
		for _, s := range strings.Split(v, ",") {
			hs = append(hs, Hook(strings.TrimSpace(s)))
		}
		return hs
	}
	if testutil.Strict() {
		return []Hook{HookTracepoint}
	}
	return nil
}

// testedHooks are the hooks a per-hook test runs: the required ones, or,
// where none is (outside CI), every hook, each skipping visibly where this
// kernel lacks it (openHook). Never none: a test whose loop ran no subtest
// would pass having tested nothing.
func testedHooks() []Hook {
	if hs := requiredHooks(); len(hs) > 0 {
		return hs
	}
	return Hooks
}

// hostHooks are the hooks that make test tests on the host's own kernel too
// (make unit), as KERNELEVENTS_HOST_HOOKS names them: make vmtest sets it to
// tracepoint in the VMs of the kernel matrix (internal/vmtest/README.md,
// "Cost"). Unset, as on the host, it is none.
func hostHooks() []Hook {
	var hs []Hook
	for _, s := range strings.Split(os.Getenv("KERNELEVENTS_HOST_HOOKS"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			hs = append(hs, Hook(s))
		}
	}
	return hs
}

// leaveToHost skips the subtest of hook h in a VM of the kernel matrix when
// the host tests h (hostHooks) and the test's case of h exercises nothing
// of that hook that depends on the VM's kernel beyond what the hook's other
// tests there do. For the tracepoint hook these are the tests of the path
// walk, the mount table and the loader's own logic: the walk from a file or
// dentry is the kretprobe's and fexit's too (run in every VM), and how the
// tracepoint hook gets there (syscall arguments and numbers, the fd table,
// names at sys_exit, io_uring tracepoints, core dumps, the verifier, the
// capabilities) stays in every row with the tests that are about it
// (TestCreationsPerHook, TestFDRace, TestNames, TestIOUringCreations,
// TestCoreDumps, TestVerifiedInstructions, TestLeastCapabilities, ...). A
// load of the tracepoint hook takes 20-30 s under qemu's emulation.
func leaveToHost(t *testing.T, h Hook) {
	t.Helper()
	if slices.Contains(hostHooks(), h) {
		t.Skipf("%s: left to the host's run (KERNELEVENTS_HOST_HOOKS=%s): nothing of this case depends on this kernel beyond what the hook's other tests here check (vmtest.sh with KERNELEVENTS_VMTEST_HOST_HOOKS= runs it here too)", h, os.Getenv("KERNELEVENTS_HOST_HOOKS"))
	}
}

// openHook opens h or skips when this kernel lacks it and it is not required.
func openHook(t *testing.T, opts Options) *Probe {
	t.Helper()
	testutil.RequireRoot(t)
	if opts.Hook == HookTracepoint || opts.Hook == HookAuto {
		testutil.RequireTracefs(t)
	}
	if hs := os.Getenv("KERNELEVENTS_HOOKS"); hs != "" && opts.Hook != HookAuto && !slices.Contains(requiredHooks(), opts.Hook) {
		// A row of the kernel matrix names its hooks (fexit is not among
		// arm64 6.1's): trying another one only to skip costs a load under
		// qemu's emulation in every test. TestAutoSaysWhy and
		// TestVerifiedInstructions still try it and show why it fails.
		t.Skipf("hook %s is not one this kernel must attach (KERNELEVENTS_HOOKS=%s): not tried", opts.Hook, hs)
	}
	p, err := Open(opts)
	if err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) && !slices.Contains(requiredHooks(), opts.Hook) {
			t.Skipf("hook %s is not available on this kernel (the kernel matrix, make vmtest, proves it): %v", opts.Hook, err)
		}
		require.NoError(t, err, "open hook %s", opts.Hook)
	}
	t.Cleanup(func() { p.Close() })
	t.Logf("attached %s; notes: %v", p, p.Notes())
	return p
}

// seen is a sample copied out of the reader's buffer.
type seen struct {
	tgid, tid, uid, gid uint32
	comm, path          string
	hook                event.HookID
	flags               event.Flags
	where               event.Where
	fsPath              string
	op                  event.Op
	typ                 event.Type
}

// collector drains a probe in the background.
type collector struct {
	mu        sync.Mutex
	events    []seen
	malformed int
	done      chan struct{}
}

// watchDir opens hook h for the creations under dir, the test process's own
// excluded, and collects its samples.
func watchDir(t *testing.T, h Hook, dir string) (*Probe, *collector) {
	t.Helper()
	opts := DefaultOptions()
	opts.Hook = h
	opts.PathPrefixes = []string{dir + "/"}
	opts.ExcludePID = os.Getpid()
	p := openHook(t, opts)
	return p, collect(p)
}

func collect(p *Probe) *collector {
	c := &collector{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		var e event.Event
		for {
			err := p.Read(&e)
			if errors.Is(err, event.ErrMalformed) {
				c.mu.Lock()
				c.malformed++
				c.mu.Unlock()
				continue
			}
			if err != nil {
				return
			}
			c.mu.Lock()
			c.events = append(c.events, seen{e.TGID, e.TID, e.EUID, e.EGID, string(e.Comm), string(e.Path), e.Hook, e.Flags, e.Where, string(e.FSPath), e.Op, e.Type})
			c.mu.Unlock()
		}
	}()
	return c
}

// wait returns the samples of tgids once there are at least n of them, and
// after a further settle period so that extra samples would show.
func (c *collector) wait(t *testing.T, n int, tgids ...uint32) []seen {
	t.Helper()
	var got []seen
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = c.of(tgids...)
		if len(got) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	return c.of(tgids...)
}

func (c *collector) of(tgids ...uint32) []seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []seen
	for _, e := range c.events {
		if slices.Contains(tgids, e.tgid) {
			out = append(out, e)
		}
	}
	return out
}

func paths(es []seen) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.path)
	}
	slices.Sort(out)
	return out
}

// creationOps returns ops that create one file per creating syscall and the
// absolute paths they create.
func creationOps(dir string) ([]testutil.Op, []string) {
	kinds := []string{testutil.OpOpenat, testutil.OpOpenat2, testutil.OpMknodat, testutil.OpOpenatRel, testutil.OpMknodatRel}
	if testutil.HasLegacySyscalls {
		kinds = append(kinds, testutil.OpOpen, testutil.OpCreat, testutil.OpMknod)
	}
	var ops []testutil.Op
	var want []string
	for _, k := range kinds {
		name := "new-" + k
		ops = append(ops, testutil.Op{Kind: k, Path: name})
		want = append(want, filepath.Join(dir, name))
	}
	return ops, want
}

func TestCreationsPerHook(t *testing.T) {
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			root := testutil.TempDir(t)
			opts := DefaultOptions()
			opts.Hook = h
			opts.PathPrefixes = []string{root + "/"}
			opts.ExcludePID = os.Getpid()
			p := openHook(t, opts)
			require.Equal(t, h, p.Hook())
			c := collect(p)

			// A root child creates one file per syscall, then does
			// everything that must not count.
			dirA := filepath.Join(root, "a")
			require.NoError(t, os.Mkdir(dirA, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dirA, "existing"), nil, 0o644))
			ops, want := creationOps(dirA)
			ops = append(ops,
				testutil.Op{Kind: testutil.OpReopen, Path: "existing"},
				testutil.Op{Kind: testutil.OpReopen, Path: "new-openat"},
				testutil.Op{Kind: testutil.OpExclFail, Path: "existing"},
				testutil.Op{Kind: testutil.OpMkfifo, Path: "fifo"},
			)
			a := testutil.RunChild(t, testutil.ChildSpec{Dir: dirA, Ops: ops})

			// A child as nobody: EACCES in a root-owned directory, two
			// files in its own.
			dirB := filepath.Join(root, "b")
			require.NoError(t, os.Mkdir(dirB, 0o777))
			require.NoError(t, os.Chmod(dirB, 0o777))
			b := testutil.RunChild(t, testutil.ChildSpec{Dir: dirB, Ops: []testutil.Op{
				{Kind: testutil.OpAccessFail, Path: "../a/denied"},
				{Kind: testutil.OpOpenat, Path: "nobody-1"},
				{Kind: testutil.OpOpenat2, Path: "nobody-2"},
			}}.AsUser(65534, 65534))
			wantB := []string{filepath.Join(dirB, "nobody-1"), filepath.Join(dirB, "nobody-2")}

			got := c.wait(t, len(want)+len(wantB), uint32(a.PID), uint32(b.PID))
			gotA, gotB := filterTGID(got, a.PID), filterTGID(got, b.PID)
			slices.Sort(want)
			assert.Equal(t, want, paths(gotA), "files created by the root child")
			assert.Equal(t, wantB, paths(gotB), "files created by nobody")
			for _, e := range gotA {
				assert.Equal(t, uint32(0), e.uid)
				assert.Equal(t, testutil.ChildComm, e.comm)
				assert.NotZero(t, e.tid)
				assert.Zero(t, e.flags&event.FlagTruncated)
				assert.Equal(t, string(h), e.hook.String(), "every creation is seen by the hook's own programs")
				assert.Equal(t, strings.Contains(e.path, "mknod"), e.flags&event.FlagMknod != 0, "mknod flag on %s", e.path)
			}
			for _, e := range gotB {
				assert.Equal(t, uint32(65534), e.uid)
				assert.Equal(t, uint32(65534), e.gid)
			}
			lost, err := p.Lost()
			require.NoError(t, err)
			assert.Zero(t, lost)
			assert.Zero(t, c.malformed)
		})
	}
}

func filterTGID(es []seen, pid int) []seen {
	var out []seen
	for _, e := range es {
		if e.tgid == uint32(pid) {
			out = append(out, e)
		}
	}
	return out
}

// TestAutoSaysWhy checks that auto keeps the first hook that works on this
// kernel in its order here (autoOrder: kretprobe first where the kernel
// preempts BPF programs and counts kretprobe's misses, and a note saying
// why on every kernel that preempts), that every hook before it
// really fails here, and that a note says why each was passed over.
func TestAutoSaysWhy(t *testing.T) {
	opts := DefaultOptions()
	opts.PathPrefixes = []string{"/nonexistent-kernelevents/"}
	p := openHook(t, opts)
	model := preemptionModel()
	t.Logf("auto chose %s (preemption model %q); notes: %q", p.Hook(), model, p.Notes())
	if want := os.Getenv("KERNELEVENTS_EXPECT_AUTO"); want != "" {
		require.Equal(t, Hook(want), p.Hook())
	}
	order, why := autoOrder(model, kernelRelease())
	if why != "" {
		assert.Contains(t, p.Notes(), why, "auto says why it ordered the hooks so on a kernel that preempts programs")
	}
	for _, h := range order {
		if h == p.Hook() {
			break
		}
		assert.True(t, slices.ContainsFunc(p.Notes(), func(n string) bool { return strings.HasPrefix(n, string(h)+": ") }),
			"no reason given for passing over %s in %q", h, p.Notes())
		explicit := opts
		explicit.Hook = h
		q, err := Open(explicit)
		if err == nil {
			defer q.Close()
		}
		if h == HookKretprobe && slices.ContainsFunc(p.Notes(), func(n string) bool { return strings.HasPrefix(n, "kretprobe: passed over for fexit") }) {
			// It attaches, with the kernel's default instances only.
			if assert.NoError(t, err, "kretprobe passed over for its few instances") {
				assert.True(t, q.fewInstances, "kretprobe passed over for its few instances: attached with the default ones")
			}
			continue
		}
		assert.Error(t, err, "auto passed over %s, which opens when asked for by name", h)
	}
}

func TestFilters(t *testing.T) {
	root := testutil.TempDir(t)
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	for _, d := range []string{in, out} {
		require.NoError(t, os.Mkdir(d, 0o777))
		require.NoError(t, os.Chmod(d, 0o777))
	}
	opts := DefaultOptions()
	opts.Hook = HookAuto
	opts.PathPrefixes = []string{in + "/"}
	opts.UIDs = []uint32{65534}
	opts.ExcludePID = os.Getpid()
	p := openHook(t, opts)
	c := collect(p)

	ops := func(dir, name string) testutil.ChildSpec {
		return testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: name + "1"}, {Kind: testutil.OpMknodat, Path: name + "2"}}}
	}
	rootIn := testutil.RunChild(t, ops(in, "root"))                            // wrong uid
	nobodyOut := testutil.RunChild(t, ops(out, "nobody").AsUser(65534, 65534)) // wrong prefix
	nobodyIn := testutil.RunChild(t, ops(in, "nobody").AsUser(65534, 65534))   // kept
	got := c.wait(t, 2, uint32(rootIn.PID), uint32(nobodyOut.PID), uint32(nobodyIn.PID))
	assert.Equal(t, []string{filepath.Join(in, "nobody1"), filepath.Join(in, "nobody2")}, paths(got))
	for _, e := range got {
		assert.Equal(t, uint32(nobodyIn.PID), e.tgid)
	}
}

func TestExcludeComm(t *testing.T) {
	root := testutil.TempDir(t)
	opts := DefaultOptions()
	opts.PathPrefixes = []string{root + "/"}
	opts.ExcludeComms = []string{testutil.ChildComm}
	p := openHook(t, opts)
	c := collect(p)
	child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "x"}}})
	// This process is not excluded (ExcludePID unset): its file is the marker
	// that the probe works while the child's is filtered.
	require.NoError(t, os.WriteFile(filepath.Join(root, "marker"), nil, 0o644))
	got := c.wait(t, 1, uint32(os.Getpid()), uint32(child.PID))
	assert.Equal(t, []string{filepath.Join(root, "marker")}, paths(got))
}

// TestLostAccounting fills a one-page ring with nobody reading: every file is
// either received or counted as lost, exactly.
//
// The child runs as a uid of its own and the probe keeps only that uid: the
// lost counter is host-wide, and the prefix filter never drops a file the
// node's mount table cannot place (another test's private tmpfs), which
// would otherwise count in it.
func TestLostAccounting(t *testing.T) {
	root := testutil.TempDir(t)
	require.NoError(t, os.Chmod(root, 0o777))
	const uid = 4243
	opts := DefaultOptions()
	opts.RingBufferSize = os.Getpagesize()
	opts.WakeupBytes = 0
	opts.PathPrefixes = []string{root + "/"}
	opts.UIDs = []uint32{uid}
	opts.ExcludePID = os.Getpid()
	p := openHook(t, opts)

	const n = 2000
	ops := make([]testutil.Op, n)
	for i := range ops {
		ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: "burst-" + itoa(i)}
	}
	child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: ops}.AsUser(uid, uid))
	c := collect(p) // only now: the ring overflowed while nobody read
	got := c.wait(t, 1, uint32(child.PID))
	lost, err := p.Lost()
	require.NoError(t, err)
	t.Logf("ring of %d bytes: %d received, %d lost", opts.RingBufferSize, len(got), lost)
	assert.Positive(t, lost, "a one-page ring cannot hold %d samples", n)
	assert.Equal(t, uint64(n), uint64(len(got))+lost, "received + lost must equal created")
}

func itoa(i int) string {
	return strconv.Itoa(i)
}

// TestCloseReleasesEverything walks the kernel's program and map ids after
// Close: none of the probe's remain.
func TestCloseReleasesEverything(t *testing.T) {
	p := openHook(t, DefaultOptions())
	progs, maps := p.ProgramIDs(), p.MapIDs()
	require.NotEmpty(t, progs)
	require.NotEmpty(t, maps)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close twice")

	// The kernel frees them after an RCU grace period.
	require.Eventually(t, func() bool {
		return !anyLive(progs, maps)
	}, 5*time.Second, 20*time.Millisecond, "programs %v or maps %v still in the kernel", progs, maps)
}

func anyLive(progs []ebpf.ProgramID, maps []ebpf.MapID) bool {
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			break
		}
		if slices.Contains(progs, next) {
			return true
		}
		id = next
	}
	for id := ebpf.MapID(0); ; {
		next, err := ebpf.MapGetNextID(id)
		if err != nil {
			break
		}
		if slices.Contains(maps, next) {
			return true
		}
		id = next
	}
	return false
}

func TestCapabilityError(t *testing.T) {
	assert.NoError(t, capabilityError(1<<capSysAdmin))
	assert.NoError(t, capabilityError(1<<capBPF|1<<capPerfmon))
	err := capabilityError(1 << capBPF)
	require.ErrorIs(t, err, ErrMissingCapability)
	assert.Contains(t, err.Error(), "CAP_PERFMON")
	assert.NotContains(t, err.Error(), "CAP_BPF and")
	err = capabilityError(0)
	assert.Contains(t, err.Error(), "CAP_BPF and CAP_PERFMON")
}

// TestIOUringCreations: files created through io_uring (plain fds, an SQPOLL
// ring, a direct descriptor, OPENAT2) are counted exactly once, attributed
// to the submitting process; re-opens and O_EXCL failures are not.
func TestIOUringCreations(t *testing.T) {
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			dir := testutil.TempDir(t)
			opts := DefaultOptions()
			opts.Hook = h
			opts.PathPrefixes = []string{dir + "/"}
			opts.ExcludePID = os.Getpid()
			p := openHook(t, opts)
			if h == HookTracepoint && slices.ContainsFunc(p.Notes(), func(n string) bool { return strings.Contains(n, "io_uring") }) {
				testutil.SkipUnlessStrict(t, "this kernel has no io_uring_complete tracepoint: %q", p.Notes())
			}
			c := collect(p)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "existing"), nil, 0o644))
			ops := []testutil.Op{
				{Kind: testutil.OpIOUring, Path: "uring-openat"},
				{Kind: testutil.OpIOUringOpenat2, Path: "uring-openat2"},
				{Kind: testutil.OpIOUringSQPoll, Path: "uring-sqpoll"},
				{Kind: testutil.OpIOUringDirect, Path: "uring-direct"},
				{Kind: testutil.OpIOUringReopen, Path: "existing"},
				{Kind: testutil.OpIOUringExcl, Path: "existing"},
			}
			child := runIOUringChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})
			want := []string{filepath.Join(dir, "uring-direct"), filepath.Join(dir, "uring-openat"), filepath.Join(dir, "uring-openat2"), filepath.Join(dir, "uring-sqpoll")}
			got := c.wait(t, len(want), uint32(child.PID))
			assert.Equal(t, want, paths(got), "each io_uring creation exactly once")
			for _, e := range got {
				assert.Equal(t, uint32(0), e.uid)
				assert.Equal(t, testutil.ChildComm, e.comm, "named after the submitting program, not the io_uring worker")
				if h == HookTracepoint {
					assert.Equal(t, event.HookIOUring, e.hook)
					assert.NotZero(t, e.flags&event.FlagIOUring)
				} else {
					assert.Equal(t, string(h), e.hook.String())
				}
			}
		})
	}
}

// runIOUringChild runs the child, skipping (or failing, when strict) where
// the kernel offers no io_uring.
func runIOUringChild(t *testing.T, spec testutil.ChildSpec) testutil.Child {
	t.Helper()
	if _, err := os.Stat("/proc/sys/kernel/io_uring_disabled"); err == nil {
		if b, _ := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); strings.TrimSpace(string(b)) == "2" {
			testutil.SkipUnlessStrict(t, "io_uring is disabled (kernel.io_uring_disabled=2)")
		}
	}
	return testutil.RunChild(t, spec)
}

// TestExplainLoad: a verifier rejection (EACCES underneath) is reported as
// one, not as a permission problem; EPERM on fexit names the trampoline.
func TestExplainLoad(t *testing.T) {
	verr := &ebpf.VerifierError{Cause: unix.EACCES, Log: []string{"R2 unbounded memory access"}}
	err := explainLoad(HookTracepoint, fmt.Errorf("load program: %w", verr))
	assert.Contains(t, err.Error(), "the verifier rejected them")
	assert.NotContains(t, err.Error(), "lockdown")
	err = explainLoad(HookFexit, fmt.Errorf("load program: %w", unix.EPERM))
	assert.Contains(t, err.Error(), "refused a BPF trampoline program")
	assert.ErrorIs(t, err, ebpf.ErrNotSupported)
	err = explainLoad(HookKretprobe, fmt.Errorf("load program: %w", unix.EPERM))
	assert.Contains(t, err.Error(), "permission denied")
}

// TestNameLengths: path components of every length around the kernel's
// inline-name sizes (31 before 6.14, 39 since) come out whole, whether the
// program copies them from its one read of the dentry or reads them apart.
func TestNameLengths(t *testing.T) {
	for _, h := range testedHooks() {
		t.Run(string(h), func(t *testing.T) {
			leaveToHost(t, h)
			root := testutil.TempDir(t)
			opts := DefaultOptions()
			opts.Hook = h
			opts.PathPrefixes = []string{root + "/"}
			p := openHook(t, opts)
			c := collect(p)
			dir, rel := root, ""
			for _, n := range []int{1, 31, 32, 39, 40} {
				name := strings.Repeat(string(rune('a'+n%26)), n)
				dir, rel = filepath.Join(dir, name), filepath.Join(rel, name)
				require.NoError(t, os.Mkdir(dir, 0o755))
			}
			var ops []testutil.Op
			var want []string
			for _, n := range []int{1, 7, 8, 9, 31, 32, 39, 40, 41, 100} {
				name := filepath.Join(rel, strings.Repeat("f", n-1)+"z")
				ops = append(ops, testutil.Op{Kind: testutil.OpOpenat, Path: name})
				want = append(want, filepath.Join(root, name))
			}
			slices.Sort(want)
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: ops})
			got := c.wait(t, len(want), uint32(child.PID))
			// Paths longer than a sample holds are cut at the leaf side: the
			// kernel's path is the one inside the filesystem (255 bytes at
			// most), and the node path puts the mountpoint in front of it
			// instead of the mount's root (a tmpfs on /tmp, as in the VMs:
			// 4 bytes longer).
			cut := event.PathLen - 1
			if inFS, ok := mountRootOf(t, root); ok {
				cut += len(root) - len(inFS)
			}
			for i, w := range want {
				if len(w) > cut {
					want[i] = w[:cut]
				}
			}
			assert.Equal(t, want, paths(got))
		})
	}
}
