// SPDX-License-Identifier: Apache-2.0

//go:build linux

package e2etest

// The Kubernetes agent as shipped, end to end: its collector configuration is
// the one in deploy/kubernetes/configmap.yaml and its arguments those of
// deploy/kubernetes/daemonset.yaml, with only what needs a cluster or would
// clash on one machine changed (see shippedAgentConfig).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// agent is a running collector with the shipped agent configuration.
type agent struct {
	*collector
	health string // the liveness probe's URL
}

// shippedDaemonSet returns the collector arguments of daemonset.yaml (but
// --config) and its liveness probe's path.
func shippedDaemonSet(t *testing.T) (args []string, livenessPath string) {
	ds := readYAML(t, filepath.Join("..", "..", "deploy", "kubernetes", "daemonset.yaml"))
	containers, _ := dig(ds, "spec", "template", "spec", "containers").([]any)
	require.Len(t, containers, 1)
	c := containers[0]
	list, _ := dig(c, "args").([]any)
	for _, a := range list {
		if s := a.(string); !strings.HasPrefix(s, "--config=") {
			args = append(args, s)
		}
	}
	livenessPath, _ = dig(c, "livenessProbe", "httpGet", "path").(string)
	require.NotEmpty(t, livenessPath, "daemonset.yaml: livenessProbe.httpGet.path")
	return args, livenessPath
}

// shippedAgentConfig writes the ConfigMap's collector configuration with
// these changes: the receiver watches dir and emits every 500 ms (batch
// 200 ms); the OTLP exporter sends to gateway (an empty gateway: a closed
// port); health_check binds health; the collector's own metrics endpoint
// is off (two agents on one machine); and k8s_attributes and the receiver's
// pod inventory (identity::kubernetes) are left out, because they need an
// API server (they only add names to pod and container resources; the node
// attributes come from resource/node; make k8s-test runs both).
func shippedAgentConfig(t *testing.T, dir, gateway, health string) string {
	cm := readYAML(t, filepath.Join("..", "..", "deploy", "kubernetes", "configmap.yaml"))
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(dig(cm, "data", "config.yaml").(string)), &cfg))

	ke := dig(cfg, "receivers", "kernel_events").(map[string]any)
	ke["collection_interval"] = "500ms"
	ke["filter"].(map[string]any)["path_prefixes"] = []any{dir + "/"}
	ke["file_directory_depth"] = 32
	id := ke["identity"].(map[string]any)
	require.Contains(t, id, "kubernetes", "configmap.yaml: the receiver's pod inventory")
	delete(id, "kubernetes")
	procs := cfg["processors"].(map[string]any)
	require.Contains(t, procs, "resource/node", "configmap.yaml: the agent's resource/node processor")
	delete(procs, "k8s_attributes")
	procs["batch"].(map[string]any)["timeout"] = "200ms"
	if gateway == "" {
		gateway = freeAddr(t) // nothing listens there
	}
	dig(cfg, "exporters", "otlp_grpc").(map[string]any)["endpoint"] = gateway
	dig(cfg, "exporters", "otlp_grpc").(map[string]any)["retry_on_failure"] = map[string]any{"enabled": false}
	dig(cfg, "extensions", "health_check", "http").(map[string]any)["endpoint"] = health
	dig(cfg, "service", "telemetry").(map[string]any)["metrics"] = map[string]any{"level": "none"}
	for _, pv := range dig(cfg, "service", "pipelines").(map[string]any) {
		pl := pv.(map[string]any)
		var kept []any
		for _, p := range pl["processors"].([]any) {
			if p != "k8s_attributes" {
				kept = append(kept, p)
			}
		}
		pl["processors"] = kept
	}
	b, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	f := filepath.Join(testutil.TempDir(t), "agent.yaml")
	require.NoError(t, os.WriteFile(f, b, 0o644))
	return f
}

// startAgent runs the shipped agent for node, watching dir, and waits until
// its liveness probe answers 200.
func startAgent(t *testing.T, node, dir, gateway string) *agent {
	bin := collectorPath(t)
	testutil.RequireRoot(t)
	testutil.RequireTracefs(t)
	args, probe := shippedDaemonSet(t)
	health := freeAddr(t)
	cfg := shippedAgentConfig(t, dir, gateway, health)
	cmd := exec.Command(bin, append([]string{"--config=" + cfg}, args...)...)
	// What the DaemonSet sets from the downward API.
	cmd.Env = append(os.Environ(), "K8S_NODE_NAME="+node, "MY_POD_IP=127.0.0.1")
	a := &agent{collector: &collector{cmd: cmd, exited: make(chan error, 1), logs: new(bytes.Buffer)}, health: "http://" + health + probe}
	cmd.Stdout, cmd.Stderr = a.logs, a.logs
	require.NoError(t, cmd.Start())
	go func() { a.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			t.Logf("collector killed: %v", <-a.exited)
		}
		if t.Failed() {
			t.Logf("agent %s output:\n%s", node, a.logs.String())
		}
	})
	var exitErr error
	exited := false
	require.Eventually(t, func() bool {
		select {
		case exitErr = <-a.exited:
			a.exited <- exitErr
			exited = true // reported below: t.Fatal belongs to the test's goroutine
			return true
		default:
		}
		code, _ := get(a.health)
		return code == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond, "agent %s: %s never answered 200", node, a.health)
	if exited {
		t.Fatalf("agent %s exited at start (%v)", node, exitErr)
	}
	return a
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFleetNodesStayApartAtGateway: two agents with the shipped
// configuration, as nodes node-a and node-b, push to one gateway collector
// whose Prometheus exporter serves the fleet. Each node's receiver metrics
// (kernel_events_lost_total and the rest) arrive as their own series,
// told apart by instance (service.instance.id); without the agent's node
// attributes they carried identical labels and merged into one series.
func TestFleetNodesStayApartAtGateway(t *testing.T) {
	bin := collectorPath(t)
	dir := testutil.TempDir(t)

	// The gateway: OTLP in, Prometheus out, as deploy/README.md describes
	// (without resource_to_telemetry_conversion, the default).
	otlp, prom := freeAddr(t), freeAddr(t)
	gwCfg := filepath.Join(testutil.TempDir(t), "gateway.yaml")
	require.NoError(t, os.WriteFile(gwCfg, []byte(fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
exporters:
  prometheus:
    endpoint: %s
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
`, otlp, prom)), 0o644))
	gw := exec.Command(bin, "--config="+gwCfg)
	var gwLogs bytes.Buffer
	gw.Stdout, gw.Stderr = &gwLogs, &gwLogs
	require.NoError(t, gw.Start())
	t.Cleanup(func() {
		gw.Process.Kill()
		gw.Wait()
		if t.Failed() {
			t.Logf("gateway output:\n%s", gwLogs.String())
		}
	})

	startAgent(t, "node-a", dir, otlp)
	startAgent(t, "node-b", dir, otlp)
	const n = 5
	ops := make([]testutil.Op, n)
	for i := range ops {
		ops[i] = testutil.Op{Kind: testutil.OpOpenat, Path: "f" + strconv.Itoa(i)}
	}
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: ops})

	url := "http://" + prom + "/metrics"
	var text string
	nodes := []string{"node-a", "node-b"}
	require.Eventually(t, func() bool {
		text, _ = scrapeProm(url)
		for _, node := range nodes {
			inst := fmt.Sprintf("instance=%q", node)
			if v, ok := promValue(text, "kernel_file_creations_total", inst, fmt.Sprintf("kernelevents_directory_prefix=%q", dir)); !ok || v != n {
				return false
			}
			if _, ok := promValue(text, "kernel_events_lost_total", inst, `kernelevents_lost_reason="ring_buffer_full"`); !ok {
				return false
			}
		}
		return true
	}, 60*time.Second, 200*time.Millisecond, "the gateway never served both nodes' series")

	// Exactly one series per node for each of the receiver's own metrics, and
	// none without a node.
	for _, m := range []struct{ name, label string }{
		{"kernel_events_received_total", ""},
		{"kernel_events_lost_total", `kernelevents_lost_reason="ring_buffer_full"`},
		{"kernel_probe_hook", ""},
	} {
		var lines []string
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, m.name+"{") && strings.Contains(l, m.label) {
				lines = append(lines, l)
			}
		}
		require.Len(t, lines, 2, "%s{%s}: want one series per node, got:\n%s", m.name, m.label, strings.Join(lines, "\n"))
		for i, node := range nodes {
			assert.Contains(t, lines[i], fmt.Sprintf("instance=%q", node))
			assert.Contains(t, lines[i], `job="kernelevents"`)
		}
	}
	// The node attributes reach the gateway (target_info carries them; with
	// resource_to_telemetry_conversion they become labels of every series).
	for _, node := range nodes {
		_, ok := promValue(text, "target_info", fmt.Sprintf("instance=%q", node), fmt.Sprintf("host_name=%q", node), fmt.Sprintf("k8s_node_name=%q", node))
		assert.True(t, ok, "target_info of %s with host_name and k8s_node_name", node)
	}
	t.Logf("gateway:\n%s", grep(text, "kernel_events_received_total"))
}

// TestAgentHealthFailsWhenReaderDies: the shipped agent's liveness probe
// answers 200 while the receiver reads (even with its gateway unreachable:
// a restart would not fix that), and 500 once the ring-buffer reader has
// died, so the kubelet restarts the pod. The reader is killed the way
// another root process could: by corrupting the ring's consumer position.
func TestAgentHealthFailsWhenReaderDies(t *testing.T) {
	dir := testutil.TempDir(t)
	a := startAgent(t, "node-a", dir, "")

	// Healthy while it counts, with no gateway to send to.
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "before"}}})
	require.Eventually(t, func() bool { return strings.Contains(a.logs.String(), "Exporting failed") },
		30*time.Second, 100*time.Millisecond, "the agent never tried its (closed) gateway")
	code, body := get(a.health)
	require.Equal(t, http.StatusOK, code, "healthy while reading, gateway or not: %s", body)

	testutil.CorruptRingConsumer(t, testutil.RingBufferOf(t, a.cmd.Process.Pid))
	require.Eventually(t, func() bool {
		code, body = get(a.health)
		return code == http.StatusInternalServerError
	}, 30*time.Second, 100*time.Millisecond, "the liveness probe never failed after the reader died (last: %d %s)", code, body)
	assert.Contains(t, body, `"healthy":false`)
	_, verbose := get(a.health + "?verbose")
	assert.Contains(t, verbose, "read ring buffer", "the status names the receiver's error")
	assert.Contains(t, verbose, "kernel_events")
	assert.Contains(t, a.logs.String(), "Kernel events reader stopped")
	select {
	case err := <-a.exited:
		t.Fatalf("the collector exited (%v); the probe, not a crash, is to restart it", err)
	default:
	}
	t.Logf("liveness probe after the reader died: %d %s", code, body)
}
