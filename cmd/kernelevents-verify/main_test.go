// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// stream is writeStream's stream of n creations and a final signed
// checkpoint, one record a line.
func stream(t testing.TB, key ed25519.PrivateKey, n int) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, writeStream(&buf, key, n, 1))
	return bytes.SplitAfter(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
}

func hexKey(key ed25519.PrivateKey) string {
	signer, _ := chain.Sign(key, chain.Hash{})
	return strings.TrimPrefix(signer, chain.SignerPrefix)
}

func TestRunExitStatus(t *testing.T) {
	dir := testutil.TempDir(t)
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	pubFile := filepath.Join(dir, "pub.pem")
	require.NoError(t, os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644))

	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	ca, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, pub, key)
	require.NoError(t, err)
	bundleFile := filepath.Join(dir, "bundle.pem")
	require.NoError(t, os.WriteFile(bundleFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca}), 0o644))

	lines := stream(t, key, 4)
	good := filepath.Join(dir, "good.jsonl")
	require.NoError(t, os.WriteFile(good, bytes.Join(lines, nil), 0o644))
	// Rotated files in any order: the last line first, in a file of its own.
	rotA, rotB := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	require.NoError(t, os.WriteFile(rotA, lines[4], 0o644))
	require.NoError(t, os.WriteFile(rotB, bytes.Join(lines[:4], nil), 0o644))
	// A resource without its keys: altered, not a crash.
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(lines[2])
	require.NoError(t, err)
	ld.ResourceLogs().At(0).Resource().Attributes().Remove(chain.AttrResourceKeys)
	noKeys, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	unkeyed := filepath.Join(dir, "unkeyed.jsonl")
	require.NoError(t, os.WriteFile(unkeyed, bytes.Join([][]byte{lines[0], lines[1], append(noKeys, '\n'), lines[3], lines[4]}, nil), 0o644))
	holed := filepath.Join(dir, "holed.jsonl")
	require.NoError(t, os.WriteFile(holed, bytes.Join(append(append([][]byte{}, lines[:2]...), lines[3:]...), nil), 0o644))

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"whole", []string{"-key", pubFile, good}, 0, "1 signed and valid"},
		{"rotated", []string{rotA, rotB}, 0, "OK"},
		{"stdin", []string{"-key", pubFile}, 0, "OK"},
		{"hole", []string{holed}, 1, "HOLE numbers 2 to 2 (1 records)"},
		{"resource keys removed", []string{unkeyed}, 1, "record 3 does not follow record 2"},
		{"missing file", []string{filepath.Join(dir, "absent")}, 2, ""},
		{"bad key", []string{"-key", good, good}, 2, ""},
		{"bad trust bundle", []string{"-trust-bundle", good, good}, 2, ""},
		// A trust bundle accepts SVID signatures only: a file key's is a break.
		{"file key under a trust bundle", []string{"-trust-bundle", bundleFile, good}, 1, "not by an SVID of the trust bundle"},
		{"bad flag", []string{"-nope"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, bytes.NewReader(bytes.Join(lines, nil)), &stdout, &stderr)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), tc.out)
		})
	}
}

// BenchmarkVerify: the verifier's rate on a stream of one-record lines
// (records/s), the worst case of the file exporter's format.
//
//	go test -run '^$' -bench BenchmarkVerify ./cmd/kernelevents-verify/
func BenchmarkVerify(b *testing.B) {
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(b, err)
	lines := bytes.Join(stream(b, key, 20000), nil)
	b.SetBytes(int64(len(lines)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var out bytes.Buffer
		if code := run(nil, bytes.NewReader(lines), &out, io.Discard); code != 0 {
			b.Fatalf("exit %d: %s", code, out.String())
		}
	}
	b.ReportMetric(float64(20001*b.N)/b.Elapsed().Seconds(), "records/s")
}

// writeStream writes a chained stream of n creation records and a final
// signed checkpoint, as chain.go defines it, as the receiver's batches are:
// perLine records a line (one ExportLogsServiceRequest), spread over four
// workloads' resources, so that a line's records are grouped by resource and
// not in the order of their numbers. It holds one line at a time.
func writeStream(w io.Writer, key ed25519.PrivateKey, n, perLine int) error {
	var h chain.Hasher
	var prev chain.Hash
	var m plog.JSONMarshaler
	for start := 0; start <= n; start += perLine {
		ld := plog.NewLogs()
		// the workloads' resources, made at their first record
		var lrs [4]plog.LogRecordSlice
		var sums [4]chain.Hash
		resource := func(r int) plog.LogRecordSlice {
			if lrs[r] == (plog.LogRecordSlice{}) {
				rl := ld.ResourceLogs().AppendEmpty()
				ra := rl.Resource().Attributes()
				ra.PutStr(chain.AttrStream, "node/0001")
				ra.PutStr("k8s.pod.name", "writer-"+strconv.Itoa(r))
				rk := ra.PutEmptySlice(chain.AttrResourceKeys)
				for _, k := range []string{"k8s.pod.name", chain.AttrResourceKeys, chain.AttrStream} {
					rk.AppendEmpty().SetStr(k)
				}
				lrs[r], sums[r] = rl.ScopeLogs().AppendEmpty().LogRecords(), h.ResourceSum(rl.Resource())
			}
			return lrs[r]
		}
		for i := start; i < start+perLine && i <= n; i++ {
			r := i % 4
			lr := resource(r).AppendEmpty()
			lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + 1000*int64(i)))
			lr.SetObservedTimestamp(lr.Timestamp() + 5000)
			a := lr.Attributes()
			a.PutInt(chain.AttrSeq, int64(i))
			a.PutStr(chain.AttrPrev, prev.String())
			if i < n {
				lr.SetEventName(chain.EventCreated)
				lr.Body().SetStr("/usr/bin/writer created /var/lib/app/data/file-" + strconv.Itoa(i) + " (pid 100, user app)")
				a.PutStr("file.path", "/var/lib/app/data/file-"+strconv.Itoa(i))
				a.PutStr("file.directory", "/var/lib/app/data")
				a.PutStr("process.executable.path", "/usr/bin/writer")
				a.PutInt("process.pid", 100)
				a.PutInt("process.user.id", 1000)
				a.PutStr("kernelevents.hook", "tracepoint")
			} else {
				lr.SetEventName(chain.EventCheckpoint)
				a.PutInt(chain.AttrCreated, int64(n))
				a.PutBool(chain.AttrFinal, true)
				a.PutStr(chain.AttrSigner, chain.SignerPrefix+hexKey(key))
			}
			prev = h.Sum(lr, sums[r])
			if i == n {
				_, sig := chain.Sign(key, prev)
				a.PutStr(chain.AttrSignature, sig)
			}
		}
		b, err := m.MarshalLogs(ld)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkVerifyMemory: the verifier's memory does not grow with its
// input. A stream of 100,000, 1,000,000 and 3,000,000 records (the receiver's
// batch shape: four workloads' resources a line, 1,000 records a line, and
// the worst case of one record a line) is written through a pipe as the
// verifier reads it; reported: the largest Go heap seen (sampled every
// 5 ms, the writer's one line included) and the records verified per second.
//
//	go test -run '^$' -bench BenchmarkVerifyMemory -benchtime 1x ./cmd/kernelevents-verify/
func BenchmarkVerifyMemory(b *testing.B) {
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(b, err)
	for _, perLine := range []int{1000, 1} {
		sizes := []int{100_000, 1_000_000, 3_000_000}
		if perLine == 1 {
			sizes = sizes[:2] // 3,000,000 one-record lines take 90 s
		}
		for _, n := range sizes {
			b.Run(fmt.Sprintf("records=%d/per-line=%d", n, perLine), func(b *testing.B) {
				for b.Loop() {
					runtime.GC()
					peak := watchHeap()
					pr, pw := io.Pipe()
					go func() { pw.CloseWithError(writeStream(pw, key, n, perLine)) }()
					var out bytes.Buffer
					if code := run([]string{"-"}, pr, &out, io.Discard); code != 0 {
						b.Fatalf("exit %d: %s", code, out.String())
					}
					require.Contains(b, out.String(), fmt.Sprintf("%d creations", n))
					b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
				}
				b.ReportMetric(float64(n+1)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// watchHeap samples the Go heap's live and unswept objects every 5 ms until
// the function it returns is called, which returns the largest seen.
func watchHeap() func() uint64 {
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); return <-done }
}
