// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.yaml.in/yaml/v3"

	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// shippedConfigs are the collector configurations users deploy as they are.
func shippedConfigs(t *testing.T) []string {
	files := []string{
		"../../deploy/kubernetes/configmap.yaml",
		"../../deploy/kubernetes/helm-values.yaml",
		"../../deploy/systemd/config.yaml",
	}
	more, err := filepath.Glob("../../testdata/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, more)
	return append(files, more...)
}

// kernelEventsSection returns the kernel_events receiver settings of a
// shipped file: a collector config, a ConfigMap holding one in
// data.config.yaml, or Helm values holding one under config.
func kernelEventsSection(t *testing.T, file string) (map[string]any, bool) {
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &doc), file)
	if data, ok := doc["data"].(map[string]any); ok {
		inner, _ := data["config.yaml"].(string)
		doc = nil
		require.NoError(t, yaml.Unmarshal([]byte(inner), &doc), file)
	}
	if c, ok := doc["config"].(map[string]any); ok {
		doc = c
	}
	recv, _ := doc["receivers"].(map[string]any)
	ke, ok := recv["kernel_events"].(map[string]any)
	return ke, ok
}

// TestShippedConfigsDoNotExcludeByName: no shipped configuration excludes by
// task name, which any program chooses for itself.
func TestShippedConfigsDoNotExcludeByName(t *testing.T) {
	found := 0
	for _, f := range shippedConfigs(t) {
		ke, ok := kernelEventsSection(t, f)
		if !ok {
			continue
		}
		found++
		filter, _ := ke["filter"].(map[string]any)
		assert.NotContains(t, filter, "exclude_comms", "%s excludes by task name", f)
	}
	assert.GreaterOrEqual(t, found, 4, "the deploy configs and the collector configs were read")
}

// TestDaemonSetConfigCountsATaskNamedKubelet is the attack on the shipped
// DaemonSet config: `cp /usr/bin/touch /tmp/kubelet; /tmp/kubelet /etc/x`.
// Tasks named kubelet and containerd create files; with the receiver
// settings of deploy/kubernetes/configmap.yaml as they are (only the
// collection interval shortened), both are counted. With the old config
// (exclude_comms: [containerd, kubelet]) neither was.
func TestDaemonSetConfigCountsATaskNamedKubelet(t *testing.T) {
	ke, ok := kernelEventsSection(t, "../../deploy/kubernetes/configmap.yaml")
	require.True(t, ok)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(ke).Unmarshal(cfg))
	require.NoError(t, cfg.Validate())
	assert.Equal(t, "${env:K8S_NODE_NAME}", cfg.Identity.Kubernetes.NodeName, "the DaemonSet's pod inventory is on")
	// No API server here: the pod inventory is tested in internal/k8spods
	// and on a real node by make k8s-test.
	cfg.Identity.Kubernetes = KubernetesConfig{}
	cfg.CollectionInterval = 100 * time.Millisecond
	dir := testutil.TempDir(t) // under /tmp/, a prefix the DaemonSet watches
	sink, stop := startReceiver(t, cfg)

	for _, name := range []string{"kubelet", "containerd"} {
		testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{
			{Kind: testutil.OpComm, Path: name},
			{Kind: testutil.OpOpenat, Path: name + "-was-here"},
		}})
	}
	byComm := func() map[any]int64 {
		out := map[any]int64{}
		for _, p := range lastBatch(sink)["kernel.file.creations"] {
			// file_directory_depth 2: /tmp/<test directory>
			if d, _ := p.attrs["kernelevents.directory.prefix"].(string); d == dir || strings.HasPrefix(dir, d+"/") {
				out[p.attrs["kernelevents.process.comm"]] += p.value
			}
		}
		return out
	}
	require.Eventually(t, func() bool {
		got := byComm()
		return got["kubelet"] >= 1 && got["containerd"] >= 1
	}, 15*time.Second, 50*time.Millisecond, "files of tasks named kubelet and containerd are counted: %v", byComm())
	stop()
}

// TestExcludeCgroups: filter::exclude_cgroups, the exclusion a task cannot
// spoof. A task in the excluded cgroup is dropped even under another name; a
// task elsewhere named like the daemon is counted. A path that is no cgroup
// fails Start naming the key.
func TestExcludeCgroups(t *testing.T) {
	dir := testutil.TempDir(t)
	cg, cgPath := testutil.MakeCgroup(t, "system.slice/kubelet.service")
	cfg := testConfig(dir)
	cfg.Filter.ExcludeCgroups = []string{cgPath}
	require.NoError(t, cfg.Validate())
	sink, stop := startReceiver(t, cfg)

	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Cgroup: cg, Ops: []testutil.Op{
		{Kind: testutil.OpComm, Path: "not-kubelet"}, {Kind: testutil.OpOpenat, Path: "daemon"}}})
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{
		{Kind: testutil.OpComm, Path: "kubelet"}, {Kind: testutil.OpOpenat, Path: "impostor"}}})
	waitTotal(t, sink, 1)
	stop()
	var got []any
	for _, p := range lastBatch(sink)["kernel.file.creations"] {
		got = append(got, p.attrs["kernelevents.process.comm"])
	}
	assert.Equal(t, []any{"kubelet"}, got, "only the impostor outside the excluded cgroup is counted")

	cfg.Filter.ExcludeCgroups = []string{"/no/such/cgroup"}
	r, err := kernelFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.MetricsSink))
	require.NoError(t, err)
	err = r.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, "filter::exclude_cgroups[0]")
	require.NoError(t, r.Shutdown(context.Background()))
}

// TestReadmeConfigurationIsValid: the Configuration section of README.md,
// which users copy, is a kernel_events config this receiver accepts, and it
// names every top-level key the receiver has (so a new key is documented).
func TestReadmeConfigurationIsValid(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(raw), "\n## Configuration\n")
	require.True(t, ok, "README.md has no Configuration section")
	_, block, ok := strings.Cut(section, "```yaml\n")
	require.True(t, ok, "the Configuration section has no yaml block")
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(block), &doc))
	recv, _ := doc["receivers"].(map[string]any)
	ke, ok := recv["kernel_events"].(map[string]any)
	require.True(t, ok, "the block configures receivers::kernel_events")

	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(ke).Unmarshal(cfg))
	require.NoError(t, cfg.Validate())

	conf := confmap.New()
	require.NoError(t, conf.Marshal(createDefaultConfig()))
	for key := range conf.ToStringMap() {
		if key == "resource_attributes" {
			continue // mdatagen's resource attribute toggles, documented in documentation.md
		}
		assert.Contains(t, ke, key, "README.md's Configuration block does not show the key %q", key)
	}
}
