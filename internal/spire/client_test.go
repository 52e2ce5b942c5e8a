// SPDX-License-Identifier: Apache-2.0

//go:build linux

package spire_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/internal/spire/spiretest"
)

const (
	webID   = "spiffe://" + spiretest.TrustDomain + "/web"
	batchID = "spiffe://" + spiretest.TrustDomain + "/batch"
	// uids: nobody has an entry, batchUID another, noEntryUID none.
	nobody     = 65534
	batchUID   = 4242
	noEntryUID = 4343
)

// waitLookup asks until the answer for pid has status want (the agent
// learns entries from the server on its own sync schedule, about every 5s).
func waitLookup(t *testing.T, c *spire.Client, pid int, want identity.SPIFFEStatus) identity.SPIFFEAnswer {
	t.Helper()
	var a identity.SPIFFEAnswer
	require.Eventually(t, func() bool {
		a = c.Lookup(uint32(pid))
		return a.Status == want
	}, 60*time.Second, 100*time.Millisecond, "pid %d never %s: last %+v", pid, want, a)
	return a
}

// TestDelegatedIdentityWithRealSPIRE runs SPIRE v1.13.3 (server and agent
// on loopback and unix sockets) and proves each outcome against it: the
// collector refused until it has an entry naming an authorized delegate;
// each uid's process gets exactly the ID registered for it, with its hint;
// a process with no entry gets no_entry; a deleted entry stops being issued;
// a stopped agent answers agent_unavailable within the timeout, and then at
// once (no stall per lookup).
func TestDelegatedIdentityWithRealSPIRE(t *testing.T) {
	s := spiretest.Start(t)
	const timeout = 10 * time.Second
	c, err := spire.New(spire.Options{Socket: s.AdminSocket, Timeout: timeout, RetryInterval: 200 * time.Millisecond, CacheTTL: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })

	// The collector (this test, uid 0) has no entry yet: not a delegate.
	err = c.Check()
	require.Error(t, err)
	assert.Contains(t, err.Error(), string(identity.SPIFFENotAuthorized))
	assert.Equal(t, identity.SPIFFENotAuthorized, c.Lookup(uint32(os.Getpid())).Status)

	webEntry := s.CreateEntry(webID, "web-hint", "unix:uid:"+spiretest.Itoa(nobody))
	s.CreateEntry(batchID, "", "unix:uid:"+spiretest.Itoa(batchUID))
	s.CreateEntry(spiretest.CollectorID, "", "unix:uid:0")
	require.Eventually(t, func() bool { return c.Check() == nil }, 60*time.Second, 100*time.Millisecond, "collector never authorized")

	web := spiretest.Sleeper(t, nobody, nobody)
	batch := spiretest.Sleeper(t, batchUID, batchUID)
	none := spiretest.Sleeper(t, noEntryUID, noEntryUID)

	a := waitLookup(t, c, web, identity.SPIFFEIssued)
	assert.Equal(t, []string{webID}, a.IDs)
	assert.Equal(t, "web-hint", a.Hint)
	// Cached no longer than CacheTTL, and never past the SVID.
	assert.WithinDuration(t, time.Now().Add(time.Second), a.Expires, 2*time.Second)

	a = waitLookup(t, c, batch, identity.SPIFFEIssued)
	assert.Equal(t, []string{batchID}, a.IDs)
	assert.Empty(t, a.Hint)

	a = c.Lookup(uint32(none))
	assert.Equal(t, identity.SPIFFENoEntry, a.Status, "%+v", a)
	assert.Empty(t, a.IDs)

	// By selectors (for a process gone before its lookup): the entries
	// the selectors satisfy.
	a = c.LookupSelectors([]string{"unix:uid:" + spiretest.Itoa(nobody), "unix:gid:" + spiretest.Itoa(nobody)})
	assert.Equal(t, identity.SPIFFEIssued, a.Status, "%+v", a)
	assert.Equal(t, []string{webID}, a.IDs)
	a = c.LookupSelectors([]string{"unix:uid:" + spiretest.Itoa(noEntryUID), "unix:gid:" + spiretest.Itoa(noEntryUID)})
	assert.Equal(t, identity.SPIFFENoEntry, a.Status, "%+v", a)

	// Deleting the entry: the agent stops issuing it (after its next sync).
	s.DeleteEntry(webEntry)
	waitLookup(t, c, web, identity.SPIFFENoEntry)
	assert.Equal(t, []string{batchID}, c.Lookup(uint32(batch)).IDs)

	// A stopped agent: an answer within the timeout, then at once.
	s.StopAgent()
	start := time.Now()
	a = c.Lookup(uint32(batch))
	assert.Equal(t, identity.SPIFFEAgentUnavailable, a.Status)
	assert.Less(t, time.Since(start), timeout, "the lookup waited past its timeout")
	a = c.Lookup(uint32(batch))
	assert.Equal(t, identity.SPIFFEAgentUnavailable, a.Status)
	assert.False(t, a.Expires.IsZero(), "a failure must be retried, not cached for good")
}

// BenchmarkDelegatedLookup measures one question to a real agent about a
// process it issued an SVID to (not in make test: go test -bench).
func BenchmarkDelegatedLookup(b *testing.B) {
	s := spiretest.Start(b)
	s.CreateEntry(webID, "", "unix:uid:"+spiretest.Itoa(nobody))
	s.CreateEntry(spiretest.CollectorID, "", "unix:uid:0")
	c, err := spire.New(spire.Options{Socket: s.AdminSocket, Timeout: 10 * time.Second})
	require.NoError(b, err)
	defer c.Close()
	require.Eventually(b, func() bool { return c.Check() == nil }, 60*time.Second, 100*time.Millisecond)
	web := spiretest.Sleeper(b, nobody, nobody)
	require.Eventually(b, func() bool { return c.Lookup(uint32(web)).Status == identity.SPIFFEIssued }, 60*time.Second, 100*time.Millisecond)
	b.ResetTimer()
	for range b.N {
		if a := c.Lookup(uint32(web)); a.Status != identity.SPIFFEIssued {
			b.Fatalf("lookup: %+v", a)
		}
	}
}
