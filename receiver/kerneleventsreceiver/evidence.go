// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"fmt"
	"path"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kernelevents/kernelevents/internal/aggregate"
	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/identity"
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

// evidence buffers one log record per created file, grouped by workload,
// under a token-bucket rate limit.
type evidence struct {
	mu        sync.Mutex
	logs      plog.Logs
	records   map[uint32]plog.LogRecordSlice
	n         int
	bucket    tokenBucket
	shed      uint64 // since start
	gapShed   uint64 // since the last gap record
	gapStart  time.Time
	offset    int64 // wall - monotonic, ns
	resources func(uint32) pcommon.Resource
	scope     string
	spiffe    bool // identity::spire: put the SPIFFE facts on each record
}

func newEvidence(cfg EvidenceConfig, offset int64, scope string, resources func(uint32) pcommon.Resource) *evidence {
	ev := &evidence{offset: offset, scope: scope, resources: resources}
	ev.bucket = newTokenBucket(cfg.MaxRecordsPerSecond, time.Now())
	ev.reset()
	return ev
}

func (ev *evidence) reset() {
	ev.logs = plog.NewLogs()
	ev.records = map[uint32]plog.LogRecordSlice{}
	ev.n = 0
}

func (ev *evidence) slice(workload uint32) plog.LogRecordSlice {
	if s, ok := ev.records[workload]; ok {
		return s
	}
	rl := ev.logs.ResourceLogs().AppendEmpty()
	ev.resources(workload).CopyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ev.scope)
	s := sl.LogRecords()
	ev.records[workload] = s
	return s
}

// add records e, or sheds it when over the rate.
func (ev *evidence) add(e *event.Event, workload uint32, f identity.Facts, now time.Time) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if !ev.bucket.take(now) {
		if ev.gapShed == 0 {
			ev.gapStart = now
		}
		ev.shed++
		ev.gapShed++
		return
	}
	ev.closeGap(now)
	lr := ev.slice(workload).AppendEmpty()
	lr.SetTimestamp(pcommon.Timestamp(int64(e.TimeNs) + ev.offset))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")
	lr.SetEventName(EventName)
	p := string(e.Path)
	if e.Flags&event.FlagMknod != 0 {
		p = path.Clean(p)
	}
	a := lr.Attributes()
	a.EnsureCapacity(16)
	// Paths, names and the executable are the kernel's bytes: labels
	// (event.Label) keep them valid UTF-8 for every exporter, reversibly.
	a.PutStr("file.path", event.Label(p))
	if e.Flags&event.FlagRootless != 0 {
		// The leaf side only: its directories are not where they seem.
		a.PutStr("file.directory", aggregate.DirUnresolved)
	} else {
		a.PutStr("file.directory", event.Label(path.Dir(p)))
	}
	if e.Flags&event.FlagTruncated != 0 {
		a.PutBool("kernelevents.file.path.truncated", true)
	}
	a.PutInt("process.pid", int64(e.TGID))
	a.PutInt("thread.id", int64(e.TID))
	a.PutInt("process.user.id", int64(e.UID)) // effective
	if e.RealUID != e.UID {
		a.PutInt("process.real_user.id", int64(e.RealUID))
	}
	a.PutInt("process.group.id", int64(e.GID))
	if f.User != "" {
		a.PutStr("process.user.name", event.Label(f.User))
	}
	a.PutStr("kernelevents.process.comm", event.LabelBytes(e.Comm))
	if f.Executable != "" {
		a.PutStr("process.executable.path", event.Label(f.Executable))
		a.PutStr("process.executable.name", event.Label(path.Base(f.Executable)))
	}
	a.PutStr("kernelevents.hook", e.Hook.String())
	if e.Flags&event.FlagIOUring != 0 {
		a.PutBool("kernelevents.io_uring", true)
	}
	if e.Flags&event.FlagMknod != 0 {
		a.PutStr("kernelevents.syscall", "mknod")
	}
	a.PutInt("kernelevents.cgroup.id", int64(e.CgroupID))
	if ev.spiffe {
		putSpiffe(a, &f)
	}
	who := f.User
	if who == "" {
		who = fmt.Sprint(e.UID)
	}
	exe := f.Executable
	if exe == "" {
		exe = string(e.Comm)
	}
	lr.Body().SetStr(event.Label(fmt.Sprintf("%s created %s (pid %d, user %s)", exe, p, e.TGID, who)))
	ev.n++
}

// closeGap writes one record saying how many records the rate limit shed.
func (ev *evidence) closeGap(now time.Time) {
	if ev.gapShed == 0 {
		return
	}
	lr := ev.slice(0).AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(ev.gapStart))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	lr.SetEventName("kernel.evidence.gap")
	lr.Attributes().PutInt("kernelevents.evidence.shed", int64(ev.gapShed))
	lr.Body().SetStr(fmt.Sprintf("%d file-creation records shed by the rate limit since %s", ev.gapShed, ev.gapStart.UTC().Format(time.RFC3339Nano)))
	ev.gapShed = 0
	ev.n++
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
	out := ev.logs
	ev.reset()
	return out, true
}

// Shed returns the records shed since start.
func (ev *evidence) Shed() uint64 {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.shed
}

// tokenBucket allows rate events per second with a burst of one second's
// worth; rate 0 allows everything.
type tokenBucket struct {
	rate   float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate int, now time.Time) tokenBucket {
	return tokenBucket{rate: float64(rate), tokens: float64(rate), last: now}
}

func (b *tokenBucket) take(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.rate, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
