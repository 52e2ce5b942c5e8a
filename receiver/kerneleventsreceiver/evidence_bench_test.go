// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"runtime/pprof"
	"slices"
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

// benchEvidence is the evidence of the benchmarks below: chain off, on,
// or on with an Ed25519-signed checkpoint at each take.
func benchEvidence(chained, signed bool) *evidence {
	t0 := time.Unix(1_800_000_000, 0)
	ev := newEvidence(EvidenceConfig{CheckpointInterval: time.Nanosecond}, metadata.DefaultLogsBuilderConfig(),
		receivertest.NewNopSettings(metadata.Type), t0.UnixNano(), goldenResource)
	ev.noChain = !chained
	if chained {
		ev.counts = func() checkpointCounts { return checkpointCounts{1, map[string]uint64{"ring_buffer_full": 0}, nil} }
	}
	if signed {
		ev.setKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))
	}
	return ev
}

// benchPaths are the paths the benchmarks' records name, in turn.
var benchPaths = func() [][]byte {
	paths := make([][]byte, 1000)
	for i := range paths {
		paths[i] = []byte("/var/lib/app/data/file-" + strconv.Itoa(i))
	}
	return paths
}()

// benchRecord records the benchmarks' record number i, over four
// workloads, and takes every 1,000 records as a flush would.
func benchRecord(ev *evidence, i int) {
	t0 := time.Unix(1_800_000_000, 0)
	e := event.Event{TimeNs: 1, CgroupID: 77, TGID: 100, TID: 101, Hook: event.HookTracepoint, Comm: []byte("writer"),
		Path: benchPaths[i%len(benchPaths)]}
	ev.add(&e, uint32(1+i%4), identity.Facts{User: "app", Executable: "/usr/bin/writer"}, t0)
	if i%1000 == 999 {
		ev.take(false, t0)
	}
}

// benchCases are the benchmarks' cases: the chain off, on, and on with
// signed checkpoints.
var benchCases = []struct {
	name          string
	chain, signed bool
}{{"off", false, false}, {"chain", true, false}, {"chain+signed", true, true}}

// BenchmarkEvidenceChain: the evidence path from a delivered sample to the
// handed-on batch (record, take every 1,000 records as a flush would, with
// a checkpoint each take), without the chain, with it, and with it and a
// signed checkpoint; records/s is the figure the README states.
//
//	go test -run '^$' -bench BenchmarkEvidenceChain -count 6 ./receiver/kerneleventsreceiver/
func BenchmarkEvidenceChain(b *testing.B) {
	for _, tc := range benchCases {
		b.Run(tc.name, func(b *testing.B) {
			ev := benchEvidence(tc.chain, tc.signed)
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				benchRecord(ev, i)
			}
			ev.take(false, time.Unix(1_800_000_000, 0))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			// The process's CPU time per record: on a loaded machine the wall
			// time measures the other tenants too.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/record")
		})
	}
}

// BenchmarkEvidenceChainInterleaved is BenchmarkEvidenceChain's three
// cases in one process, taking turns: each of b.N rounds runs 20,000
// records of each case (20 takes; at this heap size several garbage
// collections, so that each case pays mostly for its own), in an order
// rotated each round. A load that comes and goes on a shared machine then
// falls on the three alike. It reports the medians of each case's CPU
// time per record and of the ratios within a round:
//
//	go test -run '^$' -bench BenchmarkEvidenceChainInterleaved -benchtime 15x ./receiver/kerneleventsreceiver/
func BenchmarkEvidenceChainInterleaved(b *testing.B) {
	const chunk = 20_000
	evs := make([]*evidence, len(benchCases))
	next := make([]int, len(benchCases))
	perRecord := make([][]float64, len(benchCases))
	for c, tc := range benchCases {
		evs[c] = benchEvidence(tc.chain, tc.signed)
		for ; next[c] < chunk; next[c]++ { // warm
			benchRecord(evs[c], next[c])
		}
	}
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		for j := range benchCases {
			c := (j + round) % len(benchCases)
			cpu0 := cpuTime()
			// Labelled for -cpuprofile: pprof -tagfocus case=chain.
			pprof.Do(context.Background(), pprof.Labels("case", benchCases[c].name), func(context.Context) {
				for end := next[c] + chunk; next[c] < end; next[c]++ {
					benchRecord(evs[c], next[c])
				}
			})
			perRecord[c] = append(perRecord[c], float64(cpuTime()-cpu0)/chunk)
		}
	}
	b.StopTimer()
	reportInterleaved(b, perRecord)
}

// reportInterleaved reports the medians of each case's CPU time per record
// (perRecord[case][round]) and of the ratios to the first case within a
// round.
func reportInterleaved(b *testing.B, perRecord [][]float64) {
	ratio := func(c int) float64 {
		r := make([]float64, len(perRecord[c]))
		for i := range r {
			r[i] = 100 * (perRecord[c][i]/perRecord[0][i] - 1)
		}
		return median(r)
	}
	for c, tc := range benchCases {
		b.Logf("%s: cpu-ns/record per round %.0f", tc.name, perRecord[c])
	}
	b.ReportMetric(median(perRecord[0]), "off-cpu-ns/record")
	b.ReportMetric(median(perRecord[1]), "chain-cpu-ns/record")
	b.ReportMetric(median(perRecord[2]), "signed-cpu-ns/record")
	b.ReportMetric(ratio(1), "chain-vs-off-%")
	b.ReportMetric(ratio(2), "signed-vs-off-%")
}

// median is the median of x (0 for none).
func median(x []float64) float64 {
	x = slices.Sorted(slices.Values(x))
	if len(x) == 0 {
		return 0
	}
	if len(x)%2 == 1 {
		return x[len(x)/2]
	}
	return (x[len(x)/2-1] + x[len(x)/2]) / 2
}
