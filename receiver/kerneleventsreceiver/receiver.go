// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/aggregate"
	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// kernelEventsReceiver reads samples from the probe on one goroutine, counts
// them in the aggregation table (metrics pipeline) and buffers one evidence
// record each (logs pipeline), and emits both on other goroutines.
//
// One receiver id configured in a metrics and a logs pipeline shares one
// instance, so one probe is loaded: the factory hands each pipeline a handle,
// the first handle's Start starts it and the last handle's Shutdown stops it.
type kernelEventsReceiver struct {
	set     receiver.Settings
	cfg     *Config
	metrics consumer.Metrics // nil without a metrics pipeline
	logs    consumer.Logs    // nil without a logs pipeline
	obs     *receiverhelper.ObsReport

	started int // handles started; guarded by sharedMu
	handles int // handles created; guarded by sharedMu

	evidence *evidence
	logsDone chan struct{}

	probe    *probe.Probe
	table    *aggregate.Table
	resolver *identity.Resolver
	rules    *rulesWatcher
	mb       *metadata.MetricsBuilder
	host     component.Host

	cancel   context.CancelFunc
	readDone chan struct{}
	emitDone chan struct{}

	received  atomic.Uint64
	malformed atomic.Uint64
	lag       lagStats   // ring buffer → reader
	idLag     lagStats   // reader → identity known (table and evidence)
	emitMu    sync.Mutex // serializes emit between the ticker and Shutdown

	spire       *spire.Client // nil without identity::spire (spire.go)
	spireDone   chan struct{}
	spireCancel context.CancelFunc
}

var (
	sharedMu  sync.Mutex
	instances = map[*Config]*kernelEventsReceiver{}
)

// handle is what the factory returns for one pipeline.
type handle struct {
	r       *kernelEventsReceiver
	started bool
	closed  bool
}

var (
	_ receiver.Metrics = (*handle)(nil)
	_ receiver.Logs    = (*handle)(nil)
)

// instance returns the receiver shared by every pipeline of cfg (the
// collector passes the same *Config for one receiver id) and a new handle.
func instance(set receiver.Settings, cfg *Config) (*handle, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	r := instances[cfg]
	if r == nil {
		var err error
		if r, err = newReceiver(set, cfg); err != nil {
			return nil, err
		}
		instances[cfg] = r
	}
	r.handles++
	return &handle{r: r}, nil
}

// Start starts the shared receiver with the first handle.
func (h *handle) Start(ctx context.Context, host component.Host) error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if h.started {
		return nil
	}
	if h.r.started == 0 {
		if err := h.r.start(ctx, host); err != nil {
			return err
		}
	}
	h.r.started++
	h.started = true
	return nil
}

// Shutdown stops the shared receiver with the last started handle. It is
// safe without Start and more than once.
func (h *handle) Shutdown(ctx context.Context) error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	var err error
	if h.started {
		h.started = false
		if h.r.started--; h.r.started == 0 {
			err = h.r.shutdown(ctx)
		}
	}
	if !h.closed {
		h.closed = true
		if h.r.handles--; h.r.handles == 0 {
			delete(instances, h.r.cfg)
		}
	}
	return err
}

func newReceiver(set receiver.Settings, cfg *Config) (*kernelEventsReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "ebpf",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, fmt.Errorf("create obsreport: %w", err)
	}
	return &kernelEventsReceiver{set: set, cfg: cfg, obs: obs}, nil
}

// start loads and attaches the BPF programs, then starts the reader and the
// emitters. A hook that cannot attach fails Start with the reason.
func (r *kernelEventsReceiver) start(_ context.Context, host component.Host) error {
	opts := r.cfg.probeOptions()
	var err error
	if opts.ExcludeCgroupIDs, err = r.cfg.excludeCgroupIDs(identity.CgroupV2Root()); err != nil {
		return fmt.Errorf("start kernel_events receiver: %w", err)
	}
	p, err := probe.Open(opts)
	if err != nil {
		return fmt.Errorf("start kernel_events receiver: %w", err)
	}
	r.probe = p
	r.host = host
	r.set.Logger.Info("Attached kernel file-creation probe",
		zap.String("hook", string(p.Hook())),
		zap.String("requested_hook", r.cfg.Hook),
		zap.Strings("notes", p.Notes()))

	if len(r.cfg.Filter.ExcludeComms) > 0 {
		r.set.Logger.Warn("filter::exclude_comms is not a security boundary: any process can take an excluded name "+
			"(prctl PR_SET_NAME, or a copy of a binary named so) and the files it creates are then not counted",
			zap.Strings("exclude_comms", r.cfg.Filter.ExcludeComms))
	}
	configRules, err := identity.CompileRules("identity::rules", r.cfg.Identity.Rules)
	if err != nil {
		p.Close()
		return err
	}
	spiffe, err := r.startSpire()
	if err != nil {
		p.Close()
		return err
	}
	r.resolver = identity.NewResolver(identity.Options{
		SPIFFE:       spiffe,
		Rules:        configRules,
		Unmatched:    r.cfg.Identity.UnmatchedAttributes,
		CacheTTL:     r.cfg.Identity.CacheTTL,
		MaxWorkloads: r.cfg.Identity.MaxWorkloads,
		CgroupRoot:   r.cfg.Identity.CgroupRoot,
		HostRoot:     r.cfg.Identity.HostRoot,
		// Unreferenced workloads live two more collections: enough for a
		// sample between a workload's lookup and its series.
		Grace: 2 * r.cfg.CollectionInterval,
	})
	if err := r.resolver.CheckCgroupHandles(); err != nil {
		r.set.Logger.Warn("Cgroup paths come from /proc/<pid>/cgroup (checked by id) instead of by id: a process that exits before its lookup keeps only its cgroup id",
			zap.Error(err))
	}
	r.set.Logger.Info("Workload identity limits: past identity::max_workloads live workloads, creations go to the resource kernelevents.identity.overflow=true; alert on kernel.workloads.overflowed > 0",
		zap.Int("max_workloads", r.cfg.Identity.MaxWorkloads), zap.Duration("series_ttl", r.cfg.SeriesTTL))
	if r.cfg.Identity.RulesFile != "" {
		r.rules = newRulesWatcher(r.cfg.Identity.RulesFile, r.cfg.Identity.Rules, r.resolver, r.set.Logger, host)
		if err := r.rules.load(); err != nil {
			r.resolver.Close()
			r.stopSpire()
			p.Close()
			return fmt.Errorf("identity::rules_file: %w", err)
		}
	}
	r.table = aggregate.New(r.aggregateOptions())
	// A new builder per Start: a restarted receiver starts new series.
	r.mb = metadata.NewMetricsBuilder(r.cfg.MetricsBuilderConfig, r.set)

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.readDone = make(chan struct{})
	r.emitDone = make(chan struct{})
	if r.logs != nil {
		r.evidence = newEvidence(r.cfg.Evidence, probe.MonotonicOffset(), metadata.ScopeName, r.resource)
		r.evidence.spiffe = spiffe != nil
		r.logsDone = make(chan struct{})
		go r.logsLoop(ctx)
	}
	r.resolver.Start(r.deliver)
	go r.read()
	go r.emitLoop(ctx)
	if r.rules != nil {
		r.rules.start(ctx, r.cfg.Identity.ReloadInterval)
	}
	return nil
}

func (r *kernelEventsReceiver) aggregateOptions() aggregate.Options {
	enabled := r.cfg.Metrics.KernelFileCreations.EnabledAttributes
	has := func(k metadata.KernelFileCreationsMetricAttributeKey) bool { return slices.Contains(enabled, k) }
	depth := r.cfg.FileDirectoryDepth
	if !has(metadata.KernelFileCreationsMetricAttributeKeyKerneleventsDirectoryPrefix) {
		depth = 0
	}
	return aggregate.Options{
		DirectoryDepth: depth,
		MaxSeries:      r.cfg.MaxSeries,
		TTL:            r.cfg.SeriesTTL,
		Comm:           has(metadata.KernelFileCreationsMetricAttributeKeyKerneleventsProcessComm),
		UID:            has(metadata.KernelFileCreationsMetricAttributeKeyProcessUserID),
		Hook:           has(metadata.KernelFileCreationsMetricAttributeKeyKerneleventsHook),
		Path:           has(metadata.KernelFileCreationsMetricAttributeKeyFilePath),
		PID:            has(metadata.KernelFileCreationsMetricAttributeKeyProcessPid),
	}
}

// read drains the ring buffer until the probe is closed. It never waits for
// identity lookups: a sample whose creator is not cached is handed to the
// resolver's workers, which deliver it.
func (r *kernelEventsReceiver) read() {
	defer close(r.readDone)
	var e event.Event
	for {
		err := r.probe.Read(&e)
		switch {
		case err == nil:
			r.received.Add(1)
			now := time.Now()
			r.lag.observe(monotonicNs() - int64(e.TimeNs))
			if id, f, ok := r.resolver.Lookup(&e, now); ok {
				r.deliver(&e, id, f, now)
			}
		case errors.Is(err, event.ErrMalformed):
			r.malformed.Add(1)
		case errors.Is(err, probe.ErrDrained), errors.Is(err, os.ErrClosed):
			return
		default:
			err = fmt.Errorf("read ring buffer: %w", err)
			r.set.Logger.Error("Kernel events reader stopped", zap.Error(err))
			componentstatus.ReportStatus(r.host, componentstatus.NewPermanentErrorEvent(err))
			return
		}
	}
}

// deliver counts a sample whose workload is known, on the reader or a
// resolver worker.
func (r *kernelEventsReceiver) deliver(e *event.Event, id uint32, f *identity.Facts, receivedAt time.Time) {
	if r.metrics != nil {
		r.table.AddAs(e, id)
	}
	if r.evidence != nil {
		r.evidence.add(e, id, *f, receivedAt)
	}
	r.idLag.observe(int64(time.Since(receivedAt)))
}

func (r *kernelEventsReceiver) emitLoop(ctx context.Context) {
	defer close(r.emitDone)
	t := time.NewTicker(r.cfg.CollectionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if r.metrics == nil {
				r.resolver.Sweep(nil) // evidence only: no series hold workloads
				continue
			}
			lost, err := r.probe.LostByReason()
			if err != nil {
				r.set.Logger.Warn("Cannot read the kernel's lost-sample counter", zap.Error(err))
			}
			r.emit(ctx, lost)
		}
	}
}

// emit records every series and the receiver's own counters and hands them
// to the next consumer.
func (r *kernelEventsReceiver) emit(ctx context.Context, lost map[string]uint64) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	now := pcommon.NewTimestampFromTime(time.Now())
	mb := r.mb
	hook := probeHookAttr(r.probe.Hook())
	mb.RecordKernelEventsReceivedDataPoint(now, int64(r.received.Load()))
	// Every reason, zero or not, so that an alert can rely on each series.
	for _, name := range slices.Sorted(maps.Keys(metadata.MapAttributeKerneleventsLostReason)) {
		reason := metadata.MapAttributeKerneleventsLostReason[name]
		n := lost[name]
		if reason == metadata.AttributeKerneleventsLostReasonMalformed {
			n = r.malformed.Load()
		}
		mb.RecordKernelEventsLostDataPoint(now, int64(n), reason)
	}
	mb.RecordKernelProbeHookDataPoint(now, 1, hook)
	mb.RecordKernelSeriesActiveDataPoint(now, int64(r.table.Len()))
	overflow := r.table.Overflow()
	mb.RecordKernelSeriesOverflowedDataPoint(now, int64(overflow))
	if r.evidence != nil {
		mb.RecordKernelEvidenceShedDataPoint(now, int64(r.evidence.Shed()))
	}
	if overflow > 0 {
		mb.RecordKernelFileCreationsDataPoint(now, int64(overflow), "", "", hook, "", 0, 0,
			metadata.WithOtelMetricOverflowMetricAttribute(true))
	}

	// Series grouped by workload: each workload is one resource.
	type row struct {
		s         aggregate.Series
		dir, path string
	}
	groups := map[uint32][]row{}
	r.table.Range(func(s *aggregate.Series, dir, path string) {
		groups[s.Key.Workload] = append(groups[s.Key.Workload], row{*s, dir, path})
	})
	// Forget the workloads no series and no cached process refers to.
	live := make(map[uint32]bool, len(groups))
	for id := range groups {
		live[id] = true
	}
	r.resolver.Sweep(live)
	st := r.resolver.Stats()
	mb.RecordKernelWorkloadsActiveDataPoint(now, int64(st.Workloads))
	mb.RecordKernelWorkloadsOverflowedDataPoint(now, int64(st.Overflow))
	mb.RecordKernelIdentityUnresolvedDataPoint(now, int64(st.Unresolved))
	r.recordSpiffe(now)

	ids := make([]uint32, 0, len(groups)+1)
	ids = append(ids, 0) // the host resource carries the receiver's own metrics
	for id := range groups {
		if id != 0 {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		for _, rw := range groups[id] {
			h := hook
			if rw.s.Key.Hook != 0 {
				h = eventHookAttr(rw.s.Key.Hook)
			}
			mb.RecordKernelFileCreationsDataPoint(now, int64(rw.s.Count), rw.path, rw.dir, h,
				event.LabelBytes(event.CString(rw.s.Key.Comm[:])), int64(rw.s.Key.PID), int64(rw.s.Key.UID))
		}
		mb.EmitForResource(metadata.WithResource(r.resource(id)))
	}
	md := mb.Emit()
	onlyOverflowAttribute(md)

	ctx = r.obs.StartMetricsOp(ctx)
	err := r.metrics.ConsumeMetrics(ctx, md)
	r.obs.EndMetricsOp(ctx, metadata.Type.String(), md.DataPointCount(), err)
	if err != nil {
		r.set.Logger.Warn("Next consumer refused kernel_events metrics", zap.Error(err))
	}
}

// resource returns the resource of workload id: the attributes the resolver
// knows through the generated builder (so they can be turned off in config),
// the identity rule attributes as they are. Every value is a label
// (event.Label): paths, cgroup and user names come from the node and may not
// be UTF-8.
func (r *kernelEventsReceiver) resource(id uint32) pcommon.Resource {
	rb := r.mb.NewResourceBuilder()
	w := r.resolver.Workload(id)
	var extra []identity.KV
	for _, kv := range w.Attrs {
		switch kv.Key {
		case identity.AttrContainerID:
			rb.SetContainerID(event.Label(kv.Value))
		case identity.AttrPodUID:
			rb.SetK8sPodUID(event.Label(kv.Value))
		case identity.AttrCgroupPath:
			rb.SetKerneleventsCgroupPath(event.Label(kv.Value))
		case identity.AttrSPIFFEID:
			rb.SetSpiffeID(event.Label(kv.Value))
		case identity.AttrSPIFFEIDs:
			rb.SetKerneleventsSpiffeIds(event.Label(kv.Value))
		case identity.AttrSPIFFEHint:
			rb.SetKerneleventsSpiffeHint(event.Label(kv.Value))
		case identity.AttrSPIFFEStatus:
			rb.SetKerneleventsSpiffeStatus(kv.Value)
		default:
			extra = append(extra, kv)
		}
	}
	res := rb.Emit()
	for _, kv := range extra {
		res.Attributes().PutStr(event.Label(kv.Key), event.Label(kv.Value))
	}
	return res
}

// onlyOverflowAttribute leaves the overflow series with the single attribute
// otel.metric.overflow=true, as the OpenTelemetry SDKs do: the generated
// builder sets every attribute of a data point.
func onlyOverflowAttribute(md pmetric.Metrics) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != "kernel.file.creations" {
					continue
				}
				dps := m.Sum().DataPoints()
				for l := 0; l < dps.Len(); l++ {
					attrs := dps.At(l).Attributes()
					if _, ok := attrs.Get("otel.metric.overflow"); ok {
						attrs.RemoveIf(func(k string, _ pcommon.Value) bool { return k != "otel.metric.overflow" })
					}
				}
			}
		}
	}
}

// logsLoop hands buffered evidence records on every flush interval.
func (r *kernelEventsReceiver) logsLoop(ctx context.Context) {
	defer close(r.logsDone)
	t := time.NewTicker(r.cfg.Evidence.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.flushLogs(ctx, false)
		}
	}
}

func (r *kernelEventsReceiver) flushLogs(ctx context.Context, final bool) {
	ld, ok := r.evidence.take(final)
	if !ok {
		return
	}
	ctx = r.obs.StartLogsOp(ctx)
	err := r.logs.ConsumeLogs(ctx, ld)
	r.obs.EndLogsOp(ctx, metadata.Type.String(), ld.LogRecordCount(), err)
	if err != nil {
		r.set.Logger.Warn("Next consumer refused kernel_events evidence records", zap.Error(err), zap.Int("records", ld.LogRecordCount()))
	}
}

// shutdown stops the emitters, emits a last time, and detaches everything.
func (r *kernelEventsReceiver) shutdown(ctx context.Context) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	<-r.emitDone
	if r.logsDone != nil {
		<-r.logsDone
	}
	if r.rules != nil {
		r.rules.wait()
	}
	// Detach the programs and let the reader take every sample still in the
	// ring (with batched wakeups up to wakeup::bytes of them wait there):
	// each is counted as received, none is dropped unseen. Then read the
	// kernel's counters, final now, while the maps are still open, and
	// close the probe.
	drainErr := r.probe.Drain()
	if drainErr != nil {
		r.set.Logger.Warn("Draining the ring buffer at shutdown", zap.Error(drainErr))
	}
	<-r.readDone
	r.resolver.Close() // delivers the samples still waiting for a lookup
	r.stopSpire()      // after the resolver's workers, which ask it
	lost, lostErr := r.probe.LostByReason()
	if lostErr != nil {
		r.set.Logger.Warn("Cannot read the kernel's lost-sample counter", zap.Error(lostErr))
	}
	err := r.probe.Close()
	if r.metrics != nil {
		r.emit(ctx, lost)
	}
	if r.evidence != nil {
		r.flushLogs(ctx, true)
	}
	r.cancel = nil
	return err
}

func eventHookAttr(h event.Hook) metadata.AttributeKerneleventsHook {
	return metadata.MapAttributeKerneleventsHook[h.String()]
}

func probeHookAttr(h probe.Hook) metadata.AttributeKerneleventsHook {
	return metadata.MapAttributeKerneleventsHook[string(h)]
}

// lagStats keeps the largest and the mean of a delay, in nanoseconds.
type lagStats struct {
	max, sum, n atomic.Int64
}

func (l *lagStats) observe(ns int64) {
	l.sum.Add(ns)
	l.n.Add(1)
	for {
		m := l.max.Load()
		if ns <= m || l.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// snapshot returns the largest and the mean delay so far.
func (l *lagStats) snapshot() (maxLag, mean time.Duration) {
	n := l.n.Load()
	if n == 0 {
		return 0, 0
	}
	return time.Duration(l.max.Load()), time.Duration(l.sum.Load() / n)
}

// monotonicNs is CLOCK_MONOTONIC, the clock of the samples' ts_ns.
func monotonicNs() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
