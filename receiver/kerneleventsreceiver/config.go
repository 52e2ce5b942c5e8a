// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// Config is what users set under receivers: kernel_events: in the collector
// configuration.
type Config struct {
	// Hook is auto, kretprobe, fexit or tracepoint.
	Hook string `mapstructure:"hook"`
	// RingBufferSize is the BPF ring buffer size: a power of two and a
	// multiple of the page size ("4MiB", "65536").
	RingBufferSize ByteSize `mapstructure:"ring_buffer_size"`
	// BTFPath is a BTF file for the running kernel (raw BTF or a vmlinux
	// ELF, for example from BTFHub) on kernels without
	// /sys/kernel/btf/vmlinux; empty uses the kernel's own.
	BTFPath string `mapstructure:"btf_path"`
	// Wakeup batches reader wakeups.
	Wakeup WakeupConfig `mapstructure:"wakeup"`
	// CollectionInterval is how often metrics are emitted.
	CollectionInterval time.Duration `mapstructure:"collection_interval"`
	// Filter is applied in the kernel, before a sample is reserved.
	Filter FilterConfig `mapstructure:"filter"`
	// FileDirectoryDepth cuts file.directory to this many components; 0
	// leaves the attribute empty.
	FileDirectoryDepth int `mapstructure:"file_directory_depth"`
	// MaxSeries is the hard cap on kernel.file.creations series; past it
	// creations go to one series with otel.metric.overflow=true.
	MaxSeries int `mapstructure:"max_series"`
	// SeriesTTL drops series not incremented for this long; 0 keeps them.
	// Default 5m: on a node where pods come and go, the series (and the
	// workload identities they hold) of gone pods are forgotten rather than
	// fill max_series.
	SeriesTTL time.Duration `mapstructure:"series_ttl"`

	// Identity binds creations to accountable identities.
	Identity IdentityConfig `mapstructure:"identity"`

	// Evidence configures the per-event log records of a logs pipeline.
	Evidence EvidenceConfig `mapstructure:"evidence"`

	// Events turns the evidence records' events (kernel.file.created,
	// kernel.evidence.gap; documentation.md) on or off: mdatagen's events
	// config, used with the resource_attributes of MetricsBuilderConfig.
	Events metadata.EventsConfig `mapstructure:"events"`

	metadata.MetricsBuilderConfig `mapstructure:",squash"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// IdentityConfig holds the identity rules: an ordered list, first match
// wins, whose attributes go on the resource of the series they match.
type IdentityConfig struct {
	// Rules are matched in order before those of RulesFile.
	Rules []identity.Rule `mapstructure:"rules"`
	// RulesFile is a YAML file with a "rules:" list, re-read when it
	// changes (checked every ReloadInterval); a bad file keeps the rules
	// in force and reports the error.
	RulesFile string `mapstructure:"rules_file"`
	// ReloadInterval is how often RulesFile is checked for changes.
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// UnmatchedAttributes go on the resource of workloads no rule matched.
	UnmatchedAttributes map[string]string `mapstructure:"unmatched_attributes"`
	// CacheTTL bounds how long a process's resolved identity is reused.
	CacheTTL time.Duration `mapstructure:"cache_ttl"`
	// MaxWorkloads bounds the workloads (distinct resources) alive at once;
	// past it creations go to one overflow workload and are counted in
	// kernel.workloads.overflowed.
	MaxWorkloads int `mapstructure:"max_workloads"`
	// CgroupRoot is where the node's cgroup v2 hierarchy is mounted (for a
	// collector in a container: the node's, mounted in); empty finds the
	// first cgroup2 mount.
	CgroupRoot string `mapstructure:"cgroup_root"`
	// HostRoot is the node's root directory as the collector sees it, for
	// the user names of host processes that have exited, and for the node's
	// mount table (<host_root>/proc/1/mountinfo), through which file paths
	// and filter::path_prefixes are the node's.
	HostRoot string `mapstructure:"host_root"`
	// Spire asks the node's SPIRE agent for the SPIFFE IDs of creators.
	Spire SpireConfig `mapstructure:"spire"`
	// Kubernetes names each creator's pod and its ServiceAccount from the
	// node's pod inventory (pods.go).
	Kubernetes KubernetesConfig `mapstructure:"kubernetes"`
}

// SpireConfig makes the receiver ask the node's SPIRE agent, through its
// Delegated Identity API on the admin socket, for the SPIFFE IDs of each
// creating process. The SPIRE admin must list the collector's own SPIFFE ID
// in the agent's authorized_delegates and register an entry for it.
type SpireConfig struct {
	// AdminSocket is the agent's admin_socket_path; empty turns SPIRE off.
	AdminSocket string `mapstructure:"admin_socket"`
	// Timeout bounds one question to the agent.
	Timeout time.Duration `mapstructure:"timeout"`
	// CacheTTL bounds how long an answer about a process is reused (never
	// past the SVID's expiry, nor identity::cache_ttl): an entry the SPIRE
	// admin deletes stops being reported within it.
	CacheTTL time.Duration `mapstructure:"cache_ttl"`
	// RetryInterval: after the agent did not answer (or refused the
	// collector), lookups answer agent_unavailable (not_authorized) without
	// asking for this long.
	RetryInterval time.Duration `mapstructure:"retry_interval"`
	// Required: true fails Start when the agent does not answer or refuses
	// the collector; false (default) starts anyway, reports a recoverable
	// component status until the agent answers, and marks creations
	// meanwhile with their kernelevents.spiffe.status.
	Required bool `mapstructure:"required"`
}

// validate reports the problems of the spire block, each naming its key.
func (c *SpireConfig) validate() []error {
	if c.AdminSocket == "" {
		return nil
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("identity::spire::%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !filepath.IsAbs(c.AdminSocket) {
		bad("admin_socket", "%q must be an absolute path (the agent's admin_socket_path)", c.AdminSocket)
	}
	if c.Timeout <= 0 || c.Timeout > time.Minute {
		bad("timeout", "%v must be positive and at most 1m (a resolver worker waits this long for a silent agent)", c.Timeout)
	}
	if c.CacheTTL <= 0 {
		bad("cache_ttl", "must be positive")
	}
	if c.RetryInterval <= 0 {
		bad("retry_interval", "must be positive")
	}
	return errs
}

// KubernetesConfig makes the receiver keep an inventory of the node's pods
// from the Kubernetes API server (list and watch of the pods bound to
// NodeName), and name each creator's pod, found by the pod uid in its
// cgroup path: k8s.namespace.name, k8s.pod.name and the pod's ServiceAccount,
// k8s.serviceaccount.name. It needs get, list and watch on pods
// (deploy/kubernetes/rbac.yaml). Off unless node_name is set.
type KubernetesConfig struct {
	// NodeName is the node this collector runs on (in a DaemonSet, from
	// the downward API: ${env:K8S_NODE_NAME}); empty turns the inventory
	// off.
	NodeName string `mapstructure:"node_name"`
	// Kubeconfig is a kubeconfig file to reach the API server with; empty:
	// the pod's ServiceAccount token (in-cluster).
	Kubeconfig string `mapstructure:"kubeconfig"`
	// Wait bounds how long a lookup (on a resolver worker, never the
	// reader) waits for the watch to bring a pod it does not know yet.
	// Default 2s.
	Wait time.Duration `mapstructure:"wait"`
}

// validate reports the problems of the kubernetes block, each naming its key.
func (c *KubernetesConfig) validate() []error {
	if c.NodeName == "" {
		if c.Kubeconfig != "" {
			return []error{fmt.Errorf("identity::kubernetes::node_name: must be set with kubeconfig (the pods of which node?)")}
		}
		return nil
	}
	if c.Wait <= 0 || c.Wait > time.Minute {
		return []error{fmt.Errorf("identity::kubernetes::wait: %v must be positive and at most 1m (a resolver worker waits this long for an unknown pod)", c.Wait)}
	}
	return nil
}

// EvidenceConfig configures the per-event log records (the logs pipeline).
type EvidenceConfig struct {
	// MaxRecordsPerSecond caps the records emitted; the rest are shed and
	// counted (kernel.evidence.shed, and a gap record in the log stream).
	// 0 means no limit.
	MaxRecordsPerSecond int `mapstructure:"max_records_per_second"`
	// FlushInterval is how often buffered records are handed on.
	FlushInterval time.Duration `mapstructure:"flush_interval"`

	// The evidence chain (docs/evidence-chain.md): every record carries its
	// stream, number and the previous record's hash; checkpoints seal it.

	// CheckpointInterval is how often a kernel.evidence.checkpoint record
	// seals the chain (one more at shutdown).
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`
	// SigningKeyFile is an Ed25519 private key (PEM, PKCS #8) that signs
	// each checkpoint; empty: checkpoints are not signed (unless
	// SigningWorkloadSocket is set).
	SigningKeyFile string `mapstructure:"signing_key_file"`
	// SigningWorkloadSocket is a SPIFFE Workload API socket (the SPIRE
	// agent's socket_path): each checkpoint is signed with the key of the
	// collector's own X.509 SVID, the newest the agent pushed (rotation),
	// and carries the SVID's chain. Start waits up to a minute for the
	// first SVID. Not with SigningKeyFile.
	SigningWorkloadSocket string `mapstructure:"signing_workload_socket"`
	// StateFile keeps the last checkpoint of the stream, so that the next
	// run's first checkpoint names it (a restart is a link, not a gap);
	// empty: a new stream names no previous one.
	StateFile string `mapstructure:"state_file"`
}

// WakeupConfig says when the kernel wakes the reader.
type WakeupConfig struct {
	// Bytes: wake the reader once this much data waits; 0 wakes it for
	// every sample (about 5 µs more per created file, measured here).
	Bytes ByteSize `mapstructure:"bytes"`
	// MaxLatency bounds how long a sample waits when wakeups are batched.
	MaxLatency time.Duration `mapstructure:"max_latency"`
}

// FilterConfig selects files in the kernel.
type FilterConfig struct {
	// PathPrefixes keeps only files whose path on the node starts with one
	// of these (end a directory with "/"); empty keeps all. Matched through
	// the node's mount table, so any mount of a watched directory, in any
	// mount namespace, matches.
	PathPrefixes []string `mapstructure:"path_prefixes"`
	// UIDs keeps only files created by these effective uids; empty keeps all.
	UIDs []uint32 `mapstructure:"uids"`
	// ExcludeComms drops files created by tasks with these names (comm).
	// Not a security boundary: any process can name itself (prctl
	// PR_SET_NAME, or exec a copy of a binary under that name) and its
	// files are then not counted. For noise from trusted, well-behaved
	// programs only; the receiver warns at start when it is set.
	ExcludeComms []string `mapstructure:"exclude_comms"`
	// ExcludeCgroups drops files created by tasks in these cgroups: cgroup
	// v2 paths as the collector's cgroup2 mount shows them (for example
	// /system.slice/kubelet.service), resolved to their ids at start; the
	// cgroup itself, not its descendants. A task cannot move itself into a
	// cgroup it may not write to, so this is the exclusion to use for node
	// daemons.
	ExcludeCgroups []string `mapstructure:"exclude_cgroups"`
	// ExcludeSelf drops files the collector itself creates (its own file
	// exporter, for example), so it cannot feed back on itself.
	ExcludeSelf bool `mapstructure:"exclude_self"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every problem at once, each naming its key.
func (cfg *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	// The loader's own limits, checked where the loader defines them.
	opts := cfg.probeOptions()
	// The cgroups are resolved to ids at Start; here only their number
	// counts.
	opts.ExcludeCgroupIDs = make([]uint64, len(cfg.Filter.ExcludeCgroups))
	for _, p := range opts.Problems(os.Getpagesize()) {
		key, ok := probeOptionKeys[p.Field]
		if !ok {
			key = p.Field // not set from the config; named as the loader names it
		}
		if p.Index >= 0 {
			key = fmt.Sprintf("%s[%d]", key, p.Index)
		}
		bad(key, "%s", p.Msg)
	}
	if cfg.CollectionInterval <= 0 {
		bad("collection_interval", "must be positive")
	}
	if cfg.Events.KernelFileCreated.Enabled && !cfg.Events.KernelEvidenceGap.Enabled {
		bad("events::kernel.evidence.gap::enabled", "must stay true while kernel.file.created is on: in a logs pipeline it is the only trace of the records the rate limit shed")
	}
	// mdatagen's resource filters drop a workload's series or records by
	// values the workload itself can steer (its cgroup path, container id),
	// and nothing counts what they drop: refused (filter in the pipeline,
	// or with filter::exclude_cgroups, which cannot be spoofed).
	ra := reflect.ValueOf(cfg.ResourceAttributes)
	for i := range ra.NumField() {
		rac, ok := ra.Field(i).Interface().(metadata.ResourceAttributeConfig)
		if !ok {
			continue
		}
		name := ra.Type().Field(i).Tag.Get("mapstructure")
		for _, f := range []struct {
			key string
			n   int
		}{{"metrics_include", len(rac.MetricsInclude)}, {"metrics_exclude", len(rac.MetricsExclude)}, {"events_include", len(rac.EventsInclude)}, {"events_exclude", len(rac.EventsExclude)}} {
			if f.n > 0 {
				bad("resource_attributes::"+name+"::"+f.key, "not supported: it would drop creations by values a workload can choose, uncounted; use filter::exclude_cgroups or a filter processor")
			}
		}
	}
	for i, c := range cfg.Filter.ExcludeCgroups {
		if !strings.HasPrefix(c, "/") || slices.Contains(strings.Split(c, "/"), "..") {
			bad(fmt.Sprintf("filter::exclude_cgroups[%d]", i), "%q must be an absolute cgroup path without \"..\" (for example /system.slice/kubelet.service)", c)
		}
	}
	if cfg.FileDirectoryDepth < 0 || cfg.FileDirectoryDepth > 64 {
		bad("file_directory_depth", "%d must be from 0 to 64", cfg.FileDirectoryDepth)
	}
	if cfg.MaxSeries < 1 || cfg.MaxSeries > 10_000_000 {
		bad("max_series", "%d must be from 1 to 10000000", cfg.MaxSeries)
	}
	if cfg.SeriesTTL < 0 {
		bad("series_ttl", "must not be negative")
	}
	if _, err := cfg.resolverOptions(); err != nil {
		errs = append(errs, err)
	}
	if cfg.Identity.RulesFile != "" && cfg.Identity.ReloadInterval <= 0 {
		bad("identity::reload_interval", "must be positive when identity::rules_file is set")
	}
	if cfg.Evidence.MaxRecordsPerSecond < 0 {
		bad("evidence::max_records_per_second", "must not be negative (0 means no limit)")
	}
	if cfg.Evidence.FlushInterval <= 0 {
		bad("evidence::flush_interval", "must be positive")
	}
	if cfg.Evidence.CheckpointInterval <= 0 {
		bad("evidence::checkpoint_interval", "must be positive")
	}
	if f := cfg.Evidence.SigningKeyFile; f != "" {
		if _, err := readSigningKey(f); err != nil {
			bad("evidence::signing_key_file", "must be an Ed25519 private key in PEM (PKCS #8; openssl genpkey -algorithm ed25519): %v", err)
		}
	}
	if sock := cfg.Evidence.SigningWorkloadSocket; sock != "" {
		switch {
		case cfg.Evidence.SigningKeyFile != "":
			bad("evidence::signing_workload_socket", "must not be set with evidence::signing_key_file (one signer)")
		case !filepath.IsAbs(sock):
			bad("evidence::signing_workload_socket", "%q must be an absolute path (the SPIRE agent's socket_path)", sock)
		}
	}
	if cfg.Identity.CacheTTL <= 0 {
		bad("identity::cache_ttl", "must be positive")
	}
	if cfg.Identity.MaxWorkloads < 1 || cfg.Identity.MaxWorkloads > 10_000_000 {
		bad("identity::max_workloads", "%d must be from 1 to 10000000", cfg.Identity.MaxWorkloads)
	}
	if cfg.Identity.CgroupRoot != "" && !strings.HasPrefix(cfg.Identity.CgroupRoot, "/") {
		bad("identity::cgroup_root", "%q must be an absolute path", cfg.Identity.CgroupRoot)
	}
	if !strings.HasPrefix(cfg.Identity.HostRoot, "/") {
		bad("identity::host_root", "%q must be an absolute path", cfg.Identity.HostRoot)
	}
	errs = append(errs, cfg.Identity.Spire.validate()...)
	errs = append(errs, cfg.Identity.Kubernetes.validate()...)
	return errors.Join(errs...)
}

// probeOptionKeys are the configuration keys of the probe.Options fields
// the config sets, for the loader's validation errors (probe.FieldError).
var probeOptionKeys = map[string]string{
	"Hook":             "hook",
	"RingBufferSize":   "ring_buffer_size",
	"WakeupBytes":      "wakeup::bytes",
	"MaxLatency":       "wakeup::max_latency",
	"PathPrefixes":     "filter::path_prefixes",
	"UIDs":             "filter::uids",
	"ExcludeComms":     "filter::exclude_comms",
	"ExcludeCgroupIDs": "filter::exclude_cgroups",
	"BTFPath":          "btf_path",
	"MountInfo":        "identity::host_root",
}

// probeOptions turns the config into what the loader takes.
func (cfg *Config) probeOptions() probe.Options {
	o := probe.Options{
		Hook:           probe.Hook(cfg.Hook),
		RingBufferSize: int(cfg.RingBufferSize),
		WakeupBytes:    int(cfg.Wakeup.Bytes),
		MaxLatency:     cfg.Wakeup.MaxLatency,
		PathPrefixes:   cfg.Filter.PathPrefixes,
		UIDs:           cfg.Filter.UIDs,
		ExcludeComms:   cfg.Filter.ExcludeComms,
		BTFPath:        cfg.BTFPath,
		MountInfo:      cfg.nodeMountInfo(),
	}
	if cfg.Filter.ExcludeSelf {
		o.ExcludePID = os.Getpid()
	}
	return o
}

// resolverOptions turns the config into what the identity resolver takes,
// with identity::rules compiled (the rules file's are added by the
// rulesWatcher). The kernel's exec records and the SPIRE client are the
// receiver's to add.
func (cfg *Config) resolverOptions() (identity.Options, error) {
	rules, err := identity.CompileRules("identity::rules", cfg.Identity.Rules)
	if err != nil {
		return identity.Options{}, err
	}
	return identity.Options{
		Rules:        rules,
		Unmatched:    cfg.Identity.UnmatchedAttributes,
		CacheTTL:     cfg.Identity.CacheTTL,
		MaxWorkloads: cfg.Identity.MaxWorkloads,
		CgroupRoot:   cfg.Identity.CgroupRoot,
		HostRoot:     cfg.Identity.HostRoot,
		// Unreferenced workloads live two more collections (and evidence
		// flushes): enough for a sample between a workload's lookup and its
		// series, and for buffered evidence records of it to be handed on
		// before its id can name another workload.
		Grace: 2 * max(cfg.CollectionInterval, cfg.Evidence.FlushInterval),
	}, nil
}

// spireOptions turns identity::spire into what the SPIRE client takes.
func (cfg *Config) spireOptions() spire.Options {
	sc := cfg.Identity.Spire
	return spire.Options{Socket: sc.AdminSocket, Timeout: sc.Timeout, CacheTTL: sc.CacheTTL, RetryInterval: sc.RetryInterval}
}

// nodeMountInfo is the node's mount table: the mountinfo of the process
// whose root identity::host_root is when it is /proc/<pid>/root (a
// collector with the node's pid namespace), else the one under host_root's
// /proc (the node's init's: host_root "/" gives /proc/1/mountinfo).
func (cfg *Config) nodeMountInfo() string {
	root := filepath.Clean(cfg.Identity.HostRoot)
	if rest, ok := strings.CutPrefix(root, "/proc/"); ok {
		if pid, ok := strings.CutSuffix(rest, "/root"); ok && pid != "" && !strings.Contains(pid, "/") {
			return "/proc/" + pid + "/mountinfo"
		}
	}
	return filepath.Join(root, "proc/1/mountinfo")
}

// excludeCgroupIDs resolves filter::exclude_cgroups to cgroup v2 ids: the
// inode numbers of the cgroups' directories under the cgroup2 mount at root,
// which is what bpf_get_current_cgroup_id returns for a task in them.
func (cfg *Config) excludeCgroupIDs(root string) ([]uint64, error) {
	if len(cfg.Filter.ExcludeCgroups) == 0 {
		return nil, nil
	}
	if root == "" {
		return nil, errors.New("filter::exclude_cgroups: cgroup v2 is not mounted (the kernel identifies a task's cgroup by its v2 id)")
	}
	var errs []error
	var ids []uint64
	for i, c := range cfg.Filter.ExcludeCgroups {
		var st unix.Stat_t
		dir := filepath.Join(root, c)
		if err := unix.Stat(dir, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			errs = append(errs, fmt.Errorf("filter::exclude_cgroups[%d]: %q is not a cgroup under %s: %v", i, c, root, err))
			continue
		}
		ids = append(ids, st.Ino)
	}
	return ids, errors.Join(errs...)
}

// ByteSize is a size in bytes that reads "4MiB", "256KiB", "1GiB", "512B"
// or a plain number.
type ByteSize int64

// UnmarshalText parses a size with an optional binary unit.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid size %q: want a whole number of bytes, optionally with B, KiB, MiB or GiB", string(text))
	}
	*b = ByteSize(n * mult)
	return nil
}

// MarshalText writes the size in the largest unit that divides it.
func (b ByteSize) MarshalText() ([]byte, error) {
	n := int64(b)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return []byte(strconv.FormatInt(n/u.mult, 10) + u.suffix), nil
		}
	}
	return []byte(strconv.FormatInt(n, 10)), nil
}
