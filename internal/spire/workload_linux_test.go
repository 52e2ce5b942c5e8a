// SPDX-License-Identifier: Apache-2.0

//go:build linux

package spire_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/internal/spire/spiretest"
)

// otherBundle is a trust bundle of a CA that issued nothing here.
func otherBundle(t *testing.T) []byte {
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

// TestWorkloadSVIDSignsCheckpoints: a real SPIRE agent's Workload API issues
// this process (uid 0) the collector's X.509 SVID; a checkpoint hash signed
// with its key verifies against the server's trust bundle and not against
// another; when the agent rotates the SVID (a 30 s TTL) the source follows,
// and the new SVID signs and verifies too.
func TestWorkloadSVIDSignsCheckpoints(t *testing.T) {
	s := spiretest.Start(t)
	s.CreateEntryTTL(spiretest.CollectorID, 30*time.Second, "unix:uid:0")
	src, err := spire.WatchSVID(s.WorkloadSocket, 100*time.Millisecond, func(err error) { t.Logf("workload API: %v", err) })
	require.NoError(t, err)
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svid, err := src.Wait(ctx)
	require.NoError(t, err, "agent log:\n%s", s.AgentLog())
	assert.Equal(t, spiretest.CollectorID, svid.ID)
	_, ecdsaKey := svid.Key.Public().(*ecdsa.PublicKey)
	assert.True(t, ecdsaKey, "SPIRE's default SVID key is ECDSA P-256, got %T", svid.Key.Public())

	roots, err := chain.ReadTrustBundle(s.TrustBundle())
	require.NoError(t, err)
	wrong, err := chain.ReadTrustBundle(otherBundle(t))
	require.NoError(t, err)
	signAndCheck := func(svid *spire.SVID, h chain.Hash) {
		t.Helper()
		signer, certs := chain.SVIDSigner(svid.ID, svid.Chain)
		sig, err := chain.SignSVID(svid.Key, h)
		require.NoError(t, err)
		ck := chain.Signature{Signer: signer, Value: sig, Chain: certs, Time: time.Now()}
		require.NoError(t, chain.Verify(h, ck, chain.Trust{Roots: roots}))
		assert.ErrorContains(t, chain.Verify(h, ck, chain.Trust{Roots: wrong}), "not an SVID of the trust bundle")
		assert.ErrorContains(t, chain.Verify(chain.Hash{0xff}, ck, chain.Trust{Roots: roots}), "does not match")
	}
	signAndCheck(svid, chain.Hash{1, 2, 3})

	first := svid.Chain[0].SerialNumber
	require.Eventually(t, func() bool {
		return src.Current().Chain[0].SerialNumber.Cmp(first) != 0
	}, 90*time.Second, 200*time.Millisecond, "the agent never pushed a rotated SVID")
	rotated := src.Current()
	assert.True(t, rotated.Chain[0].NotAfter.After(svid.Chain[0].NotAfter))
	assert.GreaterOrEqual(t, src.Updates(), 2)
	signAndCheck(rotated, chain.Hash{4, 5, 6})
}

// TestWorkloadSVIDNoEntry: without an entry for the caller, Wait ends with
// the agent's refusal, not an SVID.
func TestWorkloadSVIDNoEntry(t *testing.T) {
	s := spiretest.Start(t)
	src, err := spire.WatchSVID(s.WorkloadSocket, 100*time.Millisecond, nil)
	require.NoError(t, err)
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = src.Wait(ctx)
	require.ErrorContains(t, err, "no identity issued")
	assert.Nil(t, src.Current())
}
