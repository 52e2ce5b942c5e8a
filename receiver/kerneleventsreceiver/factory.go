// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/k8spods"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// NewFactory returns the factory of the kernel_events receiver.
func NewFactory() receiver.Factory { return newFactory(defaultOpenSource) }

// newFactory returns a factory whose receivers read the source open returns.
func newFactory(open openSourceFunc) receiver.Factory {
	f := &factory{open: open}
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(f.createMetrics, metadata.MetricsStability),
		receiver.WithLogs(f.createLogs, metadata.LogsStability),
	)
}

// factory holds what the factory's receivers share: how they open their
// kernel source.
type factory struct {
	open openSourceFunc
}

func createDefaultConfig() component.Config {
	// The stages' defaults, from the stages.
	po := probe.DefaultOptions()
	io := identity.DefaultOptions()
	so := spire.DefaultOptions()
	ko := k8spods.DefaultOptions()
	return &Config{
		Hook:               string(po.Hook),
		RingBufferSize:     ByteSize(po.RingBufferSize),
		Wakeup:             WakeupConfig{Bytes: ByteSize(po.WakeupBytes), MaxLatency: po.MaxLatency},
		CollectionInterval: 10 * time.Second,
		Filter:             FilterConfig{ExcludeSelf: true},
		FileDirectoryDepth: 2,
		MaxSeries:          10000,
		SeriesTTL:          5 * time.Minute,
		Identity: IdentityConfig{
			ReloadInterval:      10 * time.Second,
			UnmatchedAttributes: map[string]string{identity.RuleAttribute: "unmatched"},
			CacheTTL:            io.CacheTTL,
			MaxWorkloads:        io.MaxWorkloads,
			HostRoot:            io.HostRoot,
			Spire:               SpireConfig{Timeout: so.Timeout, CacheTTL: so.CacheTTL, RetryInterval: so.RetryInterval},
			Kubernetes:          KubernetesConfig{Wait: ko.Wait},
		},
		Evidence:             EvidenceConfig{MaxRecordsPerSecond: 1000, FlushInterval: time.Second, CheckpointInterval: time.Minute},
		Events:               metadata.DefaultEventsConfig(),
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
	}
}

func (f *factory) createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	h, err := f.instance(set, cfg.(*Config), func(r *kernelEventsReceiver) { r.metrics = next })
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (f *factory) createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	h, err := f.instance(set, cfg.(*Config), func(r *kernelEventsReceiver) { r.logs = next })
	if err != nil {
		return nil, err
	}
	// The collector may shut the logs pipeline's exporter down before the
	// metrics pipeline's receiver: the evidence stream ends with its own
	// pipeline (its final checkpoint), not with the probe.
	h.leave = (*kernelEventsReceiver).endEvidence
	return h, nil
}

// instance returns a handle on the receiver shared by every pipeline of cfg,
// with attach (which sets the pipeline's consumer) applied under the lock.
func (f *factory) instance(set receiver.Settings, cfg *Config, attach func(*kernelEventsReceiver)) (*handle, error) {
	return instances.LoadOrStore(cfg, func() (*kernelEventsReceiver, error) { return newReceiver(set, cfg, f.open) }, attach)
}
