// SPDX-License-Identifier: Apache-2.0

//go:build linux

package e2etest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
