// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"bytes"
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/kernelevents/kernelevents/internal/aggregate"
	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/k8spods"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

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
		EUID:           has(metadata.KernelFileCreationsMetricAttributeKeyProcessUserID),
		Hook:           has(metadata.KernelFileCreationsMetricAttributeKeyKerneleventsHook),
		Op:             has(metadata.KernelFileCreationsMetricAttributeKeyKerneleventsFileOperation),
		Path:           has(metadata.KernelFileCreationsMetricAttributeKeyFilePath),
		PID:            has(metadata.KernelFileCreationsMetricAttributeKeyProcessPid),
	}
}

// emitTick emits the metrics, every collection interval.
func (r *kernelEventsReceiver) emitTick(ctx context.Context) bool {
	if r.metrics == nil {
		r.resolver.Sweep(nil) // evidence only: no series hold workloads
		return true
	}
	r.emit(ctx, r.readLosses())
	return true
}

// losses are the kernel side's loss counters since the probe was opened.
type losses struct {
	byReason map[string]uint64            // probe.Lost* reasons
	byCgroup map[uint64]map[string]uint64 // by cgroup v2 id (0: past probe.LostCgroupsMax), then reason
}

// readLosses reads the kernel's loss counters (logging what it cannot read).
func (r *kernelEventsReceiver) readLosses() losses {
	var l losses
	var err error
	if l.byReason, err = r.probe.LostByReason(); err != nil {
		r.set.Logger.Warn("Cannot read the kernel's lost-sample counter", zap.Error(err))
	}
	if l.byCgroup, err = r.probe.LostByCgroup(); err != nil {
		r.set.Logger.Warn("Cannot read the kernel's lost-sample counter by cgroup", zap.Error(err))
	}
	return l
}

// withShed returns the kernel's losses by cgroup and reason with the
// evidence records shed by cgroup added as reason evidence_shed (kernel
// left as it is).
func withShed(kernel map[uint64]map[string]uint64, shed map[uint64]uint64) map[uint64]map[string]uint64 {
	if len(shed) == 0 {
		return kernel
	}
	out := make(map[uint64]map[string]uint64, len(kernel)+len(shed))
	for cg, by := range kernel {
		out[cg] = by
	}
	for cg, n := range shed {
		by := make(map[string]uint64, len(out[cg])+1)
		maps.Copy(by, out[cg])
		by[chain.LostEvidenceShed] = n
		out[cg] = by
	}
	return out
}

// emit reads the counters, the series and the workloads, builds the batch
// and hands it to the next consumer.
func (r *kernelEventsReceiver) emit(ctx context.Context, l losses) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	c := collection{
		now:       pcommon.NewTimestampFromTime(time.Now()),
		hook:      probeHookAttr(r.probe.Hook()),
		programs:  r.programs,
		received:  r.received.Load(),
		malformed: r.malformed.Load(),
		lost:      l.byReason,
		lostByCg:  l.byCgroup,
		active:    r.table.Len(),
		overflow:  r.table.Overflow(),
		groups:    map[uint32][]seriesRow{},
	}
	if r.evidence != nil {
		var shedByCg map[uint64]uint64
		c.evidence = true
		c.shed, shedByCg = r.evidence.Shed()
		c.lostByCg = withShed(l.byCgroup, shedByCg)
	}
	r.table.Range(func(s *aggregate.Series, dir, path string) {
		c.groups[s.Key.Workload] = append(c.groups[s.Key.Workload], seriesRow{*s, dir, path})
	})
	// Forget the workloads no series and no cached process refers to.
	live := make(map[uint32]bool, len(c.groups))
	for id := range c.groups {
		live[id] = true
	}
	r.resolver.Sweep(live)
	c.workloads = r.resolver.Stats()
	c.spiffe = r.resolver.SPIFFECounts()
	if r.pods != nil {
		c.pods = r.pods.Counts()
	}
	md := buildMetrics(r.mb, &c, r.resource)

	ctx = r.obs.StartMetricsOp(ctx)
	err := r.metrics.ConsumeMetrics(ctx, md)
	r.obs.EndMetricsOp(ctx, metadata.Type.String(), md.DataPointCount(), err)
	r.emits.Add(1)
	if err != nil {
		r.set.Logger.Warn("Next consumer refused kernel_events metrics", zap.Error(err))
	}
}

// collection is what one batch reports.
type collection struct {
	now       pcommon.Timestamp
	hook      metadata.AttributeKerneleventsHook // the probe's
	programs  []probe.ProgramState               // the probe's, attached or not
	received  uint64
	malformed uint64
	lost      map[string]uint64            // by reason, from the kernel source
	lostByCg  map[uint64]map[string]uint64 // by cgroup id, then kernelevents.lost_by_cgroup.reason
	active    int                          // series in the table
	overflow  uint64                       // creations counted in the overflow series
	evidence  bool                         // a logs pipeline sheds records
	shed      uint64
	workloads identity.Stats
	spiffe    map[identity.SPIFFEStatus]uint64 // SPIRE lookups by outcome; nil without identity::spire
	pods      map[string]uint64                // pod inventory errors by reason; nil without identity::kubernetes
	groups    map[uint32][]seriesRow           // series by workload
}

// seriesRow is one series with its interned strings.
type seriesRow struct {
	s         aggregate.Series
	dir, path string
}

// buildMetrics turns c into pdata: the receiver's own counters on the host
// resource (workload 0), each workload's series on its resource. It reads
// nothing else and is tested against golden files.
func buildMetrics(mb *metadata.MetricsBuilder, c *collection, resource func(uint32) pcommon.Resource) pmetric.Metrics {
	now := c.now
	mb.RecordKernelEventsReceivedDataPoint(now, int64(c.received))
	// Every reason, zero or not, so that an alert can rely on each series.
	for _, name := range slices.Sorted(maps.Keys(metadata.MapAttributeKerneleventsLostReason)) {
		reason := metadata.MapAttributeKerneleventsLostReason[name]
		n := c.lost[name]
		if reason == metadata.AttributeKerneleventsLostReasonMalformed {
			n = c.malformed
		}
		mb.RecordKernelEventsLostDataPoint(now, int64(n), reason)
	}
	for _, cg := range slices.Sorted(maps.Keys(c.lostByCg)) {
		by := c.lostByCg[cg]
		for _, name := range slices.Sorted(maps.Keys(by)) {
			if reason, ok := metadata.MapAttributeKerneleventsLostByCgroupReason[name]; ok && by[name] > 0 {
				mb.RecordKernelEventsLostByCgroupDataPoint(now, int64(by[name]), int64(cg), reason)
			}
		}
	}
	mb.RecordKernelProbeHookDataPoint(now, 1, c.hook)
	programs := slices.SortedFunc(slices.Values(c.programs), func(a, b probe.ProgramState) int { return cmp.Compare(a.Name, b.Name) })
	for _, p := range programs {
		v := int64(0)
		if p.Attached {
			v = 1
		}
		mb.RecordKernelProbeProgramsDataPoint(now, v, p.Name)
	}
	mb.RecordKernelSeriesActiveDataPoint(now, int64(c.active))
	mb.RecordKernelSeriesOverflowedDataPoint(now, int64(c.overflow))
	if c.evidence {
		mb.RecordKernelEvidenceShedDataPoint(now, int64(c.shed))
	}
	if c.overflow > 0 {
		mb.RecordKernelFileCreationsDataPoint(now, int64(c.overflow), "", "", metadata.AttributeKerneleventsFileOperationCreate, c.hook, "", 0, 0,
			metadata.WithOtelMetricOverflowMetricAttribute(true))
	}
	mb.RecordKernelWorkloadsActiveDataPoint(now, int64(c.workloads.Workloads))
	mb.RecordKernelWorkloadsOverflowedDataPoint(now, int64(c.workloads.Overflow))
	mb.RecordKernelIdentityUnresolvedDataPoint(now, int64(c.workloads.Unresolved))
	if c.spiffe != nil {
		for _, st := range identity.SPIFFEStatuses {
			if a, ok := metadata.MapAttributeKerneleventsSpiffeStatus[string(st)]; ok {
				mb.RecordKernelSpiffeLookupsDataPoint(now, int64(c.spiffe[st]), a)
			}
		}
	}

	if c.pods != nil {
		for _, reason := range k8spods.Reasons {
			if a, ok := metadata.MapAttributeKerneleventsPodInventoryError[reason]; ok {
				mb.RecordKernelPodInventoryErrorsDataPoint(now, int64(c.pods[reason]), a)
			}
		}
	}

	ids := make([]uint32, 0, len(c.groups)+1)
	ids = append(ids, 0) // the host resource carries the receiver's own metrics
	for id := range c.groups {
		if id != 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids[1:]) // one order for one input
	for _, id := range ids {
		rows := c.groups[id]
		slices.SortFunc(rows, func(a, b seriesRow) int {
			return cmp.Or(cmp.Compare(a.dir, b.dir), cmp.Compare(a.path, b.path), bytes.Compare(a.s.Key.Comm[:], b.s.Key.Comm[:]),
				cmp.Compare(a.s.Key.EUID, b.s.Key.EUID), cmp.Compare(a.s.Key.PID, b.s.Key.PID), cmp.Compare(a.s.Key.Hook, b.s.Key.Hook),
				cmp.Compare(a.s.Key.Op, b.s.Key.Op))
		})
		for _, rw := range rows {
			h := c.hook
			if rw.s.Key.Hook != 0 {
				h = eventHookAttr(rw.s.Key.Hook)
			}
			mb.RecordKernelFileCreationsDataPoint(now, int64(rw.s.Count), rw.path, rw.dir, eventOpAttr(rw.s.Key.Op), h,
				event.LabelBytes(event.CString(rw.s.Key.Comm[:])), int64(rw.s.Key.PID), int64(rw.s.Key.EUID))
		}
		mb.EmitForResource(metadata.WithResource(resource(id)))
	}
	md := mb.Emit()
	onlyOverflowAttribute(md)
	return md
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
		case identity.AttrNamespace:
			rb.SetK8sNamespaceName(kv.Value)
		case identity.AttrPodName:
			rb.SetK8sPodName(kv.Value)
		case identity.AttrServiceAccount:
			rb.SetK8sServiceaccountName(kv.Value)
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

func eventHookAttr(h event.HookID) metadata.AttributeKerneleventsHook {
	return metadata.MapAttributeKerneleventsHook[h.String()]
}

func eventOpAttr(op event.Op) metadata.AttributeKerneleventsFileOperation {
	return metadata.MapAttributeKerneleventsFileOperation[op.String()]
}

func eventTypeAttr(t event.Type) metadata.AttributeKerneleventsFileType {
	return metadata.MapAttributeKerneleventsFileType[t.String()]
}

func probeHookAttr(h probe.Hook) metadata.AttributeKerneleventsHook {
	return metadata.MapAttributeKerneleventsHook[string(h)]
}
