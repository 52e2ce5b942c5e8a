// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// The tests in this file run the receiver on a fakeSource: no root, no BPF.

// fakeRun is a started receiver reading a fake source.
type fakeRun struct {
	src   *fakeSource
	r     *kernelEventsReceiver
	msink *consumertest.MetricsSink
	lsink *consumertest.LogsSink
	opens int
	opts  probe.Options // what the receiver opened its source with
	stop  func()
}

// fakeConfig never ticks on its own: the tests emit and flush by hand.
func fakeConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.CollectionInterval = time.Hour
	cfg.Evidence.FlushInterval = time.Hour
	cfg.Identity.ReloadInterval = time.Hour
	cfg.FileDirectoryDepth = 2
	return cfg
}

// startFake starts cfg's receiver on a fake source in a metrics pipeline,
// and in a logs pipeline too when logs is set, with host (nil: a nop host).
func startFake(t testing.TB, cfg *Config, logs bool, host *statusHost) *fakeRun {
	t.Helper()
	run := &fakeRun{lsink: new(consumertest.LogsSink)}
	var lc consumer.Logs
	if logs {
		lc = run.lsink
	}
	return run.start(t, cfg, lc, host)
}

// start starts cfg's receiver on a new fake source in a metrics pipeline,
// and in a logs pipeline ending at lc unless lc is nil.
func (run *fakeRun) start(t testing.TB, cfg *Config, lc consumer.Logs, host *statusHost) *fakeRun {
	t.Helper()
	run.src, run.msink = newFakeSource(), new(consumertest.MetricsSink)
	f := newFactory(func(o probe.Options) (source, error) { run.opens++; run.opts = o; return run.src, nil })
	set := receivertest.NewNopSettings(metadata.Type)
	m, err := f.CreateMetrics(context.Background(), set, cfg, run.msink)
	require.NoError(t, err)
	comps := []component.Component{m}
	if lc != nil {
		l, err := f.CreateLogs(context.Background(), set, cfg, lc)
		require.NoError(t, err)
		require.Same(t, m.(*handle).r, l.(*handle).r, "one receiver id shares one instance")
		comps = append(comps, l)
	}
	h := componenttest.NewNopHost()
	if host != nil {
		host.Host = h
		h = host
	}
	for _, c := range comps {
		require.NoError(t, c.Start(context.Background(), h))
	}
	run.r = m.(*handle).r
	stopped := false
	run.stop = func() {
		if stopped {
			return
		}
		stopped = true
		for _, c := range comps {
			require.NoError(t, c.Shutdown(context.Background()))
		}
	}
	t.Cleanup(run.stop)
	return run
}

// waitDelivered waits until n samples went through identity to the table
// and the evidence buffer.
func (run *fakeRun) waitDelivered(t testing.TB, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return run.r.delivered.Load() >= n }, 10*time.Second, time.Millisecond,
		"samples delivered: %d of %d", run.r.delivered.Load(), n)
}

// emit runs one collection now, as the ticker does.
func (run *fakeRun) emit(t *testing.T) map[string][]point {
	t.Helper()
	lost, err := run.src.LostByReason()
	require.NoError(t, err)
	byCg, err := run.src.LostByCgroup()
	require.NoError(t, err)
	run.r.emit(context.Background(), losses{lost, byCg})
	return lastBatch(run.msink)
}

// sample is a creation by a process that is not there (pid 0 is never a
// user process): its workload is the unmatched one.
func sample(path string) *event.Event {
	return &event.Event{TimeNs: 1, TGID: 0x7ffffff0, TID: 0x7ffffff0, EUID: 1000, EGID: 1000, RUID: 1000, RGID: 1000,
		Hook: event.HookTracepoint, Comm: []byte("writer"), Path: []byte(path)}
}

// selfSample is a creation by this test process, with the start time,
// executable and cgroup id the kernel would have written: identity resolves
// it from /proc/self.
func selfSample(t testing.TB, path string) *event.Event {
	t.Helper()
	stat, err := os.ReadFile("/proc/self/stat")
	require.NoError(t, err)
	fields := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+2:])
	ticks, err := strconv.ParseUint(string(fields[19]), 10, 64)
	require.NoError(t, err)
	var st unix.Stat_t
	require.NoError(t, unix.Stat("/proc/self/exe", &st))
	e := sample(path)
	e.TGID, e.TID = uint32(os.Getpid()), uint32(unix.Gettid())
	e.EUID, e.EGID = uint32(os.Geteuid()), uint32(os.Getegid())
	e.RUID, e.RGID = uint32(os.Getuid()), uint32(os.Getgid())
	e.StartNs = ticks * (1e9 / 100) // USER_HZ
	e.ExeDev, e.ExeIno = st.Dev, st.Ino
	e.CgroupID = selfCgroupID(t)
	return e
}

// selfCgroup returns this process's cgroup v2 path and its id (the
// kernfs handle, as bpf_get_current_cgroup_id reports it).
func selfCgroup(t testing.TB) (string, uint64) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			root := identity.CgroupV2Root()
			require.NotEmpty(t, root, "cgroup v2 mount")
			h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, filepath.Join(root, rel), 0)
			require.NoError(t, err)
			require.Len(t, h.Bytes(), 8)
			var id uint64
			for i, c := range h.Bytes() {
				id |= uint64(c) << (8 * i)
			}
			return rel, id
		}
	}
	t.Fatal("no cgroup v2 line in /proc/self/cgroup")
	return "", 0
}

func selfCgroupID(t testing.TB) uint64 {
	_, id := selfCgroup(t)
	return id
}

// creations returns kernel.file.creations points by directory prefix.
func creations(batch map[string][]point) map[string]point {
	out := map[string]point{}
	for _, p := range batch["kernel.file.creations"] {
		if _, ok := p.attrs["otel.metric.overflow"]; ok {
			out["overflow"] = p
			continue
		}
		out[p.attrs["kernelevents.directory.prefix"].(string)] = p
	}
	return out
}

// TestFakeEmit: samples become series by directory prefix, hook and comm;
// a sample the decoder refuses is counted as malformed, not dropped unseen;
// received counts every sample read.
func TestFakeEmit(t *testing.T) {
	run := startFake(t, fakeConfig(), false, nil)
	run.src.push(sample("/data/a/one"))
	run.src.push(sample("/data/a/b/two"))
	run.src.push(sample("/var/lib/x"))
	bad := event.Encode(sample("/bad"))
	bad[34] = 99 // unknown hook
	run.src.pushRaw(bad)
	run.src.pushRaw([]byte("short"))
	run.waitDelivered(t, 3)
	require.Eventually(t, func() bool { return run.r.malformed.Load() == 2 }, 10*time.Second, time.Millisecond)

	batch := run.emit(t)
	got := creations(batch)
	require.Len(t, got, 2, "%v", got)
	assert.EqualValues(t, 2, got["/data/a"].value)
	assert.EqualValues(t, 1, got["/var/lib"].value)
	assert.Equal(t, "tracepoint", got["/data/a"].attrs["kernelevents.hook"])
	assert.Equal(t, "writer", got["/data/a"].attrs["kernelevents.process.comm"])
	assert.EqualValues(t, 1000, got["/data/a"].attrs["process.user.id"])
	require.Len(t, batch["kernel.events.received"], 1)
	assert.EqualValues(t, 5, batch["kernel.events.received"][0].value+2, "received counts decoded samples; malformed ones separately")
	assert.Equal(t, int64(2), lostBy(batch)["malformed"])
	assert.EqualValues(t, 2, batch["kernel.series.active"][0].value)
	assert.Equal(t, uint64(1), run.r.emits.Load())
}

func lostBy(batch map[string][]point) map[string]int64 {
	out := map[string]int64{}
	for _, p := range batch["kernel.events.lost"] {
		out[p.attrs["kernelevents.lost.reason"].(string)] = p.value
	}
	return out
}

// TestFakeLostReasonsAllExported: every reason the source reports is
// exported under its name, and every reason is exported at zero before
// anything is lost (an alert relies on each series existing).
func TestFakeLostReasonsAllExported(t *testing.T) {
	reasons := []string{probe.LostRingBufferFull, probe.LostFDRace, probe.LostIOURingUnobserved,
		probe.LostInflightTableFull, probe.LostKprobeMissed, probe.LostProgramRecursion}
	for _, r := range reasons {
		require.Contains(t, metadata.MapAttributeKerneleventsLostReason, r, "probe reason %s is in metadata.yaml", r)
	}
	run := startFake(t, fakeConfig(), false, nil)
	zero := lostBy(run.emit(t))
	for name := range metadata.MapAttributeKerneleventsLostReason {
		assert.Contains(t, zero, name, "reason exported before any loss")
		assert.Zero(t, zero[name])
	}
	for i, r := range reasons {
		run.src.setLost(r, uint64(10+i))
	}
	got := lostBy(run.emit(t))
	for i, r := range reasons {
		assert.Equal(t, int64(10+i), got[r], r)
	}
}

// TestFakeSeriesOverflow: past max_series, creations go to one overflow
// series that carries only otel.metric.overflow=true; none is lost.
func TestFakeSeriesOverflow(t *testing.T) {
	cfg := fakeConfig()
	cfg.MaxSeries = 2
	run := startFake(t, cfg, false, nil)
	for i := range 7 {
		run.src.push(sample("/d" + strconv.Itoa(i) + "/x/f"))
	}
	run.waitDelivered(t, 7)
	batch := run.emit(t)
	got := creations(batch)
	require.Len(t, got, 3, "two series and the overflow one: %v", got)
	ov := got["overflow"]
	assert.Equal(t, map[string]any{"otel.metric.overflow": true}, ov.attrs)
	assert.EqualValues(t, 5, ov.value)
	assert.EqualValues(t, 5, batch["kernel.series.overflowed"][0].value)
	assert.EqualValues(t, 2, batch["kernel.series.active"][0].value, "the overflow series is not counted as active")
	var total int64
	for _, p := range got {
		total += p.value
	}
	assert.EqualValues(t, 7, total, "every creation is counted")
}

// resources returns the resource attributes of each kernel.file.creations
// point's resource in the newest batch, by directory prefix.
func resources(sink *consumertest.MetricsSink) map[string]map[string]any {
	all := sink.AllMetrics()
	out := map[string]map[string]any{}
	md := all[len(all)-1]
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		ms := rm.ScopeMetrics().At(0).Metrics()
		for k := 0; k < ms.Len(); k++ {
			if m := ms.At(k); m.Name() == "kernel.file.creations" && m.Type() == pmetric.MetricTypeSum {
				dps := m.Sum().DataPoints()
				for l := 0; l < dps.Len(); l++ {
					if d, ok := dps.At(l).Attributes().Get("kernelevents.directory.prefix"); ok {
						out[d.Str()] = rm.Resource().Attributes().AsRaw()
					}
				}
			}
		}
	}
	return out
}

// TestFakeIdentityRules: a sample of this process (its pid, start time,
// executable and cgroup id) gets the resource of the rule matching its
// executable and cgroup (both resolved from /proc/self and the cgroup
// mount); a sample naming this pid with another start time and executable
// (a reused pid) does not get this process's executable and stays
// unmatched.
func TestFakeIdentityRules(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	require.NoError(t, err)
	cg, _ := selfCgroup(t)
	cfg := fakeConfig()
	cfg.Identity.Rules = []identity.Rule{{
		Name:       "tests",
		Match:      identity.Match{Executable: exe, Cgroup: cg},
		Attributes: map[string]string{"service.name": "receiver-test"},
	}}
	run := startFake(t, cfg, false, nil)
	run.src.push(selfSample(t, "/self/a/f"))
	reused := selfSample(t, "/reused/a/f")
	reused.StartNs += 1e9
	reused.ExeIno ^= 1 << 40
	run.src.push(reused)
	run.waitDelivered(t, 2)
	run.emit(t)
	res := resources(run.msink)
	require.Contains(t, res, "/self/a")
	assert.Equal(t, "receiver-test", res["/self/a"]["service.name"])
	assert.Equal(t, "tests", res["/self/a"][identity.RuleAttribute])
	require.Contains(t, res, "/reused/a")
	assert.Equal(t, "unmatched", res["/reused/a"][identity.RuleAttribute])
	assert.NotContains(t, res["/reused/a"], "service.name")
}

// TestFakeRulesReload: a changed rules file is put in force; a bad one
// keeps the rules in force and reports a recoverable error until a good one
// replaces it.
func TestFakeRulesReload(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	require.NoError(t, err)
	file := filepath.Join(testutil.TempDir(t), "rules.yaml")
	write := func(service string) {
		require.NoError(t, os.WriteFile(file, []byte("rules:\n  - name: r\n    match: {executable: "+strconv.Quote(exe)+
			"}\n    attributes: {service.name: "+service+"}\n"), 0o600))
	}
	write("first")
	cfg := fakeConfig()
	cfg.Identity.RulesFile = file
	cfg.Identity.CacheTTL = time.Nanosecond // each sample looked up anew
	host := &statusHost{}
	run := startFake(t, cfg, false, host)

	run.src.push(selfSample(t, "/one/a/f"))
	run.waitDelivered(t, 1)
	run.emit(t)
	assert.Equal(t, "first", resources(run.msink)["/one/a"]["service.name"])

	write("second-version") // another size: another stamp
	run.r.rules.check()
	run.src.push(selfSample(t, "/two/a/f"))
	run.waitDelivered(t, 2)
	run.emit(t)
	assert.Equal(t, "second-version", resources(run.msink)["/two/a"]["service.name"])

	require.NoError(t, os.WriteFile(file, []byte("rules: [{name: x, match: {executable: \"[\"}}]\n"), 0o600))
	run.r.rules.check()
	run.src.push(selfSample(t, "/three/a/f"))
	run.waitDelivered(t, 3)
	run.emit(t)
	assert.Equal(t, "second-version", resources(run.msink)["/three/a"]["service.name"], "a bad file keeps the rules in force")
	require.NotEmpty(t, host.events)
	last := host.events[len(host.events)-1]
	assert.Equal(t, componentstatus.StatusRecoverableError, last.Status())
	assert.ErrorContains(t, last.Err(), "identity::rules_file")

	write("third")
	run.r.rules.check()
	assert.Equal(t, componentstatus.StatusOK, host.events[len(host.events)-1].Status())
}

// TestFakeEvidence: each sample is one record with its path and process;
// past max_records_per_second records are shed, counted in
// kernel.evidence.shed and in one gap record.
func TestFakeEvidence(t *testing.T) {
	cfg := fakeConfig()
	cfg.Evidence.MaxRecordsPerSecond = 2
	run := startFake(t, cfg, true, nil)
	for i := range 5 {
		run.src.push(sample("/ev/" + strconv.Itoa(i)))
	}
	run.waitDelivered(t, 5)
	assert.EqualValues(t, 3, run.emit(t)["kernel.evidence.shed"][0].value)
	run.r.flushLogs(context.Background(), true)
	recs := records(run.lsink)
	require.Len(t, recs, 3)
	var files []string
	for _, r := range recs {
		if r.name == "kernel.evidence.gap" {
			assert.EqualValues(t, 3, r.attrs["kernelevents.evidence.shed"])
			continue
		}
		assert.Equal(t, EventName, r.name)
		files = append(files, r.attrs["file.path"].(string))
		assert.EqualValues(t, 0x7ffffff0, r.attrs["process.pid"])
		assert.Equal(t, "writer", r.attrs["kernelevents.process.comm"])
		assert.Equal(t, "unmatched", r.attrs["resource."+identity.RuleAttribute])
	}
	assert.Len(t, files, 2)
}

// TestFakeSharedInstance: one receiver id in a metrics and a logs pipeline
// opens one source, which stays open until the last pipeline shuts down.
func TestFakeSharedInstance(t *testing.T) {
	run := startFake(t, fakeConfig(), true, nil)
	assert.Equal(t, 1, run.opens)
	run.stop()
	assert.Equal(t, []string{"drain", "lost", "close"}, run.src.history())
	assert.Zero(t, instances.Len(), "shared instances released")
}

// TestFakeShutdownOrder: Shutdown drains the source (every sample still in
// the ring is counted), then reads the lost counters (final only after the
// drain: the kretprobe miss counters are read as their links close), then
// closes it, and emits the last batch with both.
func TestFakeShutdownOrder(t *testing.T) {
	run := startFake(t, fakeConfig(), true, nil)
	run.src.onDrain = map[string]uint64{probe.LostKprobeMissed: 7}
	const n = 500
	for i := range n {
		run.src.push(sample("/late/x/" + strconv.Itoa(i)))
	}
	run.stop()
	assert.Equal(t, []string{"drain", "lost", "close"}, run.src.history())
	batch := lastBatch(run.msink)
	assert.EqualValues(t, n, batch["kernel.events.received"][0].value, "samples waiting in the ring at shutdown are counted")
	assert.EqualValues(t, n, creations(batch)["/late/x"].value)
	assert.Equal(t, int64(7), lostBy(batch)[probe.LostKprobeMissed], "lost counters read after the drain")
	assert.Equal(t, n, len(records(run.lsink)), "the buffered records are flushed")
}

// TestFakeReaderErrorReportsPermanent: a read error that is neither a
// malformed sample nor the end stops the reader and reports a permanent
// error naming the ring buffer; Shutdown still drains, reads the counters
// and closes.
func TestFakeReaderErrorReportsPermanent(t *testing.T) {
	host := &statusHost{}
	run := startFake(t, fakeConfig(), false, host)
	run.src.errs <- errors.New("consumer position out of range")
	require.Eventually(t, func() bool { return host.permanent() != nil }, 10*time.Second, time.Millisecond)
	assert.ErrorContains(t, host.permanent().Err(), "read ring buffer: consumer position out of range")
	run.stop()
	assert.Equal(t, []string{"drain", "lost", "close"}, run.src.history())
}

// TestFakeTickers: with short intervals the receiver works on its own: it
// checks the rules file every identity::reload_interval, hands a metrics
// batch on every collection_interval and the records on every
// evidence::flush_interval.
func TestFakeTickers(t *testing.T) {
	cfg := fakeConfig()
	cfg.CollectionInterval = 10 * time.Millisecond
	cfg.Evidence.FlushInterval = 10 * time.Millisecond
	cfg.Identity.RulesFile = filepath.Join(testutil.TempDir(t), "rules.yaml")
	require.NoError(t, os.WriteFile(cfg.Identity.RulesFile, []byte("rules: []\n"), 0o600))
	cfg.Identity.ReloadInterval = 10 * time.Millisecond
	run := startFake(t, cfg, true, nil)
	require.Eventually(t, func() bool { return run.r.rules.checked.Load() >= 2 }, 10*time.Second, time.Millisecond,
		"the rules file is checked every identity::reload_interval")
	run.src.push(sample("/tick/a/f"))
	run.waitDelivered(t, 1)
	e := run.r.emits.Load()
	require.Eventually(t, func() bool { return run.r.emits.Load() >= e+2 }, 10*time.Second, time.Millisecond, "the emit loop ran")
	assert.EqualValues(t, 1, creations(lastBatch(run.msink))["/tick/a"].value)
	require.Eventually(t, func() bool { return len(records(run.lsink)) == 1 }, 10*time.Second, time.Millisecond, "the logs loop flushed")
	assert.Equal(t, "/tick/a/f", records(run.lsink)[0].attrs["file.path"])
}

// TestFakeExcludeCgroups: filter::exclude_cgroups reaches the kernel source
// as the cgroups' v2 ids (this process's own cgroup, resolved without
// root); a path that is no cgroup fails Start naming the key and index.
func TestFakeExcludeCgroups(t *testing.T) {
	rel, id := selfCgroup(t)
	cfg := fakeConfig()
	cfg.Filter.ExcludeCgroups = []string{rel}
	run := startFake(t, cfg, false, nil)
	assert.Equal(t, []uint64{id}, run.opts.ExcludeCgroupIDs)

	cfg = fakeConfig()
	cfg.Filter.ExcludeCgroups = []string{rel, "/kernelevents-no-such-cgroup"}
	f := newFactory(func(probe.Options) (source, error) { return newFakeSource(), nil })
	m, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.MetricsSink))
	require.NoError(t, err)
	err = m.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "filter::exclude_cgroups[1]")
	require.NoError(t, m.Shutdown(context.Background()))
}

// TestFakeSpireUnreachable: with identity::spire on an admin socket nobody
// serves, a required agent fails Start naming the key and the outcome; an
// optional one reports a recoverable status, retries in the background
// until Shutdown, and each creation carries agent_unavailable on its record
// and its resource.
func TestFakeSpireUnreachable(t *testing.T) {
	socket := filepath.Join(testutil.TempDir(t), "absent.sock")
	cfg := fakeConfig()
	cfg.Identity.Spire = SpireConfig{AdminSocket: socket, Timeout: time.Second, CacheTTL: time.Second, RetryInterval: 10 * time.Millisecond, Required: true}
	f := newFactory(func(probe.Options) (source, error) { return newFakeSource(), nil })
	m, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.MetricsSink))
	require.NoError(t, err)
	err = m.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "identity::spire (required)")
	require.ErrorContains(t, err, string(identity.SPIFFEAgentUnavailable))
	require.NoError(t, m.Shutdown(context.Background()))

	cfg.Identity.Spire.Required = false
	host := &statusHost{}
	run := startFake(t, cfg, true, host)
	host.mu.Lock()
	var recoverable error
	for _, ev := range host.events {
		if ev.Status() == componentstatus.StatusRecoverableError {
			recoverable = ev.Err()
		}
	}
	host.mu.Unlock()
	require.ErrorContains(t, recoverable, "identity::spire")

	run.src.push(selfSample(t, "/spire/a/f"))
	run.waitDelivered(t, 1)
	run.r.flushLogs(context.Background(), false)
	got := spiffeOf(run.lsink, "/spire/a/f")
	assert.Equal(t, "agent_unavailable", got["kernelevents.spiffe.status"], "%v", got)
	assert.Equal(t, "agent_unavailable", got["resource.kernelevents.spiffe.status"], "%v", got)
	assert.NotContains(t, got, "spiffe.id")
}

// TestFakeFailedStartClosesWhatItOpened: a Start that fails after the
// source opened (here a rules file that does not load, after the resolver
// and the SPIRE client started) closes the source and stops the rest: the
// next Start opens a new source and runs.
func TestFakeFailedStartClosesWhatItOpened(t *testing.T) {
	dir := testutil.TempDir(t)
	cfg := fakeConfig()
	cfg.Identity.RulesFile = filepath.Join(dir, "rules.yaml")
	cfg.Identity.Spire = SpireConfig{AdminSocket: filepath.Join(dir, "absent.sock"), Timeout: time.Second, CacheTTL: time.Second, RetryInterval: time.Hour}
	var srcs []*fakeSource
	f := newFactory(func(probe.Options) (source, error) { s := newFakeSource(); srcs = append(srcs, s); return s, nil })
	m, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.MetricsSink))
	require.NoError(t, err)
	require.ErrorContains(t, m.Start(context.Background(), componenttest.NewNopHost()), "identity::rules_file")
	require.Len(t, srcs, 1)
	assert.Equal(t, []string{"close"}, srcs[0].calls, "the source is closed")
	r := m.(*handle).r
	assert.Nil(t, r.spire, "the SPIRE client is closed")
	_, _, answered := r.resolver.Lookup(&event.Event{TGID: 1}, time.Now())
	assert.True(t, answered, "the resolver is closed: it answers in the caller")

	require.NoError(t, os.WriteFile(cfg.Identity.RulesFile, []byte("rules: []\n"), 0o600))
	require.NoError(t, m.Start(context.Background(), componenttest.NewNopHost()))
	require.Len(t, srcs, 2)
	require.NoError(t, m.Shutdown(context.Background()))
	assert.Equal(t, []string{"drain", "lost", "close"}, srcs[1].calls)
}

// TestFakeRestartStartsNewSeries: one receiver started again counts from
// zero in new series (a later start time).
func TestFakeRestartStartsNewSeries(t *testing.T) {
	cfg := fakeConfig()
	src := newFakeSource()
	sink := new(consumertest.MetricsSink)
	f := newFactory(func(probe.Options) (source, error) { src = newFakeSource(); return src, nil })
	m, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	r := m.(*handle).r
	var starts []pcommon.Timestamp
	for i := range 2 {
		require.NoError(t, m.Start(context.Background(), componenttest.NewNopHost()))
		src.push(sample("/restart/" + strconv.Itoa(i) + "/f"))
		require.Eventually(t, func() bool { return r.delivered.Load() == uint64(i+1) }, 10*time.Second, time.Millisecond)
		require.NoError(t, m.Shutdown(context.Background()))
		ps := lastBatch(sink)["kernel.file.creations"]
		require.Len(t, ps, 1, "only the new series")
		assert.Equal(t, int64(1), ps[0].value, "a restarted receiver counts from zero")
		starts = append(starts, ps[0].start)
	}
	assert.Less(t, starts[0], starts[1], "a restarted receiver starts new series")
}

// TestFakeOptInAttributes: the opt-in attributes of kernel.file.creations
// (process.pid, file.path) are keys of the series when enabled.
func TestFakeOptInAttributes(t *testing.T) {
	cfg := fakeConfig()
	cfg.Metrics.KernelFileCreations.EnabledAttributes = append(cfg.Metrics.KernelFileCreations.EnabledAttributes,
		metadata.KernelFileCreationsMetricAttributeKeyProcessPid, metadata.KernelFileCreationsMetricAttributeKeyFilePath)
	run := startFake(t, cfg, false, nil)
	for _, tgid := range []uint32{100, 100, 200} {
		e := sample("/opt/a/f")
		e.TGID = tgid
		run.src.push(e)
	}
	run.waitDelivered(t, 3)
	byPID := map[any]int64{}
	for _, p := range run.emit(t)["kernel.file.creations"] {
		assert.Equal(t, "/opt/a/f", p.attrs["file.path"])
		byPID[p.attrs["process.pid"]] = p.value
	}
	assert.Equal(t, map[any]int64{int64(100): 2, int64(200): 1}, byPID)
}
