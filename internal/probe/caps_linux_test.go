// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/procstatus"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestLeastCapabilities proves the README's least set per hook: root with
// every capability but CAP_BPF and CAP_PERFMON dropped opens each required
// hook and counts exactly the files created, and without CAP_PERFMON the
// loader refuses before touching the kernel, naming it. It re-executes the
// test binary with the smaller bounding set, so it runs in the test VM too.
func TestLeastCapabilities(t *testing.T) {
	// Run again with fewer capabilities, in mode "open:<hook>",
	// "refused:<hook>" or "paranoid:<hook>".
	if mode, ok := testutil.RerunMode(t); ok {
		leastCapabilitiesChild(t, mode)
		return
	}
	testutil.RequireRoot(t)
	hooks := requiredHooks()
	if len(hooks) == 0 {
		hooks = []Hook{HookTracepoint}
	}
	run := func(t *testing.T, mode string, keep ...int) bool {
		_, skipped := testutil.Rerun(t, mode, testutil.WithCapabilities(keep...))
		return skipped
	}
	for i, h := range hooks {
		t.Run(string(h), func(t *testing.T) {
			if h == HookTracepoint {
				testutil.RequireTracefs(t)
			}
			// Mainline lets CAP_PERFMON open perf events at every level;
			// Debian's and Ubuntu's level 3 wants CAP_SYS_ADMIN. The least
			// set holds at 2, the mainline default.
			setParanoid(t, min(perfEventParanoid(), 2))
			if skipped := run(t, "open:"+string(h), unix.CAP_BPF, unix.CAP_PERFMON); skipped && testutil.Strict() {
				t.Fatalf("the child skipped")
			}
			if i == 0 { // the capability check comes before any hook
				run(t, "refused:"+string(h), unix.CAP_BPF)
			}
			setParanoid(t, 3)
			run(t, "paranoid:"+string(h), unix.CAP_BPF, unix.CAP_PERFMON)
		})
	}
}

// setParanoid sets kernel.perf_event_paranoid for the rest of the test.
func setParanoid(t *testing.T, level int) {
	const file = "/proc/sys/kernel/perf_event_paranoid"
	old, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, []byte(strconv.Itoa(level)), 0))
	t.Cleanup(func() { assert.NoError(t, os.WriteFile(file, old, 0)) })
}

func leastCapabilitiesChild(t *testing.T, mode string) {
	what, hook, _ := strings.Cut(mode, ":")
	caps, err := procstatus.Capabilities(os.Getpid())
	require.NoError(t, err)
	t.Logf("effective capabilities: %#x", caps)
	opts := DefaultOptions()
	opts.Hook = Hook(hook)
	switch what {
	case "refused":
		require.Equal(t, uint64(1)<<unix.CAP_BPF, caps, "the child must hold only CAP_BPF")
		p, err := Open(opts)
		if err == nil {
			p.Close()
		}
		require.ErrorIs(t, err, ErrMissingCapability)
		assert.Contains(t, err.Error(), "CAP_PERFMON")
		assert.NotContains(t, err.Error(), "CAP_BPF and")
	case "open":
		require.Equal(t, uint64(1)<<unix.CAP_BPF|uint64(1)<<unix.CAP_PERFMON, caps, "the child must hold only CAP_BPF and CAP_PERFMON")
		root := testutil.TempDir(t)
		opts.PathPrefixes = []string{root + "/"}
		p := openHook(t, opts)
		c := collect(p)
		ops, want := creationOps(root)
		slices.Sort(want)
		child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: ops})
		got := c.wait(t, len(want), uint32(child.PID))
		assert.Equal(t, want, paths(got), "hook %s with only CAP_BPF and CAP_PERFMON", hook)
		lost, err := p.Lost()
		require.NoError(t, err)
		assert.Zero(t, lost)
	case "paranoid":
		// perf_event_paranoid is 3: a kernel that restricts perf events
		// there must get an error that says so, not a bare EACCES.
		p, err := Open(opts)
		if err != nil {
			require.ErrorIs(t, err, ErrPerfEventParanoid)
			t.Logf("hook %s at perf_event_paranoid 3: %v", hook, err)
			return
		}
		defer p.Close()
		t.Logf("hook %s opens at perf_event_paranoid 3 on this kernel; notes: %q", hook, p.Notes())
		for _, n := range p.Notes() {
			if strings.Contains(n, "permission denied") {
				assert.Contains(t, n, ErrPerfEventParanoid.Error())
			}
		}
	default:
		t.Fatalf("mode %q: want open:<hook>, refused:<hook> or paranoid:<hook>", mode)
	}
}

// TestNoKernelBTF: without /sys/kernel/btf/vmlinux (hidden in a private
// mount namespace), Open fails once, naming BTF and btf_path, for every
// hook; given the same BTF as a file through BTFPath, it works again.
func TestNoKernelBTF(t *testing.T) {
	// Run again, in a private mount namespace, with the BTF file as mode.
	if btf, ok := testutil.RerunMode(t); ok {
		noBTFChild(t, btf)
		return
	}
	testutil.RequireRoot(t)
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if err != nil {
		testutil.SkipUnlessStrict(t, "this kernel has no BTF: %v", err)
	}
	btfFile := filepath.Join(testutil.TempDir(t), "vmlinux.btf")
	require.NoError(t, os.WriteFile(btfFile, raw, 0o644))
	hooks := requiredHooks()
	if len(hooks) == 0 {
		hooks = []Hook{HookTracepoint}
	}
	// A child in its own mount namespace, where an empty tmpfs hides
	// /sys/kernel/btf (the parent's view is untouched).
	out, _ := testutil.Rerun(t, btfFile, testutil.WithEnv("KERNELEVENTS_HOOKS="+joinHooks(hooks)),
		testutil.WithCmd(func(cmd *exec.Cmd) { cmd.SysProcAttr = &unix.SysProcAttr{Unshareflags: unix.CLONE_NEWNS} }))
	if testutil.Strict() {
		require.NotContains(t, out, "--- SKIP")
	}
}

func noBTFChild(t *testing.T, btfFile string) {
	require.NoError(t, unix.Mount("none", "/sys/kernel/btf", "tmpfs", 0, ""), "hide /sys/kernel/btf")
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	require.True(t, errors.Is(err, os.ErrNotExist), "vmlinux still visible: %v", err)
	for _, h := range append([]Hook{HookAuto}, requiredHooks()...) {
		opts := DefaultOptions()
		opts.Hook = h
		p, err := Open(opts)
		if err == nil {
			p.Close()
		}
		require.ErrorIs(t, err, ErrNoKernelBTF, "hook %s", h)
		assert.Contains(t, err.Error(), "btf_path")
		t.Logf("hook %s without BTF: %v", h, err)
	}
	// The BTF given as a file relocates the programs: the tracepoint hook
	// (no trampoline, which needs the kernel's own BTF) works with it.
	for _, h := range requiredHooks() {
		if h == HookFexit {
			continue
		}
		t.Run(string(h), func(t *testing.T) {
			root := testutil.TempDir(t)
			opts := DefaultOptions()
			opts.Hook = h
			opts.BTFPath = btfFile
			opts.PathPrefixes = []string{root + "/"}
			p := openHook(t, opts)
			if h == HookTracepoint {
				// its copy-up programs are BTF tracepoints: said, not silent
				assert.True(t, slices.ContainsFunc(p.Notes(), func(n string) bool {
					return strings.Contains(n, "copies up") && strings.Contains(n, "own BTF is missing")
				}), "notes: %q", p.Notes())
			}
			c := collect(p)
			child := testutil.RunChild(t, testutil.ChildSpec{Dir: root, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "with-btf-file"}}})
			got := c.wait(t, 1, uint32(child.PID))
			assert.Equal(t, []string{filepath.Join(root, "with-btf-file")}, paths(got))
		})
	}
}

func joinHooks(hs []Hook) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = string(h)
	}
	return strings.Join(s, ",")
}
