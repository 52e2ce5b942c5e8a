// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
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
	"golang.org/x/crypto/blake2b"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/evidence/chain"
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
	chainFloor(b, stores[1].f, median(perRecord[0]))
}

// chainFloor reports what no implementation of the chain as specified can
// leave out, measured on the chain case's stored records (the last round's):
// SHA-256 of each record's canonical form past the prefix that its keys
// alone decide (an implementation hashes that prefix once per shape and
// resumes from it, as the receiver does), and writing the record's chain
// attributes to the store (the JSON of the same batches with and without
// seq and prev): each per record and, together, as a share of the chain-off
// case's CPU per record (off).
func chainFloor(b *testing.B, f *os.File, off float64) {
	if _, err := f.Seek(0, 0); err != nil {
		b.Fatal(err)
	}
	var batches, bare []plog.Logs
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	var u plog.JSONUnmarshaler
	for sc.Scan() {
		ld, err := u.UnmarshalLogs(sc.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		// Both copies made alike, so that neither is laid out better in
		// memory than the other.
		w, c := plog.NewLogs(), plog.NewLogs()
		ld.CopyTo(w)
		ld.CopyTo(c)
		batches = append(batches, w)
		for _, rl := range c.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					lr.Attributes().Remove(chain.AttrSeq)
					lr.Attributes().Remove(chain.AttrPrev)
				}
			}
		}
		bare = append(bare, c)
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	// The canonical form's prefix: the magic (an empty record's form less
	// its 65 other bytes: two empty strs, a zero count, the timestamps,
	// the severity number, the empty body's tag, the resource digest),
	// the event name and the keys, each str a u32 length and its bytes.
	magic := len(chain.Canonical(nil, plog.NewLogRecord(), plog.NewResourceLogs().Resource())) - 65
	var tails [][]byte
	for _, ld := range batches {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					prefix := magic + 4 + len(lr.EventName()) + 4
					for k := range lr.Attributes().All() {
						if k != chain.AttrSignature {
							prefix += 4 + len(k)
						}
					}
					form := chain.Canonical(nil, lr, rl.Resource())
					tails = append(tails, form[prefix:])
				}
			}
		}
	}
	if len(tails) == 0 {
		b.Fatal("chain floor: no record stored")
	}
	hashed := 0
	for _, t := range tails {
		hashed += len(t)
	}
	var m plog.JSONMarshaler
	marshal := func(lds []plog.Logs) func() {
		return func() {
			for _, ld := range lds {
				if _, err := m.MarshalLogs(ld); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	timed := func(f func()) float64 {
		cpu0 := cpuTime()
		f()
		return float64(cpuTime()-cpu0) / float64(len(tails))
	}
	// Medians of 9 passes; the JSON's share as the median of 9 paired
	// differences, the batches with and without the chain's attributes
	// marshalled one after the other.
	var hashes, diffs []float64
	for range 9 {
		hashes = append(hashes, timed(func() {
			for _, t := range tails {
				sha256.Sum256(t)
			}
		}))
		diffs = append(diffs, timed(marshal(batches))-timed(marshal(bare)))
	}
	hashNs, jsonNs := median(hashes), median(diffs)
	b.ReportMetric(float64(hashed)/float64(len(tails)), "floor-hashed-bytes/record")
	b.ReportMetric(hashNs, "floor-sha256-ns/record")
	// The hashes another canonical form could use, on the same bytes, each
	// the median of 9 passes: none is cheaper than SHA-256 where the CPU
	// has SHA extensions (Go uses them), so "another hash" does not lower
	// the floor on such a machine.
	for _, alt := range []struct {
		name string
		sum  func([]byte)
	}{
		{"sha512_256", func(t []byte) { sha512.Sum512_256(t) }},
		{"blake2b256", func(t []byte) { blake2b.Sum256(t) }},
		{"sha3_256", func(t []byte) { sha3.Sum256(t) }},
	} {
		var ns []float64
		for range 9 {
			ns = append(ns, timed(func() {
				for _, t := range tails {
					alt.sum(t)
				}
			}))
		}
		b.ReportMetric(median(ns), "floor-"+alt.name+"-ns/record")
	}
	b.ReportMetric(jsonNs, "floor-chain-json-ns/record")
	b.ReportMetric(100*(hashNs+jsonNs)/off, "floor-vs-off-%")
}
