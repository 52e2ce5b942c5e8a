// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// Names any program can give itself or its files: not UTF-8.
const (
	hostileComm = "\xff\xfeevil\\x"
	hostileDir  = "bad\xff\xfe\xc3"
	hostileCg   = "cg\xff\xfe"
)

// TestLabelsAreUTF8: a task whose comm is not UTF-8 (it renamed itself) and a
// directory whose name is not UTF-8, in a cgroup whose name is not either,
// create files; every attribute the receiver emits, on the data points, the
// resource and the evidence records, is valid UTF-8 and decodes back to the
// kernel's bytes (event.Unlabel). Before the labels, the raw bytes went out
// and the Prometheus exporter refused the series (see the end-to-end test).
func TestLabelsAreUTF8(t *testing.T) {
	dir := testutil.TempDir(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, hostileDir), 0o755))
	cg, cgPath := testutil.MakeCgroup(t, hostileCg)
	cfg := testConfig(dir)
	cfg.Evidence.FlushInterval = 100 * time.Millisecond
	cfg.Metrics.KernelFileCreations.EnabledAttributes = append(cfg.Metrics.KernelFileCreations.EnabledAttributes,
		metadata.KernelFileCreationsMetricAttributeKeyFilePath)
	msink, lsink, stop := startBoth(t, cfg)

	child := testutil.StartHeld(t, testutil.ChildSpec{Dir: dir, Cgroup: testutil.Raw(cg), Ops: []testutil.Op{
		{Kind: testutil.OpComm, Path: testutil.Raw(hostileComm)},
		{Kind: testutil.OpOpenat, Path: testutil.Raw(hostileDir + "/f\xff")},
	}}) // alive for the /proc lookup, until its record is there
	require.Eventually(t, func() bool { return len(records(lsink)) >= 1 }, 10*time.Second, 50*time.Millisecond)
	waitTotal(t, msink, 1)
	child.Release(t)
	stop()

	unlabel := func(v any) string {
		s, ok := v.(string)
		require.True(t, ok, "%v is a string", v)
		require.True(t, utf8.ValidString(s), "%q is not UTF-8", s)
		raw, ok := event.Unlabel(s)
		require.True(t, ok, "%q is a label", s)
		return raw
	}
	var pts []point
	for _, p := range lastBatch(msink)["kernel.file.creations"] {
		if p.value > 0 {
			pts = append(pts, p)
		}
	}
	require.Len(t, pts, 1)
	for k, v := range pts[0].attrs {
		if s, ok := v.(string); ok {
			assert.True(t, utf8.ValidString(s), "data point attribute %s = %q is not UTF-8", k, s)
		}
	}
	assert.Equal(t, hostileComm, unlabel(pts[0].attrs["kernelevents.process.comm"]))
	assert.Equal(t, filepath.Join(dir, hostileDir), unlabel(pts[0].attrs["kernelevents.directory.prefix"]))
	assert.Equal(t, filepath.Join(dir, hostileDir, "f\xff"), unlabel(pts[0].attrs["file.path"]))
	assert.Equal(t, `\xff\xfeevil\\x`, pts[0].attrs["kernelevents.process.comm"], "the escaping is the documented one")

	for _, md := range msink.AllMetrics() {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			for k, v := range rms.At(i).Resource().Attributes().AsRaw() {
				if s, ok := v.(string); ok {
					assert.True(t, utf8.ValidString(s), "resource attribute %s = %q is not UTF-8", k, s)
				}
			}
		}
	}
	assert.Contains(t, creationsByResource(msink), "kernelevents.cgroup.path="+event.Label(cgPath)+",kernelevents.identity.rule=unmatched")

	rs := records(lsink)
	require.Len(t, rs, 1)
	for k, v := range rs[0].attrs {
		if s, ok := v.(string); ok {
			assert.True(t, utf8.ValidString(s), "evidence attribute %s = %q is not UTF-8", k, s)
		}
	}
	assert.True(t, utf8.ValidString(rs[0].body), "evidence body %q is not UTF-8", rs[0].body)
	assert.Equal(t, hostileComm, unlabel(rs[0].attrs["kernelevents.process.comm"]))
	assert.Equal(t, filepath.Join(dir, hostileDir, "f\xff"), unlabel(rs[0].attrs["file.path"]))
	assert.Equal(t, event.Label(cgPath), rs[0].attrs["resource.kernelevents.cgroup.path"])
}
