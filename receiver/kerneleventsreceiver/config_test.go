// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg.(*Config), confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	def, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, createDefaultConfig(), def)

	cfg, err := loadConfig(t, "custom")
	require.NoError(t, err)
	want := createDefaultConfig().(*Config)
	want.Hook = "tracepoint"
	want.RingBufferSize = 1 << 20
	want.Wakeup = WakeupConfig{Bytes: 64 << 10, MaxLatency: 50 * time.Millisecond}
	want.CollectionInterval = 5 * time.Second
	want.Filter = FilterConfig{PathPrefixes: []string{"/etc/", "/var/lib/"}, UIDs: []uint32{0, 33}, ExcludeComms: []string{"backup"}}
	want.FileDirectoryDepth = 3
	want.MaxSeries = 500
	want.SeriesTTL = time.Hour
	want.Identity.Spire = SpireConfig{AdminSocket: "/run/spire/admin-sockets/admin.sock", Timeout: time.Second, CacheTTL: 10 * time.Second, RetryInterval: 3 * time.Second, Required: true}
	want.Metrics.KernelFileCreations.EnabledAttributes = []metadata.KernelFileCreationsMetricAttributeKey{
		metadata.KernelFileCreationsMetricAttributeKeyKerneleventsDirectoryPrefix, metadata.KernelFileCreationsMetricAttributeKeyFilePath,
		metadata.KernelFileCreationsMetricAttributeKeyKerneleventsProcessComm, metadata.KernelFileCreationsMetricAttributeKeyProcessUserID,
	}
	assert.False(t, cfg.Metrics.KernelSeriesActive.Enabled)
	want.Metrics.KernelSeriesActive = cfg.Metrics.KernelSeriesActive // carries an unexported "set by user" flag
	assert.Equal(t, want, cfg)
}

func TestValidateNamesEachKey(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		key    string
	}{
		{"hook", func(c *Config) { c.Hook = "uprobe" }, "hook:"},
		{"ring not power of two", func(c *Config) { c.RingBufferSize = 3 << 20 }, "ring_buffer_size:"},
		{"ring not page multiple", func(c *Config) { c.RingBufferSize = 1024 }, "ring_buffer_size:"},
		{"ring zero", func(c *Config) { c.RingBufferSize = 0 }, "ring_buffer_size:"},
		{"wakeup too big", func(c *Config) { c.Wakeup.Bytes = c.RingBufferSize }, "wakeup::bytes:"},
		{"wakeup negative", func(c *Config) { c.Wakeup.Bytes = -1 }, "wakeup::bytes:"},
		{"latency", func(c *Config) { c.Wakeup.MaxLatency = 0 }, "wakeup::max_latency:"},
		{"interval", func(c *Config) { c.CollectionInterval = 0 }, "collection_interval:"},
		{"relative prefix", func(c *Config) { c.Filter.PathPrefixes = []string{"/ok/", "etc/"} }, "filter::path_prefixes[1]:"},
		{"long prefix", func(c *Config) { c.Filter.PathPrefixes = []string{"/" + strings.Repeat("a", 200)} }, "filter::path_prefixes[0]:"},
		{"long comm", func(c *Config) { c.Filter.ExcludeComms = []string{"a-very-long-task-name"} }, "filter::exclude_comms[0]:"},
		{"empty comm", func(c *Config) { c.Filter.ExcludeComms = []string{""} }, "filter::exclude_comms[0]:"},
		{"depth", func(c *Config) { c.FileDirectoryDepth = -1 }, "file_directory_depth:"},
		{"series", func(c *Config) { c.MaxSeries = 0 }, "max_series:"},
		{"ttl", func(c *Config) { c.SeriesTTL = -time.Second }, "series_ttl:"},
		{"ring over 1GiB", func(c *Config) { c.RingBufferSize = 2 << 30 }, "ring_buffer_size:"},
		{"relative btf", func(c *Config) { c.BTFPath = "vmlinux.btf" }, "btf_path:"},
		{"too many prefixes", func(c *Config) { c.Filter.PathPrefixes = repeat("/p/", 257) }, "filter::path_prefixes:"},
		{"too many uids", func(c *Config) { c.Filter.UIDs = make([]uint32, 257) }, "filter::uids:"},
		{"too many comms", func(c *Config) { c.Filter.ExcludeComms = repeat("c", 257) }, "filter::exclude_comms:"},
		{"relative cgroup", func(c *Config) { c.Filter.ExcludeCgroups = []string{"/ok", "system.slice/x"} }, "filter::exclude_cgroups[1]:"},
		{"cgroup with ..", func(c *Config) { c.Filter.ExcludeCgroups = []string{"/a/../b"} }, "filter::exclude_cgroups[0]:"},
		{"too many cgroups", func(c *Config) { c.Filter.ExcludeCgroups = repeat("/c", 257) }, "filter::exclude_cgroups:"},
		{"rule without match", func(c *Config) {
			c.Identity.Rules = []identity.Rule{{Name: "r", Attributes: map[string]string{"team": "x"}}}
		}, "identity::rules[0]::match:"},
		{"reload interval", func(c *Config) { c.Identity.RulesFile = "/etc/rules.yaml"; c.Identity.ReloadInterval = 0 }, "identity::reload_interval:"},
		{"cache ttl", func(c *Config) { c.Identity.CacheTTL = 0 }, "identity::cache_ttl:"},
		{"max workloads", func(c *Config) { c.Identity.MaxWorkloads = 0 }, "identity::max_workloads:"},
		{"cgroup root", func(c *Config) { c.Identity.CgroupRoot = "sys/fs/cgroup" }, "identity::cgroup_root:"},
		{"host root", func(c *Config) { c.Identity.HostRoot = "" }, "identity::host_root:"},
		{"spire socket", func(c *Config) { c.Identity.Spire.AdminSocket = "run/spire/admin.sock" }, "identity::spire::admin_socket:"},
		{"spire timeout", func(c *Config) { c.Identity.Spire.AdminSocket = "/a.sock"; c.Identity.Spire.Timeout = 0 }, "identity::spire::timeout:"},
		{"spire cache ttl", func(c *Config) { c.Identity.Spire.AdminSocket = "/a.sock"; c.Identity.Spire.CacheTTL = -time.Second }, "identity::spire::cache_ttl:"},
		{"spire retry", func(c *Config) { c.Identity.Spire.AdminSocket = "/a.sock"; c.Identity.Spire.RetryInterval = 0 }, "identity::spire::retry_interval:"},
		{"kubernetes wait", func(c *Config) { c.Identity.Kubernetes.NodeName = "n1"; c.Identity.Kubernetes.Wait = 0 }, "identity::kubernetes::wait:"},
		{"kubernetes no node", func(c *Config) { c.Identity.Kubernetes.Kubeconfig = "/kc" }, "identity::kubernetes::node_name:"},
		{"evidence rate", func(c *Config) { c.Evidence.MaxRecordsPerSecond = -1 }, "evidence::max_records_per_second:"},
		{"evidence flush", func(c *Config) { c.Evidence.FlushInterval = 0 }, "evidence::flush_interval:"},
		{"evidence checkpoint", func(c *Config) { c.Evidence.CheckpointInterval = 0 }, "evidence::checkpoint_interval:"},
		{"evidence key missing", func(c *Config) { c.Evidence.SigningKeyFile = "/nonexistent/evidence.key" }, "evidence::signing_key_file:"},
		{"evidence key not a key", func(c *Config) { c.Evidence.SigningKeyFile = "testdata/config.yaml" }, "evidence::signing_key_file:"},
		{"evidence workload socket relative", func(c *Config) { c.Evidence.SigningWorkloadSocket = "agent.sock" }, "evidence::signing_workload_socket:"},
		{"evidence two signers", func(c *Config) {
			c.Evidence.SigningWorkloadSocket = "/run/spire/agent.sock"
			c.Evidence.SigningKeyFile = "/nonexistent/evidence.key"
		}, "evidence::signing_workload_socket: must not be set with evidence::signing_key_file"},
	}
	// Every key that can hold an invalid value has a case above; keys that
	// cannot are listed here with the reason. A new key fails this test
	// until it is in one list or the other.
	noInvalidValue := map[string]string{
		"filter::exclude_self":             "a bool",
		"identity::unmatched_attributes":   "any string map",
		"identity::rules_file":             "read at start: a missing or bad file fails Start naming it (TestRulesFile*)",
		"identity::spire::required":        "a bool",
		"identity::kubernetes::kubeconfig": "read at start: a missing or bad file fails Start with identity::kubernetes and the client's error naming the file",
		"evidence::state_file":             "read at start: a missing file is a first start, an unreadable or bad one is logged and the stream names no previous one (TestEvidenceStateFile)",
		"metrics":                          "mdatagen's own config (enabled flags), refused when unknown",
		"events":                           "mdatagen's own config (enabled flags), refused when unknown",
		"resource_attributes":              "mdatagen's own config (enabled flags), refused when unknown",
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		key, _, _ := strings.Cut(strings.TrimSuffix(tt.key, ":"), "[")
		covered[key] = true
	}
	for _, key := range configKeys(reflect.TypeFor[Config](), "") {
		if !covered[key] && noInvalidValue[key] == "" {
			t.Errorf("config key %s has no invalid-value case", key)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.mutate(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.key)
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// configKeys lists the mapstructure keys of a config struct, nested ones as
// parent::child; squashed structs (mdatagen's metrics builder) give theirs.
func configKeys(typ reflect.Type, prefix string) []string {
	var keys []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("mapstructure")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case tag == "" || tag == "-":
			continue
		case opts == "squash":
			keys = append(keys, configKeys(f.Type, prefix)...)
		case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() && !strings.HasPrefix(f.Type.PkgPath(), "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"):
			keys = append(keys, configKeys(f.Type, prefix+name+"::")...)
		default:
			keys = append(keys, prefix+name)
		}
	}
	return keys
}

func TestValidateReportsAllAtOnce(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Hook = "x"
	cfg.MaxSeries = 0
	cfg.CollectionInterval = 0
	err := cfg.Validate()
	for _, key := range []string{"hook:", "max_series:", "collection_interval:"} {
		assert.Contains(t, err.Error(), key)
	}
}

func TestUnknownKeysAreRefused(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	err := confmap.NewFromStringMap(map[string]any{"hook": "auto", "ring_bufer_size": "1MiB"}).Unmarshal(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ring_bufer_size")
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"4MiB": 4 << 20, "256KiB": 256 << 10, "1GiB": 1 << 30, "512B": 512, "65536": 65536, " 2 MiB ": 2 << 20} {
		var b ByteSize
		require.NoError(t, b.UnmarshalText([]byte(in)), in)
		assert.Equal(t, want, b, in)
	}
	for _, in := range []string{"", "4MB", "-1", "1.5MiB", "x"} {
		var b ByteSize
		assert.Error(t, b.UnmarshalText([]byte(in)), in)
	}
	out, _ := ByteSize(4 << 20).MarshalText()
	assert.Equal(t, "4MiB", string(out))
	out, _ = ByteSize(1000).MarshalText()
	assert.Equal(t, "1000", string(out))
}

// TestResourceFiltersRefused: mdatagen's resource attribute filters would
// drop a workload's series or evidence by values the workload can steer
// (its container id, its cgroup path), and nothing would count the drop.
func TestResourceFiltersRefused(t *testing.T) {
	for _, key := range []string{"metrics_include", "metrics_exclude", "events_include", "events_exclude"} {
		t.Run(key, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			conf := confmap.NewFromStringMap(map[string]any{
				"resource_attributes": map[string]any{
					"container.id": map[string]any{"enabled": true, key: []any{map[string]any{"regexp": ".*"}}},
				},
			})
			require.NoError(t, conf.Unmarshal(cfg))
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "resource_attributes::container.id::"+key+": not supported")
		})
	}
	cfg := createDefaultConfig().(*Config)
	conf := confmap.NewFromStringMap(map[string]any{
		"resource_attributes": map[string]any{"container.id": map[string]any{"enabled": false}},
	})
	require.NoError(t, conf.Unmarshal(cfg))
	assert.NoError(t, cfg.Validate(), "turning a resource attribute off stays allowed")
}

// TestEvidenceGapStaysOn: with the gap record off, a logs-only pipeline
// would lose the rate limit's shed records without a trace.
func TestEvidenceGapStaysOn(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Events.KernelEvidenceGap.Enabled = false
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "events::kernel.evidence.gap::enabled: must stay true")
	cfg.Events.KernelFileCreated.Enabled = false
	assert.NoError(t, cfg.Validate(), "no evidence at all: nothing to shed")
}

// TestNodeMountInfo: the node's mount table follows identity::host_root.
func TestNodeMountInfo(t *testing.T) {
	for root, want := range map[string]string{
		"/":             "/proc/1/mountinfo",
		"/proc/1/root":  "/proc/1/mountinfo",
		"/proc/1/root/": "/proc/1/mountinfo",
		"/host":         "/host/proc/1/mountinfo",
		"/proc/x/y":     "/proc/x/y/proc/1/mountinfo",
	} {
		cfg := createDefaultConfig().(*Config)
		cfg.Identity.HostRoot = root
		assert.Equal(t, want, cfg.probeOptions().MountInfo, root)
	}
}

// TestStageOptions: every identity and identity::spire key reaches the
// options the stages take, and the defaults are the stages' own.
func TestStageOptions(t *testing.T) {
	def := createDefaultConfig().(*Config)
	ro, err := def.resolverOptions()
	require.NoError(t, err)
	io := identity.DefaultOptions()
	assert.Equal(t, io.CacheTTL, ro.CacheTTL)
	assert.Equal(t, io.MaxWorkloads, ro.MaxWorkloads)
	assert.Equal(t, io.HostRoot, ro.HostRoot)
	assert.Equal(t, spire.Options{Timeout: 2 * time.Second, CacheTTL: 30 * time.Second, RetryInterval: 5 * time.Second}, def.spireOptions())

	cfg, err := loadConfig(t, "custom")
	require.NoError(t, err)
	cfg.Identity.Rules = []identity.Rule{{Name: "root", Match: identity.Match{UID: new(uint32)}, Attributes: map[string]string{"team": "root"}}}
	cfg.Identity.UnmatchedAttributes = map[string]string{"team": "none"}
	cfg.Identity.CacheTTL = time.Minute
	cfg.Identity.MaxWorkloads = 7
	cfg.Identity.CgroupRoot = "/sys/fs/cgroup/unified"
	cfg.Identity.HostRoot = "/host"
	cfg.Evidence.FlushInterval = time.Minute
	ro, err = cfg.resolverOptions()
	require.NoError(t, err)
	assert.Equal(t, 1, ro.Rules.Len())
	assert.Equal(t, map[string]string{"team": "none"}, ro.Unmatched)
	assert.Equal(t, time.Minute, ro.CacheTTL)
	assert.Equal(t, 7, ro.MaxWorkloads)
	assert.Equal(t, "/sys/fs/cgroup/unified", ro.CgroupRoot)
	assert.Equal(t, "/host", ro.HostRoot)
	assert.Equal(t, 2*time.Minute, ro.Grace, "two of the longer of collection_interval and evidence::flush_interval")
	assert.Equal(t, spire.Options{Socket: "/run/spire/admin-sockets/admin.sock", Timeout: time.Second, CacheTTL: 10 * time.Second, RetryInterval: 3 * time.Second}, cfg.spireOptions())

	cfg.Identity.Rules[0].Attributes = nil
	_, err = cfg.resolverOptions()
	require.ErrorContains(t, err, "identity::rules[0]::attributes")
}
