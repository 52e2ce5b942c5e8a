// SPDX-License-Identifier: Apache-2.0

//go:build linux

package e2etest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// promLabel is v as the Prometheus text format writes a label value.
func promLabel(name, v string) string {
	v = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
	return name + `="` + v + `"`
}

// TestCollectorPublishesNamesThatAreNotUTF8: a task that renamed itself
// "\xff\xfe..." creates a file in a directory whose name is not UTF-8 either,
// next to a plain creation. The real Prometheus exporter publishes both
// series, the hostile one with its bytes escaped (event.Label); before, the
// raw bytes reached the exporter and the series never appeared in /metrics.
// It also checks that every loss reason is in /metrics.
func TestCollectorPublishesNamesThatAreNotUTF8(t *testing.T) {
	dir := testutil.TempDir(t)
	const comm, sub = "\xff\xfeevil", "bad\xff\xfe"
	require.NoError(t, os.Mkdir(filepath.Join(dir, sub), 0o755))
	c := startCollector(t, "e2e-collector.yaml", dir)

	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{
		{Kind: testutil.OpComm, Path: testutil.Raw(comm)},
		{Kind: testutil.OpOpenat, Path: testutil.Raw(sub + "/f")},
	}})
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "plain"}}})

	hostile := []string{
		promLabel("kernelevents_directory_prefix", event.Label(filepath.Join(dir, sub))),
		promLabel("kernelevents_process_comm", event.Label(comm)),
	}
	var text string
	require.Eventually(t, func() bool {
		text, _ = scrapeProm(c.url)
		v, ok := promValue(text, "kernel_file_creations_total", hostile...)
		_, plain := promValue(text, "kernel_file_creations_total", promLabel("kernelevents_directory_prefix", dir), `kernelevents_process_comm="kechild"`)
		return ok && v == 1 && plain
	}, 30*time.Second, 200*time.Millisecond, "the series of the hostile names never reached /metrics (want labels %v)", hostile)
	t.Logf("scraped:\n%s", grep(text, "kernel_file_creations_total"))

	for _, reason := range []string{probe.LostRingBufferFull, "malformed", probe.LostFDRace, probe.LostIOURingUnobserved,
		probe.LostInflightTableFull, probe.LostScratchBusy, probe.LostCoreDumpUnobserved, probe.LostIOURingInstallFailed, probe.LostNameUnresolved, probe.LostKprobeMissed, probe.LostProgramRecursion} {
		_, ok := promValue(text, "kernel_events_lost_total", `kernelevents_lost_reason="`+reason+`"`)
		assert.True(t, ok, "kernel_events_lost_total{reason=%q} is in /metrics", reason)
	}
	t.Logf("lost:\n%s", grep(text, "kernel_events_lost_total"))
}
