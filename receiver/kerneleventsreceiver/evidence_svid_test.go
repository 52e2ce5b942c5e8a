// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/evidence/verify"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// testSVID is an ECDSA P-256 SVID for id valid from notBefore for an hour,
// and the pool of the CA that issued it.
func testSVID(t *testing.T, id string, notBefore time.Time) (*spire.SVID, *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: notBefore.Add(-time.Hour), NotAfter: notBefore.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	require.NoError(t, err)
	ca, err = x509.ParseCertificate(der)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	u, err := url.Parse(id)
	require.NoError(t, err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: notBefore, NotAfter: notBefore.Add(time.Hour), URIs: []*url.URL{u},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err = x509.CreateCertificate(rand.Reader, leaf, ca, key.Public(), caKey)
	require.NoError(t, err)
	leaf, err = x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &spire.SVID{ID: id, Chain: []*x509.Certificate{leaf}, Key: key}, pool
}

// svidStream records n creations and a final checkpoint at now, signed
// with svid, and returns the stream as OTLP JSON lines.
func svidStream(t *testing.T, svid *spire.SVID, now time.Time, n int) [][]byte {
	t.Helper()
	ev := newEvidence(EvidenceConfig{CheckpointInterval: time.Hour, SigningWorkloadSocket: "/run/spire/agent.sock"}, metadata.DefaultLogsBuilderConfig(),
		receivertest.NewNopSettings(metadata.Type), 0, goldenResource)
	ev.counts = func() checkpointCounts {
		return checkpointCounts{uint64(n), map[string]uint64{"ring_buffer_full": 0}, nil}
	}
	ev.svid = func() *spire.SVID { return svid }
	e := &event.Event{TimeNs: 1, CgroupID: 77, TGID: 100, TID: 101, Hook: event.HookTracepoint, Comm: []byte("writer")}
	for i := range n {
		e.Path = []byte("/svid/" + string(rune('a'+i)))
		ev.add(e, 1, identity.Facts{}, now)
	}
	ld, ok := ev.take(true, now)
	require.True(t, ok)
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	return [][]byte{append(b, '\n')}
}

// TestEvidenceSignedBySVID: a checkpoint signed with an SVID names its
// SPIFFE ID and carries its chain, and verifies against the CA's pool; at a
// time the SVID is not valid the checkpoint is left unsigned, which the
// verifier reports under a trust bundle.
func TestEvidenceSignedBySVID(t *testing.T) {
	const id = "spiffe://example.org/kernelevents"
	now := time.Now()
	svid, roots := testSVID(t, id, now.Add(-time.Minute))
	lines := svidStream(t, svid, now, 3)
	r := verifyLines(t, lines, verify.Options{Roots: roots})
	require.True(t, r.OK())
	require.Len(t, r.Streams, 1)
	assert.Equal(t, uint64(1), r.Streams[0].SignedValid)
	assert.Equal(t, []string{chain.SVIDSignerPrefix + id}, r.Streams[0].Signers)

	_, otherRoots := testSVID(t, id, now.Add(-time.Minute))
	r = verifyLines(t, lines, verify.Options{Roots: otherRoots})
	assert.False(t, r.OK())
	assert.Equal(t, uint64(1), r.Streams[0].SignedBad)

	expired, roots := testSVID(t, id, now.Add(-2*time.Hour))
	r = verifyLines(t, svidStream(t, expired, now, 3), verify.Options{Roots: roots})
	assert.False(t, r.OK())
	assert.Equal(t, uint64(1), r.Streams[0].Unsigned)
	assert.Zero(t, r.Streams[0].SignedValid+r.Streams[0].SignedBad)
}
