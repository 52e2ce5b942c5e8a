// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/internal/spire/spiretest"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

const (
	spireWebID   = "spiffe://" + spiretest.TrustDomain + "/web"
	spireBatchID = "spiffe://" + spiretest.TrustDomain + "/batch"
	// uids of the workloads: nobody and batchUID have entries, noEntryUID
	// none.
	batchUID   = 4242
	noEntryUID = 4343
)

// spireConfig is testConfig with identity::spire on the test agent.
func spireConfig(dir, socket string) *Config {
	cfg := testConfig(dir)
	cfg.Evidence.FlushInterval = 100 * time.Millisecond
	cfg.Identity.Spire = SpireConfig{AdminSocket: socket, Timeout: 10 * time.Second, CacheTTL: time.Second, RetryInterval: 200 * time.Millisecond, Required: true}
	return cfg
}

// holdChild runs a child as uid that creates name in dir and stays alive
// until it is released, so that the agent can attest it by pid.
func holdChild(t *testing.T, dir, name string, uid uint32) *testutil.Held {
	t.Helper()
	spec := testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: name}}}
	if uid != 0 {
		spec = spec.AsUser(uid, uid)
	}
	return testutil.StartHeld(t, spec)
}

// spiffeOf returns the SPIFFE attributes of the evidence record of path, or
// nil while there is none.
func spiffeOf(lsink *consumertest.LogsSink, path string) map[string]any {
	for _, r := range records(lsink) {
		if r.attrs["file.path"] != path {
			continue
		}
		out := map[string]any{}
		for k, v := range r.attrs {
			if strings.Contains(k, "spiffe") || strings.HasPrefix(k, "resource.team") || k == "resource.kernelevents.identity.rule" {
				out[k] = v
			}
		}
		return out
	}
	return nil
}

func waitSpiffe(t *testing.T, lsink *consumertest.LogsSink, path string) map[string]any {
	t.Helper()
	var got map[string]any
	require.Eventually(t, func() bool { got = spiffeOf(lsink, path); return got != nil }, 60*time.Second, 50*time.Millisecond, "no evidence record for %s", path)
	return got
}

// spireLookups returns kernel.spiffe.lookups by status in the newest batch.
func spireLookups(sink *consumertest.MetricsSink) map[string]int64 {
	out := map[string]int64{}
	for _, p := range lastBatch(sink)["kernel.spiffe.lookups"] {
		out[p.attrs["kernelevents.spiffe.status"].(string)] = p.value
	}
	return out
}

// TestSpireIdentitiesEndToEnd runs a real SPIRE (v1.13.3) server and agent
// and the receiver with identity::spire on the agent's admin socket: files
// created by processes of two uids carry exactly the SPIFFE IDs SPIRE issued
// to each (on the series' resource and on each evidence record), with the
// entry's hint; a rule matches on the SPIFFE ID; a uid with no entry gets
// no_entry; after the entry is deleted, a new process of that uid gets
// no_entry; after the agent stops, creations get agent_unavailable and are
// still delivered (no stall); kernel.spiffe.lookups counts each outcome.
func TestSpireIdentitiesEndToEnd(t *testing.T) {
	s := spiretest.Start(t)
	webEntry := s.CreateEntry(spireWebID, "web-hint", "unix:uid:65534")
	s.CreateEntry(spireBatchID, "", "unix:uid:"+spiretest.Itoa(batchUID))
	s.CreateEntry(spiretest.CollectorID, "", "unix:uid:0")
	probe, err := spire.New(spire.Options{Socket: s.AdminSocket, Timeout: 10 * time.Second, RetryInterval: 100 * time.Millisecond})
	require.NoError(t, err)
	defer probe.Close()
	// The agent learns entries on its sync (about every 5s): the
	// collector's, created last, means the others are there too.
	require.Eventually(t, func() bool { return probe.Check() == nil }, 60*time.Second, 100*time.Millisecond, "collector never authorized: %s", s.AgentLog)

	dir := testutil.TempDir(t)
	require.NoError(t, os.Chmod(dir, 0o777))
	cfg := spireConfig(dir, s.AdminSocket)
	cfg.Identity.Rules = []identity.Rule{{Name: "batch", Match: identity.Match{SPIFFEID: "spiffe://" + spiretest.TrustDomain + "/bat*"}, Attributes: map[string]string{"team": "batch"}}}
	msink, lsink, stop := startBoth(t, cfg)

	web := holdChild(t, dir, "web1", 65534)
	batch := holdChild(t, dir, "batch1", batchUID)
	none := holdChild(t, dir, "none1", noEntryUID)
	assert.Equal(t, map[string]any{
		"spiffe.id": spireWebID, "kernelevents.spiffe.hint": "web-hint", "kernelevents.spiffe.status": "issued",
		"resource.spiffe.id": spireWebID, "resource.kernelevents.spiffe.hint": "web-hint", "resource.kernelevents.spiffe.status": "issued",
		"resource.kernelevents.identity.rule": "unmatched",
	}, waitSpiffe(t, lsink, filepath.Join(dir, "web1")))
	assert.Equal(t, map[string]any{
		"spiffe.id": spireBatchID, "kernelevents.spiffe.status": "issued",
		"resource.spiffe.id": spireBatchID, "resource.kernelevents.spiffe.status": "issued",
		"resource.kernelevents.identity.rule": "batch", "resource.team": "batch",
	}, waitSpiffe(t, lsink, filepath.Join(dir, "batch1")))
	assert.Equal(t, map[string]any{
		"kernelevents.spiffe.status": "no_entry", "resource.kernelevents.spiffe.status": "no_entry",
		"resource.kernelevents.identity.rule": "unmatched",
	}, waitSpiffe(t, lsink, filepath.Join(dir, "none1")))
	web.Release(t)
	batch.Release(t)
	none.Release(t)

	// A creator that exits at once (as touch does) is looked up by pid
	// if still there, else by the uid and gid its sample proves: the same
	// ID either way.
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "web-short"}}}.AsUser(65534, 65534))
	short := waitSpiffe(t, lsink, filepath.Join(dir, "web-short"))
	assert.Equal(t, spireWebID, short["spiffe.id"], "%v", short)
	assert.Contains(t, []any{"issued", "issued_by_uid"}, short["kernelevents.spiffe.status"])
	t.Logf("the short-lived creator: %v", short["kernelevents.spiffe.status"])

	// The series carry the same resources.
	got := map[string]int64{}
	require.Eventually(t, func() bool {
		got = map[string]int64{}
		for k, v := range creationsByResource(msink) {
			got[withoutCgroup(k)] += v
		}
		var total int64
		for _, v := range got {
			total += v
		}
		return total == 4
	}, 20*time.Second, 50*time.Millisecond, "creations: %v", got)
	// web-short: under the issued or the issued_by_uid resource.
	shortKey := "kernelevents.identity.rule=unmatched,kernelevents.spiffe.hint=web-hint,kernelevents.spiffe.status=issued_by_uid,spiffe.id=" + spireWebID
	if got[shortKey] == 1 {
		delete(got, shortKey)
	} else {
		got["kernelevents.identity.rule=unmatched,kernelevents.spiffe.hint=web-hint,kernelevents.spiffe.status=issued,spiffe.id="+spireWebID]--
	}
	assert.Equal(t, map[string]int64{
		"kernelevents.identity.rule=unmatched,kernelevents.spiffe.hint=web-hint,kernelevents.spiffe.status=issued,spiffe.id=" + spireWebID: 1,
		"kernelevents.identity.rule=batch,kernelevents.spiffe.status=issued,spiffe.id=" + spireBatchID + ",team=batch":                     1,
		"kernelevents.identity.rule=unmatched,kernelevents.spiffe.status=no_entry":                                                         1,
	}, got)

	// Delete the web entry; once the agent has synced (a process of that
	// uid gets no_entry), a new web process's file carries no_entry.
	s.DeleteEntry(webEntry)
	sleeper := spiretest.Sleeper(t, 65534, 65534)
	require.Eventually(t, func() bool { return probe.Lookup(uint32(sleeper)).Status == identity.SPIFFENoEntry }, 60*time.Second, 100*time.Millisecond)
	web2 := holdChild(t, dir, "web2", 65534)
	assert.Equal(t, map[string]any{
		"kernelevents.spiffe.status": "no_entry", "resource.kernelevents.spiffe.status": "no_entry",
		"resource.kernelevents.identity.rule": "unmatched",
	}, waitSpiffe(t, lsink, filepath.Join(dir, "web2")))
	web2.Release(t)

	// Stop the agent: the next creation is delivered, marked
	// agent_unavailable.
	s.StopAgent()
	batch2 := holdChild(t, dir, "batch2", batchUID)
	assert.Equal(t, map[string]any{
		"kernelevents.spiffe.status": "agent_unavailable", "resource.kernelevents.spiffe.status": "agent_unavailable",
		"resource.kernelevents.identity.rule": "unmatched",
	}, waitSpiffe(t, lsink, filepath.Join(dir, "batch2")))
	batch2.Release(t)

	var lookups map[string]int64
	require.Eventually(t, func() bool {
		lookups = spireLookups(msink)
		return lookups["agent_unavailable"] >= 1
	}, 20*time.Second, 50*time.Millisecond)
	stop()
	assert.Len(t, lookups, len(identity.SPIFFEStatuses), "every outcome reported: %v", lookups)
	assert.GreaterOrEqual(t, lookups["issued"], int64(2))
	assert.GreaterOrEqual(t, lookups["no_entry"], int64(2))
}

// withoutCgroup drops kernelevents.cgroup.path from a creationsByResource
// key: the children run in the test's own cgroup, whatever it is.
func withoutCgroup(key string) string {
	var kept []string
	for _, kv := range strings.Split(key, ",") {
		if !strings.HasPrefix(kv, "kernelevents.cgroup.path=") {
			kept = append(kept, kv)
		}
	}
	sort.Strings(kept)
	return strings.Join(kept, ",")
}
