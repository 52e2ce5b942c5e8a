// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"bytes"
	"crypto/ed25519"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// cpuTime is the process's user and system CPU time, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkEvidenceChain: the evidence path from a delivered sample to the
// handed-on batch (record, take every 1,000 records as a flush would, with
// a checkpoint each take), without the chain, with it, and with it and a
// signed checkpoint; records/s is the figure the README states.
//
//	go test -run '^$' -bench BenchmarkEvidenceChain -count 6 ./receiver/kerneleventsreceiver/
func BenchmarkEvidenceChain(b *testing.B) {
	for _, tc := range []struct {
		name          string
		chain, signed bool
	}{{"off", false, false}, {"chain", true, false}, {"chain+signed", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			t0 := time.Unix(1_800_000_000, 0)
			ev := newEvidence(EvidenceConfig{CheckpointInterval: time.Nanosecond}, metadata.DefaultLogsBuilderConfig(),
				receivertest.NewNopSettings(metadata.Type), t0.UnixNano(), goldenResource)
			ev.noChain = !tc.chain
			if tc.chain {
				ev.counts = func() checkpointCounts { return checkpointCounts{1, map[string]uint64{"ring_buffer_full": 0}, nil} }
			}
			if tc.signed {
				ev.setKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))
			}
			paths := make([][]byte, 1000)
			for i := range paths {
				paths[i] = []byte("/var/lib/app/data/file-" + strconv.Itoa(i))
			}
			e := &event.Event{TimeNs: 1, CgroupID: 77, TGID: 100, TID: 101, Hook: event.HookTracepoint, Comm: []byte("writer")}
			f := identity.Facts{User: "app", Executable: "/usr/bin/writer"}
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.Path = paths[i%len(paths)]
				ev.add(e, uint32(1+i%4), f, t0)
				if i%1000 == 999 {
					ev.take(false, t0)
				}
			}
			ev.take(false, t0)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			// The process's CPU time per record: on a loaded machine the wall
			// time measures the other tenants too.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/record")
		})
	}
}
