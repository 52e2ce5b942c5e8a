// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"golang.org/x/time/rate"

	"github.com/kernelevents/kernelevents/internal/aggregate"
	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// EvidenceConfig configures the per-event log records (the logs pipeline).
type EvidenceConfig struct {
	// MaxRecordsPerSecond caps the records emitted; the rest are shed and
	// counted (kernel.evidence.shed, and a gap record in the log stream).
	// 0 means no limit.
	MaxRecordsPerSecond int `mapstructure:"max_records_per_second"`
	// FlushInterval is how often buffered records are handed on.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
}

// EventName is the event.name of each evidence record.
const EventName = "kernel.file.created"

// gapEventName is the event.name of the record that says how many records
// the rate limit shed.
const gapEventName = "kernel.evidence.gap"

// evidence buffers one log record per created file, grouped by workload,
// under a token-bucket rate limit. The records and their attributes are
// built by mdatagen's LogsBuilder from the events declared in metadata.yaml
// (documented in documentation.md); what mdatagen does not set (severity,
// observed timestamp, body) is set when the records are taken.
type evidence struct {
	mu        sync.Mutex
	cfg       metadata.LogsBuilderConfig
	set       receiver.Settings
	groups    map[uint32]*evidenceGroup
	order     []*evidenceGroup        // resources in order of their first record
	free      []*metadata.LogsBuilder // emptied builders, reused by the next groups
	n         int
	bucket    *rate.Limiter
	shed      uint64 // since start
	gapShed   uint64 // since the last gap record
	gapStart  time.Time
	offset    int64 // wall - monotonic, ns
	resources func(uint32) pcommon.Resource
	spiffe    bool // identity::spire: put the SPIFFE facts on each record
}

// maxFreeBuilders bounds the emptied builders kept for reuse: a burst from
// thousands of workloads in one flush interval is not held afterwards.
const maxFreeBuilders = 64

// evidenceGroup is one workload's records since the last take: a builder
// per workload, so that each workload's records share one resource.
type evidenceGroup struct {
	lb  *metadata.LogsBuilder
	res pcommon.Resource
	// created and gaps hold, per record and in recording order, what the
	// generated builder does not set, one list per event.
	created, gaps []recordExtra
}

// recordExtra is what the generated builder does not set on a record.
type recordExtra struct {
	seq      int // the record's place among those of its take
	observed pcommon.Timestamp
	body     string
}

func newEvidence(cfg EvidenceConfig, lbc metadata.LogsBuilderConfig, set receiver.Settings, offset int64, resources func(uint32) pcommon.Resource) *evidence {
	ev := &evidence{cfg: lbc, set: set, offset: offset, resources: resources}
	ev.bucket = newRateLimit(cfg.MaxRecordsPerSecond)
	ev.reset()
	return ev
}

func (ev *evidence) reset() {
	ev.groups = map[uint32]*evidenceGroup{}
	ev.order = ev.order[:0]
	ev.n = 0
}

// group returns workload's group, its resource taken at its first record
// (the workload id stays valid until the records are handed on: see
// identity.Options.Grace).
func (ev *evidence) group(workload uint32) *evidenceGroup {
	if g, ok := ev.groups[workload]; ok {
		return g
	}
	g := &evidenceGroup{res: ev.resources(workload)}
	if n := len(ev.free); n > 0 {
		g.lb, ev.free = ev.free[n-1], ev.free[:n-1]
	} else {
		g.lb = metadata.NewLogsBuilder(ev.cfg, ev.set)
	}
	ev.groups[workload] = g
	ev.order = append(ev.order, g)
	return g
}

// add records e, or sheds it when over the rate.
func (ev *evidence) add(e *event.Event, workload uint32, f identity.Facts, now time.Time) {
	if !ev.cfg.Events.KernelFileCreated.Enabled {
		return
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if !ev.bucket.AllowN(now, 1) {
		if ev.gapShed == 0 {
			ev.gapStart = now
		}
		ev.shed++
		ev.gapShed++
		return
	}
	ev.closeGap(now)
	p := string(e.Path)
	if e.Flags&event.FlagMknod != 0 {
		p = path.Clean(p)
	}
	// Paths, names and the executable are the kernel's bytes: labels
	// (event.Label) keep them valid UTF-8 for every exporter, reversibly.
	dir := aggregate.DirUnresolved // the leaf side only: its directories are not where they seem
	if e.Flags&event.FlagRootless == 0 {
		dir = event.Label(path.Dir(p))
	}
	var opts []metadata.EventAttributeOption
	if e.Flags&event.FlagTruncated != 0 {
		opts = append(opts, metadata.WithKerneleventsFilePathTruncatedEventAttribute(true))
	}
	if e.RealUID != e.UID {
		opts = append(opts, metadata.WithProcessRealUserIDEventAttribute(int64(e.RealUID)))
	}
	if f.User != "" {
		opts = append(opts, metadata.WithProcessUserNameEventAttribute(event.Label(f.User)))
	}
	if f.Executable != "" {
		opts = append(opts,
			metadata.WithProcessExecutablePathEventAttribute(event.Label(f.Executable)),
			metadata.WithProcessExecutableNameEventAttribute(event.Label(path.Base(f.Executable))))
	}
	if e.Flags&event.FlagIOUring != 0 {
		opts = append(opts, metadata.WithKerneleventsIoUringEventAttribute(true))
	}
	if e.Flags&event.FlagMknod != 0 {
		opts = append(opts, metadata.WithKerneleventsSyscallEventAttribute("mknod"))
	}
	if ev.spiffe {
		opts = appendSpiffe(opts, &f)
	}
	g := ev.group(workload)
	g.lb.RecordKernelFileCreatedEvent(context.Background(), pcommon.Timestamp(int64(e.TimeNs)+ev.offset),
		event.Label(p), dir, int64(e.TGID), int64(e.TID), int64(e.UID), int64(e.GID), // effective ids
		event.LabelBytes(e.Comm), eventHookAttr(e.Hook), int64(e.CgroupID), opts...)

	who := f.User
	if who == "" {
		who = fmt.Sprint(e.UID)
	}
	exe := f.Executable
	if exe == "" {
		exe = string(e.Comm)
	}
	g.created = append(g.created, recordExtra{
		seq:      ev.n,
		observed: pcommon.NewTimestampFromTime(now),
		body:     event.Label(fmt.Sprintf("%s created %s (pid %d, user %s)", exe, p, e.TGID, who)),
	})
	ev.n++
}

// closeGap writes one record saying how many records the rate limit shed,
// on the host's resource (workload 0).
func (ev *evidence) closeGap(now time.Time) {
	if ev.gapShed == 0 {
		return
	}
	if ev.cfg.Events.KernelEvidenceGap.Enabled {
		g := ev.group(0)
		g.lb.RecordKernelEvidenceGapEvent(context.Background(), pcommon.NewTimestampFromTime(ev.gapStart), int64(ev.gapShed))
		g.gaps = append(g.gaps, recordExtra{
			seq:      ev.n,
			observed: pcommon.NewTimestampFromTime(now),
			body:     fmt.Sprintf("%d file-creation records shed by the rate limit since %s", ev.gapShed, ev.gapStart.UTC().Format(time.RFC3339Nano)),
		})
		ev.n++
	}
	ev.gapShed = 0
}

// finish sets what the generated builder does not on the records of g,
// emitted in ld, and puts them back in recording order: the builder emits
// one event's records after the other's, each in recording order.
func (g *evidenceGroup) finish(ld plog.Logs) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			var created, gaps int
			seq := make([]int, lrs.Len())
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				var x recordExtra
				switch lr.EventName() {
				case EventName:
					x = g.created[created]
					created++
					lr.SetSeverityNumber(plog.SeverityNumberInfo)
					lr.SetSeverityText("INFO")
				case gapEventName:
					x = g.gaps[gaps]
					gaps++
					lr.SetSeverityNumber(plog.SeverityNumberWarn)
					lr.SetSeverityText("WARN")
				}
				lr.SetObservedTimestamp(x.observed)
				lr.Body().SetStr(x.body)
				seq[k] = x.seq
			}
			if !slices.IsSorted(seq) {
				byOrder := make([]int, len(seq))
				for k := range byOrder {
					byOrder[k] = k
				}
				slices.SortFunc(byOrder, func(a, b int) int { return cmp.Compare(seq[a], seq[b]) })
				sorted := plog.NewLogRecordSlice()
				sorted.EnsureCapacity(lrs.Len())
				for _, k := range byOrder {
					lrs.At(k).MoveTo(sorted.AppendEmpty())
				}
				lrs.RemoveIf(func(plog.LogRecord) bool { return true }) // the moved-from husks
				sorted.MoveAndAppendTo(lrs)
			}
		}
	}
}

// take returns the buffered records (nil when none) and starts a new buffer.
// final closes an open gap.
func (ev *evidence) take(final bool) (plog.Logs, bool) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if final {
		ev.closeGap(time.Now())
	}
	if ev.n == 0 {
		return plog.Logs{}, false
	}
	out := plog.NewLogs()
	for _, g := range ev.order {
		// Emit empties the builder (its resource filters, resource_attributes::
		// <name>::events_include/exclude, may drop the whole group).
		ld := g.lb.Emit(metadata.WithLogsResource(g.res))
		g.finish(ld)
		ld.ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
		if len(ev.free) < maxFreeBuilders {
			ev.free = append(ev.free, g.lb)
		}
	}
	ev.reset()
	if out.LogRecordCount() == 0 {
		return plog.Logs{}, false
	}
	return out, true
}

// Shed returns the records shed since start.
func (ev *evidence) Shed() uint64 {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.shed
}

// newRateLimit allows perSecond records per second with a burst of one
// second's worth (golang.org/x/time/rate's token bucket, fed the records'
// own times); 0 allows everything.
func newRateLimit(perSecond int) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(perSecond), perSecond)
}
