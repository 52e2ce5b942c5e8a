// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// NewFactory returns the factory of the kernel_events receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Hook:               "auto",
		RingBufferSize:     4 << 20,
		Wakeup:             WakeupConfig{Bytes: 256 << 10, MaxLatency: 100 * time.Millisecond},
		CollectionInterval: 10 * time.Second,
		Filter:             FilterConfig{ExcludeSelf: true},
		FileDirectoryDepth: 2,
		MaxSeries:          10000,
		SeriesTTL:          5 * time.Minute,
		Identity: IdentityConfig{
			ReloadInterval:      10 * time.Second,
			UnmatchedAttributes: map[string]string{identity.RuleAttribute: "unmatched"},
			CacheTTL:            30 * time.Second,
			MaxWorkloads:        20000,
			HostRoot:            "/",
			Spire:               SpireConfig{Timeout: 2 * time.Second, CacheTTL: 30 * time.Second, RetryInterval: 5 * time.Second},
		},
		Evidence:             EvidenceConfig{MaxRecordsPerSecond: 1000, FlushInterval: time.Second},
		MetricsBuilderConfig: metadata.DefaultMetricsBuilderConfig(),
	}
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	h, err := instance(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	h.r.metrics = next
	return h, nil
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	h, err := instance(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	h.r.logs = next
	return h, nil
}
