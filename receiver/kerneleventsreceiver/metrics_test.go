// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/aggregate"
	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

var updateGolden = flag.Bool("update-golden", false, "write testdata/metrics/*.yaml from the current output")

func key(workload uint32, comm string, uid uint32, hook event.HookID) aggregate.Key {
	k := aggregate.Key{Workload: workload, EUID: uid, Hook: hook}
	copy(k.Comm[:], comm)
	return k
}

func keyOp(k aggregate.Key, op event.Op) aggregate.Key {
	k.Op = op
	return k
}

// goldenCollection is one batch's input: the hook's programs, one not
// attached (kernel.probe.programs 0), host series, a workload's
// series, an overflow, losses by reason and by cgroup, malformed and shed
// counts.
func goldenCollection() *collection {
	return &collection{
		now:       pcommon.NewTimestampFromTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		hook:      metadata.AttributeKerneleventsHookTracepoint,
		programs:  []probe.ProgramState{{Name: "tp_btf sys_exit", Attached: true}, {Name: "raw tracepoint io_uring_complete"}},
		received:  1234,
		malformed: 2,
		lost:      map[string]uint64{"ring_buffer_full": 7, "fd_race": 1, "kprobe_missed": 3},
		lostByCg: map[uint64]map[string]uint64{
			4242: {"ring_buffer_full": 5, "evidence_shed": 2},
			5151: {"fd_race": 1, "scratch_busy": 0}, // zero: not exported
			0:    {"ring_buffer_full": 1},           // 0: cgroups past the map's size
		},
		active:    4,
		overflow:  40,
		evidence:  true,
		shed:      5,
		workloads: identity.Stats{Workloads: 2, Overflow: 1, Unresolved: 4},
		groups: map[uint32][]seriesRow{
			0: {
				{aggregate.Series{Key: key(0, "sshd", 0, 0), Count: 10}, "/var/log", ""},
				{aggregate.Series{Key: keyOp(key(0, "mv", 0, 0), event.OpRename), Count: 2}, "/etc/cron.d", ""},
			},
			1: {
				{aggregate.Series{Key: key(1, "nginx", 101, event.HookIOUring), Count: 1}, "/srv/www", ""},
				{aggregate.Series{Key: key(1, "nginx", 101, 0), Count: 6}, "/srv/cache", ""},
			},
		},
	}
}

func goldenResource(id uint32) pcommon.Resource {
	res := pcommon.NewResource()
	if id == 1 {
		res.Attributes().PutStr("container.id", "0123456789ab")
		res.Attributes().PutStr(identity.RuleAttribute, "web")
	}
	return res
}

// TestBuildMetricsGolden: one batch, built from a fixed input, is the
// golden file: every lost reason (malformed from the reader's count), the
// overflow series with its single attribute, series grouped by workload
// resource, the evidence shed count.
func TestBuildMetricsGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*collection, *metadata.MetricsBuilderConfig)
	}{
		{"default", func(*collection, *metadata.MetricsBuilderConfig) {}},
		{"no_logs_no_overflow", func(c *collection, _ *metadata.MetricsBuilderConfig) { c.evidence, c.overflow = false, 0 }},
		{"optional_attributes", func(c *collection, cfg *metadata.MetricsBuilderConfig) {
			cfg.Metrics.KernelFileCreations.EnabledAttributes = append(cfg.Metrics.KernelFileCreations.EnabledAttributes,
				metadata.KernelFileCreationsMetricAttributeKeyProcessPid, metadata.KernelFileCreationsMetricAttributeKeyFilePath)
			c.groups[1][0].path, c.groups[1][0].s.Key.PID = "/srv/www/index.html", 4242
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goldenCollection()
			cfg := metadata.NewDefaultMetricsBuilderConfig()
			tc.modify(c, &cfg)
			mb := metadata.NewMetricsBuilder(cfg, receivertest.NewNopSettings(metadata.Type))
			got := buildMetrics(mb, c, goldenResource)
			file := filepath.Join("testdata", "metrics", tc.name+".yaml")
			if *updateGolden {
				require.NoError(t, golden.WriteMetrics(t, file, got))
			}
			want, err := golden.ReadMetrics(file)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, got, pmetrictest.IgnoreStartTimestamp(), pmetrictest.IgnoreTimestamp()))
		})
	}
}
