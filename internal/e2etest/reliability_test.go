// SPDX-License-Identifier: Apache-2.0

//go:build linux

package e2etest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/procstatus"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testutil.SkipUnlessStrict(t, "%s is not installed (util-linux): %v", name, err)
	}
	return p
}

// TestCollectorNeedsCapabilities: started by root with CAP_BPF, CAP_PERFMON
// and CAP_SYS_ADMIN dropped (setpriv, as an operator would), the collector
// exits non-zero with an error that names the capabilities it needs.
func TestCollectorNeedsCapabilities(t *testing.T) {
	requireTool(t, "setpriv")
	out, code := runToExit(t, "e2e-collector.yaml", wrapped("setpriv", "--bounding-set=-bpf,-perfmon,-sys_admin", "--"))
	t.Logf("collector output:\n%s", out)
	assert.NotZero(t, code)
	assert.Contains(t, out, "missing capability: CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)")
}

// TestCollectorLeastCapabilities proves the README's least set: root with
// every capability dropped but CAP_BPF, CAP_PERFMON (to load and attach),
// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (to read other processes' /proc
// entries for identity) counts files with their full identity. With only
// the first two, counting still works, and the executable of a process that
// exec'ed after start still comes from the kernel's exec record (bpf/exec.h,
// placed on the node without reading /proc/<pid>/exe), so a rule on it
// matches: /proc is needed only for processes older than the collector.
func TestCollectorLeastCapabilities(t *testing.T) {
	requireTool(t, "setpriv")
	t.Run("full identity", func(t *testing.T) {
		dir := testutil.TempDir(t)
		c := startCollector(t, "e2e-identity-collector.yaml", dir,
			wrapped("setpriv", "--bounding-set=-all,+bpf,+perfmon,+sys_ptrace,+dac_read_search", "--"))
		requireCaps(t, c, unix.CAP_BPF, unix.CAP_PERFMON, unix.CAP_SYS_PTRACE, unix.CAP_DAC_READ_SEARCH)
		creator := createForIdentity(t, dir)
		requireIdentityLabels(t, c, dir, `kernelevents_identity_rule="e2e-creator"`)
		creator.Release(t)
	})
	t.Run("bpf and perfmon only", func(t *testing.T) {
		dir := testutil.TempDir(t)
		c := startCollector(t, "e2e-identity-collector.yaml", dir,
			wrapped("setpriv", "--bounding-set=-all,+bpf,+perfmon", "--"))
		requireCaps(t, c, unix.CAP_BPF, unix.CAP_PERFMON)
		creator := createForIdentity(t, dir)
		requireIdentityLabels(t, c, dir, `kernelevents_identity_rule="e2e-creator"`)
		creator.Release(t)
	})
}

// requireCaps checks the running collector's effective capabilities
// (unix.CAP_* numbers).
func requireCaps(t *testing.T, c *collector, caps ...int) {
	t.Helper()
	var want uint64
	for _, n := range caps {
		want |= 1 << n
	}
	got, err := procstatus.Capabilities(c.cmd.Process.Pid)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%#x", want), fmt.Sprintf("%#x", got), "the collector's effective capabilities")
}

// TestCollectorKernelFeatures: what the kernel lacks gives an error that
// says so. tracefs and the kernel's BTF are hidden from the collector in a
// private mount namespace (unshare -m), the rest of the host keeps them.
func TestCollectorKernelFeatures(t *testing.T) {
	requireTool(t, "unshare")
	// hide runs the collector with the given mounts made invisible to it.
	hide := func(script string) startOption {
		return wrapped("unshare", "--mount", "--propagation=private", "--", "sh", "-c", script+` && exec "$@"`, "sh")
	}
	const noTracefs = `umount -l /sys/kernel/tracing; if mountpoint -q /sys/kernel/debug; then umount -l /sys/kernel/debug; fi; ! test -e /sys/kernel/tracing/events`
	t.Run("tracepoint without tracefs", func(t *testing.T) {
		// No program of the hook needs tracefs: sys_exit is tp_btf and the
		// io_uring programs are raw tracepoints, so every one attaches and
		// nothing says the hook is partly blind.
		c := startCollector(t, "e2e-collector.yaml", testutil.TempDir(t), withEnv("KE_HOOK=tracepoint"), hide(noTracefs))
		logs := c.logs.String()
		assert.Contains(t, logs, `"hook": "tracepoint"`)
		assert.NotContains(t, logs, "not attached")
		assert.NotContains(t, logs, "partly")
	})
	t.Run("auto without tracefs", func(t *testing.T) {
		// No hook needs tracefs to start (kprobe PMU, trampolines, tp_btf).
		c := startCollector(t, "e2e-collector.yaml", testutil.TempDir(t), hide(noTracefs))
		assert.Contains(t, c.logs.String(), "Attached kernel file-creation probe")
	})
	t.Run("no kernel BTF", func(t *testing.T) {
		out, code := runToExit(t, "e2e-collector.yaml", hide(`mount -t tmpfs none /sys/kernel/btf && ! test -e /sys/kernel/btf/vmlinux`))
		t.Logf("collector output:\n%s", out)
		assert.NotZero(t, code)
		assert.Contains(t, out, "the kernel exposes no BTF")
		assert.Contains(t, out, "set btf_path")
	})
	t.Run("hook by name the kernel lacks", func(t *testing.T) {
		if _, err := os.Stat("/sys/bus/event_source/devices/kprobe"); err == nil {
			t.Log("this kernel has kprobes: the kretprobe hook must start")
			c := startCollector(t, "e2e-collector.yaml", testutil.TempDir(t), withEnv("KE_HOOK=kretprobe"))
			assert.Contains(t, c.logs.String(), `"hook": "kretprobe"`)
			return
		}
		out, code := runToExit(t, "e2e-collector.yaml", withEnv("KE_HOOK=kretprobe"))
		t.Logf("collector output:\n%s", out)
		assert.NotZero(t, code)
		assert.Contains(t, out, "kprobes are not available in this kernel")
	})
	t.Run("auto says why it passed hooks over", func(t *testing.T) {
		c := startCollector(t, "e2e-collector.yaml", testutil.TempDir(t))
		logs := c.logs.String()
		hooks := []string{"kretprobe", "fexit", "tracepoint"}
		chosen := -1
		for i, h := range hooks {
			if strings.Contains(logs, `"hook": "`+h+`"`) {
				chosen = i
			}
		}
		require.GreaterOrEqual(t, chosen, 0, "no log line names the hook:\n%s", logs)
		for _, h := range hooks[:chosen] {
			assert.Contains(t, logs, `"`+h+`: `, "no reason logged for passing over %s", h)
		}
	})
}

// TestCollectorKilledLeavesNothing: two collectors run side by side on one
// host, each counting every file; one killed with SIGKILL (no shutdown
// code runs) leaves none of its programs loaded, since nothing is pinned
// and the kernel frees what only its file descriptors held, and the other
// goes on counting.
func TestCollectorKilledLeavesNothing(t *testing.T) {
	dir := testutil.TempDir(t)
	a := startCollector(t, "e2e-collector.yaml", dir)
	progsA := programsOf(t, a.cmd.Process.Pid)
	require.NotEmpty(t, progsA, "the first collector loaded no program")
	b := startCollector(t, "e2e-collector.yaml", dir)
	progsB := programsOf(t, b.cmd.Process.Pid)
	require.NotEmpty(t, progsB, "the second collector loaded no program")

	create := func(prefix string, n int) {
		ops := make([]testutil.Op, n)
		for i := range ops {
			ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: prefix + strconv.Itoa(i)}
		}
		testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})
	}
	counted := func(c *collector, want float64) {
		label := fmt.Sprintf("kernelevents_directory_prefix=%q", dir)
		require.Eventually(t, func() bool {
			text, _ := scrapeProm(c.url)
			v, ok := promValue(text, "kernel_file_creations_total", label)
			return ok && v == want
		}, 30*time.Second, 200*time.Millisecond, "a collector never counted %v", want)
	}
	create("both-", 5)
	counted(a, 5)
	counted(b, 5)

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case err := <-a.exited:
		t.Logf("the first collector exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the collector did not die on SIGKILL")
	}
	require.Eventually(t, func() bool {
		for id := range progsA {
			if loaded(id) {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "programs of the killed collector are still loaded")
	for id := range progsB {
		assert.True(t, loaded(id), "the surviving collector's program %d is gone", id)
	}
	if entries, err := os.ReadDir("/sys/fs/bpf"); err == nil {
		for _, e := range entries {
			assert.NotContains(t, e.Name(), "kernelevents", "something is pinned in /sys/fs/bpf")
		}
	}

	create("after-", 3)
	counted(b, 8)
}

// overloadDuration is how long TestCollectorOverload creates files:
// KERNELEVENTS_SOAK (make soak: 10m) or 30s.
func overloadDuration(t *testing.T) time.Duration {
	if v := os.Getenv("KERNELEVENTS_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "KERNELEVENTS_SOAK")
		return d
	}
	return 30 * time.Second
}

// sample is one observation of the collector during the overload.
type sample struct {
	at       time.Duration
	rssKiB   int
	received float64
	lost     float64
	series   float64
}

// TestCollectorOverload: two creators make and delete files as fast as
// they can across 64 directories, far faster than an 8 KiB ring with
// per-sample wakeups can carry, for 30 s. The collector stays up, its memory
// stays bounded, every sample is either received or counted lost (received
// + lost equals the files created, exactly), and the lost counter reaches
// Prometheus. make soak runs the same for 10 minutes with the production
// ring (KERNELEVENTS_SOAK, KE_RING_BUFFER_SIZE, KE_WAKEUP_BYTES).
func TestCollectorOverload(t *testing.T) {
	d := overloadDuration(t)
	soak := os.Getenv("KERNELEVENTS_SOAK") != ""
	dir := testutil.TempDir(t)
	require.NoError(t, os.Chmod(dir, 0o755))
	c := startCollector(t, "e2e-overload-collector.yaml", dir)
	pid := c.cmd.Process.Pid
	const creators, spread = 2, 64

	var wg sync.WaitGroup
	created := make([]int, creators)
	childErrs := make([]error, creators)
	for i := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Not RunChild: t.Fatal must not run on this goroutine.
			child, err := testutil.RunChildErr(testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{
				{Kind: testutil.OpChurn, Path: fmt.Sprintf("c%d", i), For: d.String(), Spread: spread},
			}})
			created[i], childErrs[i] = child.Churned, err
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	observe := func(start time.Time) sample {
		text, _ := scrapeProm(c.url)
		s := sample{at: time.Since(start).Round(time.Second), rssKiB: rssKiB(pid)}
		s.received, _ = promValue(text, "kernel_events_received_total")
		// Every reason: a creation is received or lost for some reason.
		s.lost, _ = promSum(text, "kernel_events_lost_total")
		s.series, _ = promValue(text, "kernel_series_active")
		return s
	}
	every := time.Second
	if soak {
		every = 10 * time.Second
	}
	var samples []sample
	start := time.Now()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(every):
		}
		select {
		case err := <-c.exited:
			c.exited <- err
			t.Fatalf("the collector died under load: %v", err)
		default:
		}
		samples = append(samples, observe(start))
	}
	require.NoError(t, errors.Join(childErrs...))
	total := 0
	for _, n := range created {
		total += n
	}
	require.Positive(t, total)

	// Every created file is accounted for once the last samples are read.
	var last sample
	require.Eventually(t, func() bool {
		last = observe(start)
		return last.received+last.lost == float64(total)
	}, 30*time.Second, 250*time.Millisecond, "received + lost never equalled the %d files created: %+v\n%s", total, &last, lostLines(c.url))
	text, _ := scrapeProm(c.url)
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "kernel_events_lost_total") {
			t.Log(l)
		}
	}
	malformed, _ := promValue(text, "kernel_events_lost_total", `kernelevents_lost_reason="malformed"`)
	samples = append(samples, last)

	peak := slices.MaxFunc(samples, func(a, b sample) int { return a.rssKiB - b.rssKiB })
	seconds := d.Seconds()
	t.Logf("%s, %d creators, ring %s: created %d files (%.0f/s); received %.0f, lost %.0f (%.1f%%), malformed %.0f; peak RSS %d MiB at %s; series %.0f",
		d, creators, envOr("KE_RING_BUFFER_SIZE", "8KiB"), total, float64(total)/seconds, last.received, last.lost,
		100*last.lost/float64(total), malformed, peak.rssKiB>>10, peak.at, last.series)
	for _, s := range samples {
		t.Logf("  t=%-6s rss=%4d MiB received=%.0f lost=%.0f series=%.0f", s.at, s.rssKiB>>10, s.received, s.lost, s.series)
	}

	assert.Equal(t, float64(total), last.received+last.lost, "received + lost must equal created")
	assert.Zero(t, malformed)
	if !soak {
		assert.Positive(t, last.lost, "the test must overload the ring: nothing was lost")
	}
	// Bounded memory: the memory_limiter's 200 MiB plus the Go runtime's
	// slack; the sample path allocates nothing per event.
	assert.Less(t, peak.rssKiB, 300<<10, "peak RSS")
	assert.Equal(t, float64(creators*spread), last.series, "one series per directory, no more")
	select {
	case err := <-c.exited:
		c.exited <- err
		t.Fatalf("the collector exited: %v", err)
	default:
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// rssKiB returns a process's resident set size.
func rssKiB(pid int) int {
	b, _ := procstatus.Bytes(pid, "VmRSS")
	return int(b >> 10)
}

// lostLines is the kernel_events_lost_total lines of a scrape, for failure messages.
func lostLines(url string) string {
	text, _ := scrapeProm(url)
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "kernel_events_lost_total") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
