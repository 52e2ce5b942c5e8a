// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kernelevents/kernelevents/internal/event"
)

// jsonLinesStore is the end of the pipeline in BenchmarkEvidencePipeline:
// what the collector's `file` exporter does with a batch (format json, its
// default): the batch as OTLP JSON, one line, written through a buffer to
// a file.
type jsonLinesStore struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
	m  plog.JSONMarshaler
}

func (s *jsonLinesStore) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *jsonLinesStore) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	b, err := s.m.MarshalLogs(ld)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.w.WriteByte('\n')
}

// rewind empties the file between rounds (outside the time measured).
func (s *jsonLinesStore) rewind() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.w.Flush(); err != nil {
		return err
	}
	if err := s.f.Truncate(0); err != nil {
		return err
	}
	_, err := s.f.Seek(0, 0)
	return err
}

// BenchmarkEvidencePipeline is the chain's cost on the whole path of a
// record, from the ring buffer's bytes to the store: the receiver reading
// encoded samples from a fake source (the decoder the ring buffer's
// samples go through), identity (this process, cached), the metrics table,
// the evidence record, a take every 1,000 records (a checkpoint each, as
// BenchmarkEvidenceChain), and a consumer that writes each batch as the
// `file` exporter does (OTLP JSON lines, buffered, to a file). Three
// receivers in one process, the chain off, on, and on with Ed25519-signed
// checkpoints, take turns: each of b.N rounds runs 20,000 records of each,
// in an order rotated each round. Reported: the medians of the process's
// CPU time per record, and of the ratios within a round. The chain's own
// path is BenchmarkEvidenceChainInterleaved's.
//
//	go test -run '^$' -bench BenchmarkEvidencePipeline -benchtime 15x ./receiver/kerneleventsreceiver/
func BenchmarkEvidencePipeline(b *testing.B) {
	const chunk, take = 20_000, 1_000
	dir := b.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	samples := make([][]byte, len(benchPaths))
	for i, p := range benchPaths {
		samples[i] = event.Encode(selfSample(b, string(p)))
	}
	runs := make([]*fakeRun, len(benchCases))
	stores := make([]*jsonLinesStore, len(benchCases))
	pushed := make([]uint64, len(benchCases))
	// run c's next chunk records, taking every take of them
	records := func(c int, n int) {
		run := runs[c]
		for i := 0; i < n; i += take {
			for j := 0; j < take; j++ {
				run.src.pushRaw(samples[(int(pushed[c])+j)%len(samples)])
			}
			pushed[c] += take
			for run.r.delivered.Load() < pushed[c] {
				time.Sleep(50 * time.Microsecond)
			}
			run.r.flushLogs(context.Background(), false)
		}
	}
	for c, tc := range benchCases {
		cfg := fakeConfig()
		cfg.Evidence.MaxRecordsPerSecond = 0 // no shedding: every record is chained
		cfg.Evidence.CheckpointInterval = time.Nanosecond
		if tc.signed {
			cfg.Evidence.SigningKeyFile = keyFile
		}
		f, err := os.Create(filepath.Join(dir, tc.name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		stores[c] = &jsonLinesStore{f: f, w: bufio.NewWriterSize(f, 64<<10)}
		runs[c] = (&fakeRun{}).start(b, cfg, stores[c], nil)
		if !tc.chain {
			runs[c].r.evidence.mu.Lock()
			runs[c].r.evidence.noChain, runs[c].r.evidence.counts = true, nil
			runs[c].r.evidence.mu.Unlock()
		}
		records(c, chunk) // warm
	}
	perRecord := make([][]float64, len(benchCases))
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		for j := range benchCases {
			c := (j + round) % len(benchCases)
			if err := stores[c].rewind(); err != nil {
				b.Fatal(err)
			}
			cpu0 := cpuTime()
			pprof.Do(context.Background(), pprof.Labels("case", benchCases[c].name), func(context.Context) {
				records(c, chunk)
			})
			perRecord[c] = append(perRecord[c], float64(cpuTime()-cpu0)/chunk)
		}
	}
	b.StopTimer()
	reportInterleaved(b, perRecord)
	// What the store holds per record, the last round's.
	for c, tc := range benchCases {
		if err := stores[c].w.Flush(); err != nil {
			b.Fatal(err)
		}
		st, err := stores[c].f.Stat()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/chunk, tc.name+"-stored-bytes/record")
	}
}
