// SPDX-License-Identifier: Apache-2.0

//go:build linux

package e2etest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/evidence/verify"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/internal/spire/spiretest"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// createHeld creates name in dir from a child running as uid, which stays
// alive until it is released (the agent attests it by pid).
func createHeld(t *testing.T, dir, name string, uid uint32) *testutil.Held {
	t.Helper()
	return testutil.StartHeld(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: name}}}.AsUser(uid, uid))
}

// TestCollectorSpireIdentities: the ocb collector with identity::spire on a
// real SPIRE v1.13.3 agent serves, through Prometheus, the files created by
// uid 65534 and uid 4242 under exactly the SPIFFE IDs SPIRE registered for
// them; after the agent stops, a creation is still served, labelled
// agent_unavailable, and kernel_spiffe_lookups_total counts it.
func TestCollectorSpireIdentities(t *testing.T) {
	collectorPath(t)
	s := spiretest.Start(t)
	webID := "spiffe://" + spiretest.TrustDomain + "/web"
	batchID := "spiffe://" + spiretest.TrustDomain + "/batch"
	s.CreateEntry(webID, "", "unix:uid:65534")
	s.CreateEntry(batchID, "", "unix:uid:4242")
	s.CreateEntry(spiretest.CollectorID, "", "unix:uid:0")
	probe, err := spire.New(spire.Options{Socket: s.AdminSocket, Timeout: 10 * time.Second, RetryInterval: 100 * time.Millisecond})
	require.NoError(t, err)
	defer probe.Close()
	require.Eventually(t, func() bool { return probe.Check() == nil }, 60*time.Second, 100*time.Millisecond, "collector never authorized")

	dir := testutil.TempDir(t)
	require.NoError(t, os.Chmod(dir, 0o777))
	c := startCollector(t, "e2e-spire-collector.yaml", dir, withEnv("KE_SPIRE_ADMIN_SOCKET="+s.AdminSocket))

	waitSeries := func(labels ...string) string {
		t.Helper()
		labels = append(labels, fmt.Sprintf("kernelevents_directory_prefix=%q", dir))
		var text string
		require.Eventually(t, func() bool {
			text, _ = scrapeProm(c.url)
			v, ok := promValue(text, "kernel_file_creations_total", labels...)
			return ok && v == 1
		}, 60*time.Second, 200*time.Millisecond, "kernel_file_creations_total never counted 1 with %v", labels)
		return text
	}
	web := createHeld(t, dir, "web", 65534)
	batch := createHeld(t, dir, "batch", 4242)
	waitSeries(`process_user_id="65534"`, fmt.Sprintf("spiffe_id=%q", webID), `kernelevents_spiffe_status="issued"`)
	text := waitSeries(`process_user_id="4242"`, fmt.Sprintf("spiffe_id=%q", batchID), `kernelevents_spiffe_status="issued"`)
	web.Release(t)
	batch.Release(t)
	t.Logf("scraped:\n%s", grep(text, "kernel_file_creations_total"))

	s.StopAgent()
	afterStop := createHeld(t, dir, "after-stop", 4242)
	waitSeries(`process_user_id="4242"`, `kernelevents_spiffe_status="agent_unavailable"`)
	afterStop.Release(t)
	require.Eventually(t, func() bool {
		text, _ = scrapeProm(c.url)
		v, ok := promValue(text, "kernel_spiffe_lookups_total", fmt.Sprintf("kernelevents_spiffe_status=%q", identity.SPIFFEAgentUnavailable))
		return ok && v >= 1
	}, 30*time.Second, 200*time.Millisecond, "kernel_spiffe_lookups_total{agent_unavailable} never counted")
}

// TestCollectorEvidenceSignedBySVID: the ocb collector with
// evidence::signing_workload_socket on a real SPIRE agent signs its
// checkpoints with the X.509 SVID SPIRE issued to it (uid 0's entry); the
// stored stream verifies against the server's trust bundle, every
// checkpoint signed by the collector's SPIFFE ID, and fails against another
// bundle.
func TestCollectorEvidenceSignedBySVID(t *testing.T) {
	collectorPath(t)
	s := spiretest.Start(t)
	s.CreateEntry(spiretest.CollectorID, "", "unix:uid:0")
	// The agent has the entry once it issues this process (uid 0) the SVID.
	src, err := spire.WatchSVID(s.WorkloadSocket, 100*time.Millisecond, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = src.Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, src.Close())

	dir := testutil.TempDir(t)
	out := filepath.Join(testutil.TempDir(t), "evidence.jsonl")
	c := startCollector(t, "e2e-evidence-collector.yaml", dir, withEnv("KE_EVIDENCE_FILE="+out, "KE_EVIDENCE_SVID_SOCKET="+s.WorkloadSocket))
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{
		{Kind: testutil.OpOpenat, Path: "a"}, {Kind: testutil.OpOpenat, Path: "b"}, {Kind: testutil.OpOpenat, Path: "c"},
	}})
	require.Eventually(t, func() bool {
		paths, err := evidenceRecords(out)
		return err == nil && len(paths) == 3
	}, 30*time.Second, 200*time.Millisecond)
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-c.exited:
		require.NoError(t, err, "the collector exits 0 on SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("the collector did not exit within 30s of SIGTERM")
	}
	stored, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Contains(t, string(stored), chain.AttrSignerChain)

	roots, err := chain.ReadTrustBundle(s.TrustBundle())
	require.NoError(t, err)
	r, err := verify.Run(bytes.NewReader(stored), verify.Options{Roots: roots})
	require.NoError(t, err)
	var report strings.Builder
	r.Write(&report)
	t.Log(report.String())
	require.True(t, r.OK())
	require.Len(t, r.Streams, 1)
	st := r.Streams[0]
	assert.True(t, st.Final)
	assert.Equal(t, uint64(3), st.Created)
	assert.NotZero(t, st.SignedValid)
	assert.Equal(t, st.Checkpoints, st.SignedValid)
	assert.Equal(t, []string{chain.SVIDSignerPrefix + spiretest.CollectorID}, st.Signers)

	// Another trust domain's bundle: every signature is refused.
	wrong, err := chain.ReadTrustBundle(otherCA(t))
	require.NoError(t, err)
	r, err = verify.Run(bytes.NewReader(stored), verify.Options{Roots: wrong})
	require.NoError(t, err)
	report.Reset()
	r.Write(&report)
	assert.False(t, r.OK(), report.String())
	assert.Zero(t, r.Streams[0].SignedValid)
	assert.Equal(t, r.Streams[0].Checkpoints, r.Streams[0].SignedBad)
	assert.Contains(t, report.String(), "not an SVID of the trust bundle")
}

// otherCA is a PEM trust bundle of a CA that issued nothing here.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another trust domain"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
