// SPDX-License-Identifier: Apache-2.0

//go:build linux

// Package e2etest starts the ocb-built collector on a config from testdata/,
// creates files from a child process and scrapes the Prometheus exporter.
// make test builds the collector and points KERNELEVENTS_COLLECTOR at it.
package e2etest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kernelevents/kernelevents/internal/evidence/verify"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.MaybeRunChild()
	os.Exit(m.Run())
}

func collectorPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("KERNELEVENTS_COLLECTOR")
	if p == "" {
		testutil.SkipUnlessStrict(t, "KERNELEVENTS_COLLECTOR is not set: run make test, which builds the collector with ocb")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("KERNELEVENTS_COLLECTOR: %v", err)
	}
	return p
}

func repoFile(name string) string {
	return filepath.Join("..", "..", "testdata", name)
}

// handedOut holds the addresses freeAddr returned: the kernel may hand a
// port it just freed out again, and two endpoints of one collector on the
// same port made it fail at start (health_check and prometheus).
var handedOut sync.Map

func freeAddr(t *testing.T) string {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		l.Close()
		if _, dup := handedOut.LoadOrStore(addr, true); !dup {
			return addr
		}
	}
	t.Fatal("no port that was not handed out already")
	return ""
}

// programsOf returns the ids of the BPF programs process pid holds: those
// of its program and link fds (fdinfo prog_id). Only its own: other tests,
// and other developers' on this machine, load programs of the same names
// at the same time.
func programsOf(t *testing.T, pid int) map[ebpf.ProgramID]bool {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[ebpf.ProgramID]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil || (l != "anon_inode:bpf-prog" && l != "anon_inode:bpf_link") {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
					out[ebpf.ProgramID(id)] = true
				}
			}
		}
	}
	return out
}

// loaded reports whether the program id is still loaded.
func loaded(id ebpf.ProgramID) bool {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return false
	}
	p.Close()
	return true
}

// collector is a running ocb-built collector.
type collector struct {
	cmd    *exec.Cmd
	url    string
	exited chan error
	logs   *bytes.Buffer
}

// startOption changes how startCollector runs the collector.
type startOption func(*exec.Cmd)

// withEnv adds environment variables (KEY=value) for the collector.
func withEnv(env ...string) startOption {
	return func(c *exec.Cmd) { c.Env = append(c.Env, env...) }
}

// wrapped runs the collector under a command such as setpriv or unshare:
// argv is that command and its arguments up to the collector's path.
func wrapped(argv ...string) startOption {
	return func(c *exec.Cmd) {
		path, err := exec.LookPath(argv[0])
		if err != nil {
			path = argv[0]
		}
		c.Args = append(append([]string{}, argv...), c.Args...)
		c.Path = path
	}
}

// collectorCmd returns the command that runs the collector on config (a
// testdata/ file) watching dir, serving Prometheus and health on fresh
// loopback ports.
func collectorCmd(t *testing.T, config, dir string, opts ...startOption) (*exec.Cmd, string) {
	bin := collectorPath(t)
	testutil.RequireRoot(t)
	testutil.RequireTracefs(t)
	prom, health := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "--config", repoFile(config))
	cmd.Env = append(os.Environ(), "KE_PREFIX="+dir+"/", "KE_PROM_ENDPOINT="+prom, "KE_HEALTH_ENDPOINT="+health)
	for _, o := range opts {
		o(cmd)
	}
	return cmd, "http://" + prom + "/metrics"
}

// startCollector starts the collector on config watching dir, and waits
// until the exporter serves the receiver's metrics.
func startCollector(t *testing.T, config, dir string, opts ...startOption) *collector {
	cmd, url := collectorCmd(t, config, dir, opts...)
	c := &collector{cmd: cmd, url: url, exited: make(chan error, 1), logs: new(bytes.Buffer)}
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
	require.NoError(t, cmd.Start())
	go func() { c.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			t.Logf("collector killed: %v", <-c.exited)
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", c.logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-c.exited:
			c.exited <- err
			t.Fatalf("the collector exited at start (%v)", err)
		case <-time.After(200 * time.Millisecond):
		}
		text, err := scrapeProm(c.url)
		if _, ok := promValue(text, "kernel_probe_hook"); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exporter never served kernel_probe_hook")
		}
	}
	return c
}

// runToExit runs the collector on config, expecting it to fail at start, and
// returns its output and exit code.
func runToExit(t *testing.T, config string, opts ...startOption) (string, int) {
	cmd, _ := collectorCmd(t, config, testutil.TempDir(t), opts...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exitErr *exec.ExitError
		if err == nil {
			return out.String(), 0
		}
		require.ErrorAs(t, err, &exitErr)
		return out.String(), exitErr.ExitCode()
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Logf("collector killed: %v", <-done)
		t.Fatalf("the collector was expected to exit at start; still running after 60s:\n%s", out.String())
	}
	return "", 0
}

func TestCollectorServesCreationsToPrometheus(t *testing.T) {
	dir := testutil.TempDir(t)
	c := startCollector(t, "e2e-collector.yaml", dir)
	cmd, url, exited := c.cmd, c.url, c.exited

	const n = 17
	ops := make([]testutil.Op, n)
	for i := range ops {
		ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: "file-" + strconv.Itoa(i)}
	}
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})

	var text string
	label := fmt.Sprintf("kernelevents_directory_prefix=%q", dir)
	require.Eventually(t, func() bool {
		text, _ = scrapeProm(url)
		v, ok := promValue(text, "kernel_file_creations_total", label, `kernelevents_process_comm="kechild"`)
		return ok && v == n
	}, 30*time.Second, 200*time.Millisecond, "kernel_file_creations_total for %s never reached %d", dir, n)
	lost, ok := promValue(text, "kernel_events_lost_total", `kernelevents_lost_reason="ring_buffer_full"`)
	assert.True(t, ok, "the lost counter is exported")
	assert.Zero(t, lost)
	_, ok = promValue(text, "kernel_events_received_total")
	assert.True(t, ok, "the received counter is exported")
	t.Logf("scraped:\n%s", grep(text, "kernel_"))

	progs := programsOf(t, cmd.Process.Pid)
	require.NotEmpty(t, progs, "the collector holds its programs")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "the collector exits 0 on SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("the collector did not exit within 30s of SIGTERM")
	}
	// Every program the collector held is gone.
	require.Eventually(t, func() bool {
		for id := range progs {
			if loaded(id) {
				return false
			}
		}
		return true
	}, 5*time.Second, 50*time.Millisecond, "BPF programs left behind after SIGTERM")
}

// TestCollectorIdentityLabels proves the documented way for Prometheus users
// to get workload identity as labels: resource_to_telemetry_conversion.
func TestCollectorIdentityLabels(t *testing.T) {
	dir := testutil.TempDir(t)
	c := startCollector(t, "e2e-identity-collector.yaml", dir)
	creator := createForIdentity(t, dir)
	text := requireIdentityLabels(t, c, dir, `kernelevents_identity_rule="e2e-creator"`)
	creator.Release(t)
	t.Logf("scraped:\n%s", grep(text, "kernel_file_creations_total"))
}

// createForIdentity creates two files in dir from a child that stays alive
// until it is released, so that its executable can be read from /proc.
func createForIdentity(t *testing.T, dir string) *testutil.Held {
	return testutil.StartHeld(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{
		{Kind: testutil.OpOpenat, Path: "a"}, {Kind: testutil.OpOpenat, Path: "b"},
	}})
}

// requireIdentityLabels waits until the two files of createForIdentity are
// counted with the identity rule's labels (the rule named by rule, or the
// unmatched attribute) and returns the scrape.
func requireIdentityLabels(t *testing.T, c *collector, dir, rule string) string {
	labels := []string{fmt.Sprintf("kernelevents_directory_prefix=%q", dir), rule}
	if rule == `kernelevents_identity_rule="e2e-creator"` {
		labels = append(labels, `team="e2e-team"`, `service_account="e2e-sa"`, `spiffe_id="spiffe://example.org/e2e"`)
	}
	var text string
	require.Eventually(t, func() bool {
		text, _ = scrapeProm(c.url)
		v, ok := promValue(text, "kernel_file_creations_total", labels...)
		return ok && v == 2
	}, 30*time.Second, 200*time.Millisecond, "kernel_file_creations_total never counted 2 with %v", labels)
	return text
}

// TestCollectorWritesEvidence: the file exporter writes one JSON log record
// per created file, while the same receiver's metrics count the same files.
func TestCollectorWritesEvidence(t *testing.T) {
	dir := testutil.TempDir(t)
	out := filepath.Join(testutil.TempDir(t), "evidence.jsonl")
	c := startCollector(t, "e2e-evidence-collector.yaml", dir, withEnv("KE_EVIDENCE_FILE="+out))
	const n = 9
	ops := make([]testutil.Op, n)
	for i := range ops {
		ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: "ev-" + strconv.Itoa(i)}
	}
	child := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})

	var paths map[string]map[string]any
	var err error
	assert.Eventually(t, func() bool {
		paths, err = evidenceRecords(out)
		return err == nil && len(paths) == n
	}, 30*time.Second, 200*time.Millisecond, "evidence file never held %d records", n)
	require.NoError(t, err)
	require.Len(t, paths, n)
	for i := range n {
		rec, ok := paths[filepath.Join(dir, "ev-"+strconv.Itoa(i))]
		require.True(t, ok, "no record for ev-%d", i)
		assert.Equal(t, strconv.Itoa(child.PID), fmt.Sprint(rec["process.pid"]))
		assert.Equal(t, "kechild", rec["kernelevents.process.comm"])
	}
	require.Eventually(t, func() bool {
		text, _ := scrapeProm(c.url)
		v, ok := promValue(text, "kernel_file_creations_total", fmt.Sprintf("kernelevents_directory_prefix=%q", dir))
		return ok && v == n
	}, 30*time.Second, 200*time.Millisecond)
}

// evidenceRecords reads the file exporter's JSON lines (OTLP/JSON logs) and
// returns the kernel.file.created records by file.path, with their
// attributes flattened; a missing file is none yet, a last line still being
// written is skipped. It runs in require.Eventually's goroutine: errors are
// returned, not reported.
func evidenceRecords(path string) (map[string]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	out := map[string]map[string]any{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var doc struct {
			ResourceLogs []struct {
				ScopeLogs []struct {
					LogRecords []struct {
						EventName  string `json:"eventName"`
						Attributes []struct {
							Key   string         `json:"key"`
							Value map[string]any `json:"value"`
						} `json:"attributes"`
					} `json:"logRecords"`
				} `json:"scopeLogs"`
			} `json:"resourceLogs"`
		}
		if err := json.Unmarshal(line, &doc); err != nil {
			return nil, fmt.Errorf("evidence line %q: %w", line, err)
		}
		for _, rl := range doc.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					if lr.EventName != "kernel.file.created" {
						continue
					}
					attrs := map[string]any{}
					for _, a := range lr.Attributes {
						for _, v := range a.Value {
							attrs[a.Key] = v
						}
					}
					if p, ok := attrs["file.path"].(string); ok {
						out[p] = attrs
					}
				}
			}
		}
	}
	return out, nil
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestCollectorRefusesInvalidConfig(t *testing.T) {
	bin := collectorPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--config", repoFile("invalid-collector.yaml")).CombinedOutput()
	require.Error(t, err, "the collector must not start on an invalid config")
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	assert.NotZero(t, exitErr.ExitCode())
	assert.Contains(t, string(out), "max_series")
	assert.Contains(t, string(out), "ring_buffer_size")
}

// TestCollectorEvidenceVerifies: the evidence the built collector's file
// exporter stores, over a restart, passes kernelevents-verify with the
// signing key, the second run linked to the first; one record deleted from
// the stored file is reported as exactly that hole.
func TestCollectorEvidenceVerifies(t *testing.T) {
	dir := testutil.TempDir(t)
	state := testutil.TempDir(t)
	out := filepath.Join(state, "evidence.jsonl")
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	keyFile := filepath.Join(state, "evidence.key")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	env := withEnv("KE_EVIDENCE_FILE="+out, "KE_EVIDENCE_KEY="+keyFile, "KE_EVIDENCE_STATE="+filepath.Join(state, "evidence.state"))

	for run := range 2 {
		c := startCollector(t, "e2e-evidence-collector.yaml", dir, env)
		ops := make([]testutil.Op, 5)
		for i := range ops {
			ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: fmt.Sprintf("v%d-%d", run, i)}
		}
		testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})
		require.Eventually(t, func() bool {
			paths, err := evidenceRecords(out)
			return err == nil && len(paths) == 5*(run+1)
		}, 30*time.Second, 200*time.Millisecond)
		require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
		select {
		case err := <-c.exited:
			require.NoError(t, err, "the collector exits 0 on SIGTERM")
		case <-time.After(30 * time.Second):
			t.Fatal("the collector did not exit within 30s of SIGTERM")
		}
	}

	stored, err := os.ReadFile(out)
	require.NoError(t, err)
	r, err := verify.Run(bytes.NewReader(stored), verify.Options{Trusted: pub})
	require.NoError(t, err)
	var report strings.Builder
	r.Write(&report)
	t.Log(report.String())
	require.True(t, r.OK())
	require.Len(t, r.Streams, 2)
	a, b := r.Streams[0], r.Streams[1]
	assert.True(t, a.Final)
	assert.True(t, b.Final)
	assert.NotZero(t, a.SignedValid)
	assert.Zero(t, a.Unsigned+b.Unsigned)
	assert.Equal(t, fmt.Sprintf("continues stream %s after its checkpoint %d", a.ID, a.LastCheckpoint), b.Link)
	assert.GreaterOrEqual(t, a.Created, uint64(5))
	assert.GreaterOrEqual(t, b.Created, uint64(5))

	// Delete the first kernel.file.created record of the stored file.
	lines := bytes.SplitAfter(stored, []byte("\n"))
	for i, line := range lines {
		if !bytes.Contains(line, []byte(`"kernel.file.created"`)) {
			continue
		}
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
		require.NoError(t, err)
		var seq int64 = -1
		for j := 0; j < ld.ResourceLogs().Len() && seq < 0; j++ {
			ld.ResourceLogs().At(j).ScopeLogs().At(0).LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				if seq >= 0 || lr.EventName() != "kernel.file.created" {
					return false
				}
				v, _ := lr.Attributes().Get("kernelevents.evidence.seq")
				seq = v.Int()
				return true
			})
		}
		nb, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		lines[i] = append(nb, '\n')
		r, err = verify.Run(bytes.NewReader(bytes.Join(lines, nil)), verify.Options{Trusted: pub})
		require.NoError(t, err)
		assert.False(t, r.OK())
		require.Len(t, r.Streams[0].Holes, 1)
		assert.EqualValues(t, seq, r.Streams[0].Holes[0].From)
		assert.EqualValues(t, seq, r.Streams[0].Holes[0].To)
		assert.Zero(t, r.Streams[0].BreakCount+r.Streams[1].BreakCount+r.Streams[1].HoleCount)
		return
	}
	t.Fatal("no kernel.file.created record stored")
}
