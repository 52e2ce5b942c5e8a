// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/filter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/evidence/verify"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// The evidence chain end to end on a fake source: the receiver's records,
// written as the file exporter writes them (one OTLP JSON request a line),
// checked by the verifier untouched and after each kind of tampering.

// chainKey writes a signing key file and returns its public key.
func chainKey(t *testing.T, dir string) (string, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	file := filepath.Join(dir, "evidence.key")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return file, pub
}

// chainRun runs one receiver (one stream): batches of creations, each
// flushed with a checkpoint, some shed by the rate limit, then a shutdown
// (the final checkpoint). It returns the lines the file exporter would write.
func chainRun(t *testing.T, cfg *Config, batches, perBatch int) [][]byte {
	t.Helper()
	run := startFake(t, cfg, true, nil)
	n := 0
	for b := 0; b < batches; b++ {
		for i := 0; i < perBatch; i++ {
			e := sample("/chain/" + strconv.Itoa(b) + "/" + strconv.Itoa(i))
			e.CgroupID = 5151
			run.src.push(e)
			n++
		}
		run.waitDelivered(t, uint64(n))
		run.r.flushLogs(context.Background(), false)
	}
	run.src.setLost("ring_buffer_full", 3)
	run.src.setLostCgroup(4242, probe.LostRingBufferFull, 3)
	run.src.setLostCgroup(4242, probe.LostFDRace, 1)
	run.stop()
	var lines [][]byte
	m := plog.JSONMarshaler{}
	for _, ld := range run.lsink.AllLogs() {
		b, err := m.MarshalLogs(ld)
		require.NoError(t, err)
		lines = append(lines, append(b, '\n'))
	}
	return lines
}

func chainConfig(t *testing.T, dir string) *Config {
	cfg := fakeConfig()
	cfg.Evidence.MaxRecordsPerSecond = 8 // the first batch sheds: a gap record
	cfg.Evidence.CheckpointInterval = time.Nanosecond
	cfg.Evidence.SigningKeyFile, _ = chainKey(t, dir)
	cfg.Evidence.StateFile = filepath.Join(dir, "evidence.state")
	return cfg
}

func verifyLines(t *testing.T, lines [][]byte, opts verify.Options) *verify.Report {
	t.Helper()
	r, err := verify.Run(bytes.NewReader(bytes.Join(lines, nil)), opts)
	require.NoError(t, err)
	var out strings.Builder
	r.Write(&out)
	t.Log(out.String())
	return r
}

// edit rewrites line i through pdata.
func edit(t *testing.T, lines [][]byte, i int, f func(plog.Logs)) [][]byte {
	t.Helper()
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(lines[i])
	require.NoError(t, err)
	f(ld)
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	out := append([][]byte(nil), lines...)
	out[i] = append(b, '\n')
	return out
}

// find returns the line and the record numbered seq.
func find(t *testing.T, lines [][]byte, stream string, seq int64) (int, func(plog.Logs) plog.LogRecord) {
	t.Helper()
	for i, line := range lines {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
		require.NoError(t, err)
		if lr, ok := recordIn(ld, stream, seq); ok {
			_ = lr
			return i, func(ld plog.Logs) plog.LogRecord { lr, _ := recordIn(ld, stream, seq); return lr }
		}
	}
	t.Fatalf("no record %d", seq)
	return 0, nil
}

func recordIn(ld plog.Logs, stream string, seq int64) (plog.LogRecord, bool) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		lrs := rls.At(i).ScopeLogs().At(0).LogRecords()
		for k := 0; k < lrs.Len(); k++ {
			lr := lrs.At(k)
			s, _ := rls.At(i).Resource().Attributes().Get(chain.AttrStream)
			n, _ := lr.Attributes().Get(chain.AttrSeq)
			if s.Str() == stream && n.Int() == seq {
				return lr, true
			}
		}
	}
	return plog.LogRecord{}, false
}

func TestEvidenceChainVerified(t *testing.T) {
	dir := testutil.TempDir(t)
	cfg := chainConfig(t, dir)
	first := chainRun(t, cfg, 4, 10)
	second := chainRun(t, cfg, 2, 3) // a restart: the state file links it
	all := append(append([][]byte(nil), first...), second...)

	r := verifyLines(t, all, verify.Options{})
	require.True(t, r.OK())
	require.Len(t, r.Streams, 2)
	a, b := r.Streams[0], r.Streams[1]
	// 4 batches of 10 at 8 a second: 8 kept, 32 shed in the first (a gap
	// record, written when the next record passes: at the final flush).
	assert.EqualValues(t, 40, a.Created+a.ShedSeen, "every creation is a record or stated shed")
	assert.EqualValues(t, a.DeclaredShed, a.ShedSeen)
	assert.EqualValues(t, a.DeclaredCreated, a.Created)
	assert.EqualValues(t, 40, a.DeclaredReceived)
	assert.EqualValues(t, 3, a.DeclaredLost["ring_buffer_full"])
	require.NotZero(t, a.DeclaredShed)
	assert.Equal(t, map[string]map[string]int64{
		"4242": {probe.LostRingBufferFull: 3, probe.LostFDRace: 1},
		"5151": {chain.LostEvidenceShed: int64(a.DeclaredShed)},
	}, a.DeclaredLostByCgroup, "whose evidence the kernel lost and the rate limit shed")
	assert.True(t, a.Final)
	assert.EqualValues(t, 5, a.Checkpoints, "one a flush and the final one")
	assert.EqualValues(t, 5, a.SignedValid)
	assert.Zero(t, a.Missing)
	assert.Equal(t, "continues stream "+a.ID+" after its checkpoint "+strconv.FormatUint(a.LastCheckpoint, 10), b.Link)
	assert.True(t, b.Final)
	assert.NotEqual(t, a.ID, b.ID)

	// Downstream processors adding resource attributes do not break it.
	added := all
	for i := range added {
		added = edit(t, added, i, func(ld plog.Logs) {
			for j := 0; j < ld.ResourceLogs().Len(); j++ {
				ld.ResourceLogs().At(j).Resource().Attributes().PutStr("k8s.node.name", "node-1")
			}
		})
	}
	assert.True(t, verifyLines(t, added, verify.Options{}).OK(), "attributes added downstream are not covered")

	trusted := make(ed25519.PublicKey, ed25519.PublicKeySize)
	copy(trusted, mustPub(t, cfg.Evidence.SigningKeyFile))
	assert.True(t, verifyLines(t, all, verify.Options{Trusted: trusted}).OK(), "signed by the trusted key")
	other, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	wrong := verifyLines(t, all, verify.Options{Trusted: other})
	assert.False(t, wrong.OK())
	assert.EqualValues(t, 5, wrong.Streams[0].SignedBad, "not the trusted key")

	t.Run("delete one record", func(t *testing.T) {
		i, get := find(t, all, a.ID, 3)
		got := verifyLines(t, edit(t, all, i, func(ld plog.Logs) {
			lr := get(ld)
			s, _ := ld.ResourceLogs().At(0).Resource().Attributes().Get(chain.AttrStream)
			ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().RemoveIf(func(x plog.LogRecord) bool {
				n, _ := x.Attributes().Get(chain.AttrSeq)
				m, _ := lr.Attributes().Get(chain.AttrSeq)
				return s.Str() == a.ID && n.Int() == m.Int()
			})
		}), verify.Options{})
		assert.False(t, got.OK())
		s := got.Streams[0]
		require.Len(t, s.Holes, 1)
		assert.Equal(t, verify.Hole{From: 3, To: 3, After: s.Holes[0].After, Before: s.Holes[0].Before}, s.Holes[0])
		assert.False(t, s.Holes[0].After.IsZero())
		assert.False(t, s.Holes[0].Before.IsZero())
		assert.Zero(t, s.BreakCount, "%v", s.Breaks)
		assert.True(t, got.Streams[1].Final)
		assert.Zero(t, got.Streams[1].BreakCount+got.Streams[1].HoleCount)
	})

	t.Run("alter one attribute", func(t *testing.T) {
		i, get := find(t, all, a.ID, 2)
		got := verifyLines(t, edit(t, all, i, func(ld plog.Logs) {
			get(ld).Attributes().PutStr("file.path", "/somewhere/else")
		}), verify.Options{})
		assert.False(t, got.OK())
		s := got.Streams[0]
		assert.Zero(t, s.HoleCount)
		require.Len(t, s.Breaks, 1)
		assert.EqualValues(t, 3, s.Breaks[0].Seq, "the next record names the original")
	})

	t.Run("shed by cgroup not adding up", func(t *testing.T) {
		// The final checkpoint moves the shed records to another cgroup and
		// drops some: the chain breaks there, and the verifier says the
		// counts by cgroup disagree with the checkpoint's shed.
		i, get := find(t, all, a.ID, int64(a.LastCheckpoint))
		got := verifyLines(t, edit(t, all, i, func(ld plog.Logs) {
			v, ok := get(ld).Attributes().Get(chain.AttrLostByCg)
			require.True(t, ok)
			v.Map().Remove("5151")
			v.Map().PutEmptyMap("4343").PutInt(chain.LostEvidenceShed, 1)
		}), verify.Options{})
		assert.False(t, got.OK())
		var reasons []string
		for _, b := range got.Streams[0].Breaks {
			reasons = append(reasons, b.Reason)
		}
		assert.Contains(t, reasons, fmt.Sprintf("checkpoint %d declares %d shed, and 1 shed by cgroup", a.LastCheckpoint, a.DeclaredShed))
	})

	t.Run("alter a covered resource attribute", func(t *testing.T) {
		i, _ := find(t, all, a.ID, 2)
		got := verifyLines(t, edit(t, all, i, func(ld plog.Logs) {
			for j := 0; j < ld.ResourceLogs().Len(); j++ {
				res := ld.ResourceLogs().At(j).Resource().Attributes()
				if _, ok := res.Get("kernelevents.identity.rule"); ok {
					res.PutStr("kernelevents.identity.rule", "other")
				}
			}
		}), verify.Options{})
		assert.False(t, got.OK())
		assert.NotZero(t, got.Streams[0].BreakCount)
		assert.Zero(t, got.Streams[0].HoleCount)
	})

	t.Run("swap two records", func(t *testing.T) {
		i, get := find(t, all, a.ID, 1)
		got := verifyLines(t, edit(t, all, i, func(ld plog.Logs) {
			x := get(ld)
			_, getY := find(t, all, a.ID, 2)
			y := getY(ld)
			x.Attributes().PutInt(chain.AttrSeq, 2)
			y.Attributes().PutInt(chain.AttrSeq, 1)
		}), verify.Options{})
		assert.False(t, got.OK())
		s := got.Streams[0]
		assert.Zero(t, s.HoleCount)
		var at []uint64
		for _, b := range s.Breaks {
			at = append(at, b.Seq)
		}
		assert.Equal(t, []uint64{1, 2, 3}, at, "each link into and out of the swapped pair")
	})

	t.Run("drop a whole batch", func(t *testing.T) {
		i := 1 // the first stream's second batch
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(all[i])
		require.NoError(t, err)
		lo, hi := int64(1<<62), int64(-1)
		for j := 0; j < ld.ResourceLogs().Len(); j++ {
			lrs := ld.ResourceLogs().At(j).ScopeLogs().At(0).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				n, _ := lrs.At(k).Attributes().Get(chain.AttrSeq)
				lo, hi = min(lo, n.Int()), max(hi, n.Int())
				if from, ok := lrs.At(k).Attributes().Get(chain.AttrShedFrom); ok {
					lo = min(lo, from.Int()) // shed, but the record saying so is lost
				}
			}
		}
		dropped := append(append([][]byte(nil), all[:i]...), all[i+1:]...)
		got := verifyLines(t, dropped, verify.Options{})
		assert.False(t, got.OK())
		s := got.Streams[0]
		require.Len(t, s.Holes, 1)
		assert.EqualValues(t, lo, s.Holes[0].From)
		assert.EqualValues(t, hi, s.Holes[0].To)
		assert.EqualValues(t, hi-lo+1, s.Missing)
		assert.Zero(t, s.BreakCount, "%v", s.Breaks)
	})

	t.Run("truncate the file", func(t *testing.T) {
		joined := bytes.Join(all, nil)
		cut := joined[:len(joined)-len(all[len(all)-1])/2]
		got, err := verify.Run(bytes.NewReader(cut), verify.Options{})
		require.NoError(t, err)
		assert.False(t, got.OK())
		assert.EqualValues(t, 1, got.BadLines)
		assert.Contains(t, got.BadLineErrs[0], "cut")
		s := got.Streams[1]
		assert.False(t, s.Final)
		require.Len(t, s.Breaks, 1)
		assert.Contains(t, s.Breaks[0].Reason, "no final checkpoint")
		assert.Zero(t, got.Streams[0].BreakCount+got.Streams[0].HoleCount, "the first stream is whole")
	})

	t.Run("alter a signature", func(t *testing.T) {
		i, get := find(t, all, a.ID, int64(a.LastCheckpoint))
		got := verifyLines(t, edit(t, all, i, func(ld plog.Logs) {
			sig, _ := get(ld).Attributes().Get(chain.AttrSignature)
			s := []byte(sig.Str())
			s[0] ^= 1
			get(ld).Attributes().PutStr(chain.AttrSignature, string(s))
		}), verify.Options{})
		assert.False(t, got.OK())
		assert.EqualValues(t, 1, got.Streams[0].SignedBad)
		assert.EqualValues(t, 1, got.Streams[0].BreakCount, "the signature is not in the chain: only it fails")
	})

	t.Run("records out of order in the file", func(t *testing.T) {
		rev := append([][]byte(nil), all...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		assert.True(t, verifyLines(t, rev, verify.Options{}).OK(), "batches arrive in any order")
		small := verifyLines(t, rev, verify.Options{Window: 2})
		assert.False(t, small.OK(), "past the window the missing numbers are holes")
	})

	t.Run("restart without its predecessor", func(t *testing.T) {
		got := verifyLines(t, second, verify.Options{})
		assert.True(t, got.OK())
		assert.Equal(t, "previous stream "+a.ID+" not in the input", got.Streams[0].Link)
	})
}

func mustPub(t *testing.T, keyFile string) ed25519.PublicKey {
	t.Helper()
	k, err := readSigningKey(keyFile)
	require.NoError(t, err)
	return k.Public().(ed25519.PublicKey)
}

// TestEvidenceStateFile: a bad state file is not a previous stream (the new
// stream names none, and replaces the file); the file then holds the
// stream's last checkpoint, which the next run names.
func TestEvidenceStateFile(t *testing.T) {
	dir := testutil.TempDir(t)
	cfg := chainConfig(t, dir)
	require.NoError(t, os.WriteFile(cfg.Evidence.StateFile, []byte("{not json"), 0o600))
	first := verifyLines(t, chainRun(t, cfg, 1, 2), verify.Options{})
	require.True(t, first.OK())
	assert.Empty(t, first.Streams[0].Previous, "a bad state file names no previous stream")

	b, err := os.ReadFile(cfg.Evidence.StateFile)
	require.NoError(t, err)
	a := first.Streams[0]
	assert.Contains(t, string(b), `"stream":"`+a.ID+`"`)
	assert.Contains(t, string(b), `"seq":`+strconv.FormatUint(a.LastCheckpoint, 10))

	second := verifyLines(t, chainRun(t, cfg, 1, 2), verify.Options{})
	assert.Equal(t, a.ID, strings.Fields(second.Streams[0].Previous)[0])
}

// TestEvidenceSigningKeyNotEd25519: another kind of key is refused, naming
// the field and the kind.
func TestEvidenceSigningKeyNotEd25519(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	file := filepath.Join(testutil.TempDir(t), "ec.key")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.Evidence.SigningKeyFile = file
	err = cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "evidence::signing_key_file:")
	assert.Contains(t, err.Error(), "not Ed25519")
}

// TestEvidenceEndsWithItsPipeline: the collector may shut the logs pipeline
// (and its exporter) down while the metrics pipeline still holds the
// receiver: the stream's last records and final checkpoint are handed on
// when the logs handle shuts down, and nothing after, when the exporter may
// be gone (a file exporter then crashed the collector).
func TestEvidenceEndsWithItsPipeline(t *testing.T) {
	src := newFakeSource()
	f := newFactory(func(probe.Options) (source, error) { return src, nil })
	set := receivertest.NewNopSettings(metadata.Type)
	cfg := fakeConfig()
	msink, lsink := new(consumertest.MetricsSink), new(consumertest.LogsSink)
	m, err := f.CreateMetrics(context.Background(), set, cfg, msink)
	require.NoError(t, err)
	l, err := f.CreateLogs(context.Background(), set, cfg, lsink)
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, m.Start(context.Background(), host))
	require.NoError(t, l.Start(context.Background(), host))
	r := m.(*handle).r
	t.Cleanup(func() { assert.NoError(t, m.Shutdown(context.Background())) })

	src.push(sample("/end/before"))
	require.Eventually(t, func() bool { return r.delivered.Load() >= 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, l.Shutdown(context.Background()))
	got := verifyLines(t, sinkLines(t, lsink), verify.Options{})
	require.Len(t, got.Streams, 1, "the stream's records were handed on when the logs pipeline shut down")
	require.True(t, got.OK(), "the stream ended with its final checkpoint")
	assert.EqualValues(t, 1, got.Streams[0].Created)
	n := lsink.LogRecordCount()

	src.push(sample("/end/after"))
	require.Eventually(t, func() bool { return r.delivered.Load() >= 2 }, 10*time.Second, time.Millisecond)
	require.NoError(t, m.Shutdown(context.Background()))
	assert.Equal(t, n, lsink.LogRecordCount(), "nothing handed to the logs pipeline after it shut down")
	assert.EqualValues(t, 2, r.received.Load(), "the metrics pipeline kept the probe")
}

func sinkLines(t *testing.T, sink *consumertest.LogsSink) [][]byte {
	t.Helper()
	var lines [][]byte
	for _, ld := range sink.AllLogs() {
		b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		lines = append(lines, append(b, '\n'))
	}
	return lines
}

// TestEvidenceFormsChain: creation records with every mix of optional
// attributes, SPIFFE facts on, over several workloads, gaps and
// checkpoints: creation records are chained from the forms add made of
// their values (not read back; past chain.MaxFormShapes mixes, read back),
// and the verifier, which reads the records, finds every link.
func TestEvidenceFormsChain(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 6))
	t0 := time.Unix(1_800_000_000, 0)
	ev := newEvidence(EvidenceConfig{MaxRecordsPerSecond: 500, CheckpointInterval: time.Second}, metadata.DefaultLogsBuilderConfig(),
		receivertest.NewNopSettings(metadata.Type), t0.UnixNano(), goldenResource)
	ev.spiffe = true
	ev.counts = func() checkpointCounts { return checkpointCounts{1, map[string]uint64{"ring_buffer_full": 0}, nil} }
	ev.setKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize)))
	var lines [][]byte
	formed, created := 0, 0
	for batch := range 8 {
		now := t0.Add(time.Duration(batch) * time.Second)
		for i := range 300 + rng.IntN(600) { // over 500 a second: some shed, then a gap record
			e := &event.Event{TimeNs: uint64(batch*1e9 + i), CgroupID: uint64(rng.IntN(3)), TGID: rng.Uint32(), TID: rng.Uint32(),
				EUID: uint32(rng.IntN(2)), EGID: rng.Uint32(), RUID: uint32(rng.IntN(2)), Hook: event.HookTracepoint,
				Comm: []byte("c\xff" + strconv.Itoa(i)), Path: []byte("/d/f\xfe" + strconv.Itoa(i)), FSDev: rng.Uint64(),
				Op: event.Op(rng.IntN(4)), Flags: event.Flags(rng.Uint32()) & (event.FlagTruncated | event.FlagIOUring | event.FlagMknod)}
			if rng.IntN(2) == 0 {
				e.MountPath, e.MountID = []byte("/m"+strconv.Itoa(i)), rng.Uint32()
			}
			if rng.IntN(2) == 0 {
				e.Where = event.WhereOverlayUpper
			}
			var f identity.Facts
			if rng.IntN(2) == 0 {
				f.User, f.Executable = "u"+strconv.Itoa(i), "/bin/x"+strconv.Itoa(i)
			}
			f.SPIFFE.Status = []identity.SPIFFEStatus{"", identity.SPIFFEIssued, identity.SPIFFENotLookedUp}[rng.IntN(3)]
			if f.SPIFFE.Status == identity.SPIFFEIssued {
				f.SPIFFE.IDs = []string{"spiffe://a/x", "spiffe://a/y", "spiffe://a/z"}[:1+rng.IntN(3)]
				if rng.IntN(2) == 0 {
					f.SPIFFE.Hint = "h"
				}
			}
			ev.add(e, uint32(rng.IntN(4)), f, now.Add(time.Duration(i)*time.Microsecond))
		}
		formed += len(ev.formRefs)
		created += countCreated(ev)
		ld, ok := ev.take(batch == 7, now.Add(time.Second))
		require.True(t, ok)
		b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		lines = append(lines, append(b, '\n'))
	}
	require.Greater(t, formed, 1000, "chained from forms")
	require.Less(t, formed, created, "and from the records read back, past chain.MaxFormShapes")
	r := verifyLines(t, lines, verify.Options{})
	require.True(t, r.OK(), "every link of the formed records holds")
}

// countCreated is the creation records buffered.
func countCreated(ev *evidence) int {
	n := 0
	for _, g := range ev.groups {
		n += len(g.created)
	}
	return n
}

// TestEvidenceFormsFilteredGroup: a workload's records that the builder's
// resource filter drops (events_exclude) leave holes in the numbers, and
// the records kept still chain: their forms are found by number past the
// dropped ones.
func TestEvidenceFormsFilteredGroup(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	lbc := metadata.DefaultLogsBuilderConfig()
	lbc.ResourceAttributes.ContainerID.EventsExclude = []filter.Config{{Strict: "0123456789ab"}} // workload 1's
	ev := newEvidence(EvidenceConfig{CheckpointInterval: time.Hour}, lbc, receivertest.NewNopSettings(metadata.Type), t0.UnixNano(), goldenResource)
	ev.counts = func() checkpointCounts { return checkpointCounts{1, map[string]uint64{"ring_buffer_full": 0}, nil} }
	var lines [][]byte
	for batch := range 3 {
		for i := range 50 {
			e := &event.Event{TimeNs: uint64(i), TGID: 1, TID: 1, Hook: event.HookTracepoint, Comm: []byte("c"), Path: []byte("/p" + strconv.Itoa(i))}
			ev.add(e, uint32(i%3/2), identity.Facts{}, t0) // workloads 0, 0, 1, ...
		}
		ld, ok := ev.take(batch == 2, t0.Add(time.Duration(batch)*time.Second))
		require.True(t, ok)
		b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		lines = append(lines, append(b, '\n'))
	}
	r := verifyLines(t, lines, verify.Options{})
	require.Len(t, r.Streams, 1)
	s := r.Streams[0]
	assert.Zero(t, s.BreakCount, "the records kept chain")
	assert.Equal(t, uint64(3*16), s.Missing, "workload 1's records are missing")
	assert.Equal(t, uint64(3*34+2), s.Records, "workload 0's, the first and the final checkpoint")
}
