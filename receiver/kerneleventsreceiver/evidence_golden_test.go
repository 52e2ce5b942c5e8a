// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// goldenT0 is the wall time of the golden evidence batch; the kernel's
// monotonic clock reads 1 s at goldenT0.
var goldenT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// goldenEvidence records a fixed batch, as the reader would: a host
// creation with only the kernel's facts, whose open failed after it; a workload's creation with every
// optional attribute (a truncated io_uring path, a setuid program's real
// uid, its user and executable, several SPIFFE IDs and a hint); a rootless
// mknod path with bytes that are not UTF-8; two creations the rate limit
// sheds, then one that closes the gap.
func goldenEvidence(t *testing.T, lbc metadata.LogsBuilderConfig, spiffe bool) (plog.Logs, bool) {
	t.Helper()
	ev := newEvidence(EvidenceConfig{MaxRecordsPerSecond: 3}, lbc, receivertest.NewNopSettings(metadata.Type),
		goldenT0.UnixNano()-1e9, goldenResource)
	ev.bucket = newRateLimit(3)
	ev.spiffe = spiffe
	// The chain: a fixed stream, counts and signing key, and a previous
	// stream, so that the hashes and the signature are the golden ones.
	ev.stream = "golden-node/00112233445566778899aabbccddeeff"
	ev.counts = func() checkpointCounts {
		return checkpointCounts{9, map[string]uint64{"ring_buffer_full": 2, "malformed": 0}, map[uint64]map[string]uint64{77: {"ring_buffer_full": 2}}}
	}
	ev.previous = "golden-node/ffeeddccbbaa99887766554433221100 41 " + strings.Repeat("ab", 32)
	ev.setKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	at := func(ms int) (*event.Event, time.Time) {
		e := &event.Event{TimeNs: uint64(1e9 + ms*1e6), CgroupID: 77, TGID: 100, TID: 101, EUID: 0, EGID: 0, RUID: 0,
			Hook: event.HookTracepoint, Comm: []byte("sshd"), Path: []byte("/var/log/wtmp"),
			FSDev: 0x803, FSPath: []byte("/log/wtmp"), MountID: 29, MountPath: []byte("/log/wtmp")}
		return e, goldenT0.Add(time.Duration(ms+2) * time.Millisecond) // read 2 ms after the hook
	}

	e, now := at(0)
	e.Flags = event.FlagOpenFailed // made, then refused by a security module
	ev.add(e, 0, identity.Facts{}, now)

	e, now = at(1)
	e.TGID, e.TID, e.EUID, e.EGID, e.RUID = 4242, 4243, 101, 101, 1000
	e.Hook, e.Flags = event.HookIOUring, event.FlagIOUring|event.FlagTruncated
	e.Comm, e.Path = []byte("nginx"), []byte("/srv/www/cache/deep")
	// through a container's overlay: the upper layer's place on the node
	e.Path, e.FSPath = []byte("/var/lib/containers/up/srv/www/cache/deep"), []byte("/var/lib/containers/up/srv/www/cache/deep")
	e.FSDev, e.MountPath, e.Where = 0x801, nil, event.WhereOverlayUpper|event.WhereNoMountPath
	ev.add(e, 1, identity.Facts{User: "www-data", Executable: "/usr/sbin/nginx", SPIFFE: identity.SPIFFEFacts{
		Status: identity.SPIFFEIssued, IDs: []string{"spiffe://example.org/web", "spiffe://example.org/web-canary"}, Hint: "web"}}, now)

	e, now = at(2)
	e.Flags, e.Op = event.FlagMknod|event.FlagRootless, event.OpMknod
	e.Comm, e.Path = []byte("mk\xfffifo"), []byte("run/q\xff/./fifo")
	e.FSPath, e.MountPath, e.Where = e.Path, nil, event.WhereNoMountPath
	ev.add(e, 1, identity.Facts{}, now) // not looked up: attributed from the caches

	for ms := 3; ms <= 4; ms++ { // over 3 per second: shed
		e, now = at(ms)
		ev.add(e, 0, identity.Facts{}, now)
	}
	e, now = at(1000) // a token again: the gap record, then this one (a rename in)
	e.Op, e.Path = event.OpRename, []byte("/etc/cron.d/job")
	ev.add(e, 0, identity.Facts{}, now)
	return ev.take(false, now.Add(time.Millisecond))
}

// TestEvidenceGolden: the evidence records, built by mdatagen's LogsBuilder
// from the events in metadata.yaml, are the golden file: one resource per
// workload in order of their first record, severity, body, both timestamps,
// every attribute, and the gap record on the host's resource.
func TestEvidenceGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spiffe bool
	}{
		{"default", false},
		{"spiffe", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := goldenEvidence(t, metadata.DefaultLogsBuilderConfig(), tc.spiffe)
			require.True(t, ok)
			file := filepath.Join("testdata", "logs", tc.name+".yaml")
			if *updateGolden {
				require.NoError(t, golden.WriteLogs(t, file, got))
			}
			want, err := golden.ReadLogs(file)
			require.NoError(t, err)
			require.NoError(t, plogtest.CompareLogs(want, got))
		})
	}
}

// TestEvidenceEventsDisabled: events::<name>::enabled: false turns that
// event's records off; checkpoints need kernel.file.created: with it off
// nothing is handed on.
func TestEvidenceEventsDisabled(t *testing.T) {
	lbc := metadata.DefaultLogsBuilderConfig()
	lbc.Events.KernelEvidenceGap.Enabled = false
	got, ok := goldenEvidence(t, lbc, false)
	require.True(t, ok)
	names := map[string]int{}
	rls := got.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		lrs := rls.At(i).ScopeLogs().At(0).LogRecords()
		for j := 0; j < lrs.Len(); j++ {
			names[lrs.At(j).EventName()]++
		}
	}
	assert.Equal(t, map[string]int{EventName: 4, "kernel.evidence.checkpoint": 1}, names)

	lbc.Events.KernelEvidenceCheckpoint.Enabled = false
	got, ok = goldenEvidence(t, lbc, false)
	require.True(t, ok)
	assert.Equal(t, 4, got.LogRecordCount(), "creations only")

	lbc.Events.KernelFileCreated.Enabled = false
	_, ok = goldenEvidence(t, lbc, false)
	assert.False(t, ok, "no record, and nothing handed on")
}
