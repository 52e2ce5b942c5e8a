// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"golang.org/x/time/rate"

	"github.com/kernelevents/kernelevents/internal/aggregate"
	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

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
	shed      uint64            // since start
	shedByCg  map[uint64]uint64 // shed since start by the sample's cgroup v2 id (0: past probe.LostCgroupsMax)
	gapShed   uint64            // since the last gap record
	gapStart  time.Time
	offset    int64 // wall - monotonic, ns
	resources func(uint32) pcommon.Resource
	spiffe    bool // identity::spire: put the SPIFFE facts on each record

	// The chain (docs/evidence-chain.md).
	stream     string
	seq        uint64     // the next record's number
	head       chain.Hash // hash of the last record handed on
	created    uint64     // creation records numbered since start
	gapFrom    uint64     // the first number the open gap's records took
	ckInterval time.Duration
	lastCk     time.Time // zero: no checkpoint yet
	previous   string    // the previous stream's last checkpoint, for the first one
	key        ed25519.PrivateKey
	signer     string // AttrSigner of key
	// svid, when set (evidence::signing_workload_socket), is the
	// collector's newest X.509 SVID, which signs the checkpoints.
	svid      func() *spire.SVID
	stateFile string
	socket    string // evidence::signing_workload_socket, for the log
	// counts returns the receiver's counts since start for a checkpoint;
	// nil: no checkpoints.
	counts  func() checkpointCounts
	done    bool         // the stream ended: its final checkpoint was taken
	noChain bool         // benchmarks only: the cost of the chain
	hasher  chain.Hasher // canonical forms and their hashes
	items   []chainItem
	sorted  []int32  // inOrder's result: items' indices
	slots   []int32  // inOrder's places by number
	hexBuf  []byte   // a batch's previous hashes in hex
	seqs    []uint64 // the numbers of a take's records, in their order (finish)
	// The forms of the creation records since the last take (add), in the
	// order of their numbers: the records' canonical forms from their
	// values, to chain them without reading them back.
	form     chain.Form
	forms    []byte
	formRefs []formRef
}

// checkpointCounts are the counts since start a checkpoint states beside
// the evidence's own.
type checkpointCounts struct {
	received     uint64                       // samples the reader took
	lost         map[string]uint64            // the kernel side's, by reason
	lostByCgroup map[uint64]map[string]uint64 // the kernel side's, by cgroup v2 id, then reason
}

// chainItem is a record taken, in the order of its number.
type chainItem struct {
	seq uint64
	lr  plog.LogRecord
	res chain.Hash // the digest of its resource
}

// formRef is where a creation record's form is in evidence.forms.
type formRef struct {
	seq              uint64
	shape            int // chain.Form's
	start, hole, end int
}

// maxFormsKept bounds the room for forms kept from one take to the next: a
// burst's is not held afterwards.
const maxFormsKept = 4 << 20

// severityInfo is the severity text of creation records.
const severityInfo = "INFO"

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
	created, gaps, checkpoints []recordExtra
}

// recordExtra is what the generated builder does not set on a record.
type recordExtra struct {
	seq      uint64 // the record's number in the stream
	observed pcommon.Timestamp
	body     string
}

func newEvidence(cfg EvidenceConfig, lbc metadata.LogsBuilderConfig, set receiver.Settings, offset int64, resources func(uint32) pcommon.Resource) *evidence {
	ev := &evidence{cfg: lbc, set: set, offset: offset, resources: resources,
		stream: newStreamID(), ckInterval: cfg.CheckpointInterval, stateFile: cfg.StateFile, socket: cfg.SigningWorkloadSocket}
	ev.bucket = newRateLimit(cfg.MaxRecordsPerSecond)
	ev.reset()
	return ev
}

// newStreamID is "<node>/<32 random hex digits>": the node's host name and
// 128 random bits, new at each start.
func newStreamID() string {
	node, err := os.Hostname()
	if err != nil || node == "" {
		node = "unknown-node"
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return node + "/" + hex.EncodeToString(b[:])
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
	if ev.done {
		return // the stream ended with its logs pipeline (endEvidence)
	}
	if !ev.bucket.AllowN(now, 1) {
		if ev.gapShed == 0 {
			ev.gapStart, ev.gapFrom = now, ev.seq
		}
		ev.seq++ // the gap record states it
		ev.shed++
		ev.gapShed++
		ev.countShed(e.CgroupID)
		return
	}
	ev.closeGap(now)
	p := string(e.Path)
	if e.NameAsWritten() {
		p = path.Clean(p)
	}
	// Paths, names and the executable are the kernel's bytes: labels
	// (event.Label) keep them valid UTF-8 for every exporter, reversibly.
	dir := aggregate.DirUnresolved // its directory on the node is not known
	if !e.DirUnknown() {
		dir = event.Label(path.Dir(p))
	}
	// The chain's form of the record is made from the values as they are
	// written (chain.Form: the record is not read back when the batch is
	// chained); nil without the chain.
	var fm *chain.Form
	if !ev.noChain {
		fm = &ev.form
		fm.Begin(EventName)
	}
	var opts []metadata.EventAttributeOption
	if e.Flags&event.FlagTruncated != 0 {
		opts = append(opts, metadata.WithKerneleventsFilePathTruncatedEventAttribute(true))
		fm.Bool("kernelevents.file.path.truncated", true)
	}
	if e.RUID != e.EUID {
		opts = append(opts, metadata.WithProcessRealUserIDEventAttribute(int64(e.RUID)))
		fm.Int("process.real_user.id", int64(e.RUID))
	}
	if f.User != "" {
		user := event.Label(f.User)
		opts = append(opts, metadata.WithProcessUserNameEventAttribute(user))
		fm.Str("process.user.name", user)
	}
	if f.Executable != "" {
		exePath, exeName := event.Label(f.Executable), event.Label(path.Base(f.Executable))
		opts = append(opts,
			metadata.WithProcessExecutablePathEventAttribute(exePath),
			metadata.WithProcessExecutableNameEventAttribute(exeName))
		fm.Str("process.executable.path", exePath)
		fm.Str("process.executable.name", exeName)
	}
	if e.Flags&event.FlagIOUring != 0 {
		opts = append(opts, metadata.WithKerneleventsIoUringEventAttribute(true))
		fm.Bool("kernelevents.io_uring", true)
	}
	// Where the file is: its filesystem, and the creator's view (the path
	// below the root of the mount it went through), evidence only.
	if e.MountPath != nil {
		mountPath := event.LabelBytes(e.MountPath)
		opts = append(opts,
			metadata.WithKerneleventsFileMountPathEventAttribute(mountPath),
			metadata.WithKerneleventsFileMountIDEventAttribute(int64(e.MountID)))
		fm.Str("kernelevents.file.mount_path", mountPath)
		fm.Int("kernelevents.file.mount_id", int64(e.MountID))
	}
	if e.Where&event.WhereOverlayUpper != 0 {
		opts = append(opts, metadata.WithKerneleventsFileOverlayUpperEventAttribute(true))
		fm.Bool("kernelevents.file.overlay_upper", true)
	}
	if e.Flags&event.FlagMknod != 0 {
		opts = append(opts, metadata.WithKerneleventsSyscallEventAttribute("mknod"))
		fm.Str("kernelevents.syscall", "mknod")
	}
	if e.Flags&event.FlagOpenFailed != 0 {
		opts = append(opts, metadata.WithKerneleventsFileOpenFailedEventAttribute(true))
		fm.Bool("kernelevents.file.open_failed", true)
	}
	if ev.spiffe {
		opts = appendSpiffe(opts, fm, &f)
	}
	g := ev.group(workload)
	ts := pcommon.Timestamp(int64(e.TimeNs) + ev.offset)
	label, comm, dev := event.Label(p), event.LabelBytes(e.Comm), event.DevString(e.FSDev)
	hook, op, typ := eventHookAttr(e.Hook), eventOpAttr(e.Op), eventTypeAttr(e.Type)
	g.lb.RecordKernelFileCreatedEvent(context.Background(), ts,
		label, dir, int64(e.TGID), int64(e.TID), int64(e.EUID), int64(e.EGID), // effective ids
		comm, hook, op, typ, dev, int64(e.CgroupID), opts...)

	who := f.User
	if who == "" {
		who = fmt.Sprint(e.EUID)
	}
	exe := f.Executable
	if exe == "" {
		exe = string(e.Comm)
	}
	x := recordExtra{
		seq:      ev.seq,
		observed: pcommon.NewTimestampFromTime(now),
		body:     event.Label(fmt.Sprintf("%s %s %s%s (pid %d, user %s)", exe, opVerb(e.Op, e.Type), p, openFailed(e.Flags), e.TGID, who)),
	}
	g.created = append(g.created, x)
	if fm != nil {
		// What the generated builder wrote, and finish and seal write.
		fm.Str("file.path", label)
		fm.Str("file.directory", dir)
		fm.Int("process.pid", int64(e.TGID))
		fm.Int("thread.id", int64(e.TID))
		fm.Int("process.user.id", int64(e.EUID))
		fm.Int("process.group.id", int64(e.EGID))
		fm.Str("kernelevents.process.comm", comm)
		fm.Str("kernelevents.hook", hook.String())
		fm.Str("kernelevents.file.operation", op.String())
		fm.Str("kernelevents.file.type", typ.String())
		fm.Str("kernelevents.file.device", dev)
		fm.Int("kernelevents.cgroup.id", int64(e.CgroupID))
		fm.Int(chain.AttrSeq, int64(x.seq))
		fm.Hole(chain.AttrPrev)
		start := len(ev.forms)
		var ref formRef
		ev.forms, ref.shape, ref.hole = fm.End(ev.forms, uint64(ts), uint64(x.observed), int32(plog.SeverityNumberInfo), severityInfo, x.body)
		if ref.shape >= 0 {
			ref.seq, ref.start, ref.end = x.seq, start, len(ev.forms)
			ev.formRefs = append(ev.formRefs, ref)
		}
	}
	ev.seq++
	ev.created++
	ev.n++
}

// countShed counts a shed record under its sample's cgroup, or under
// cgroup 0 once probe.LostCgroupsMax cgroups have one (the kernel's bound).
func (ev *evidence) countShed(cg uint64) {
	if ev.shedByCg == nil {
		ev.shedByCg = map[uint64]uint64{}
	}
	if _, ok := ev.shedByCg[cg]; !ok && len(ev.shedByCg) >= probe.LostCgroupsMax {
		cg = 0
	}
	ev.shedByCg[cg]++
}

// openFailed is what the body says after the path of a file whose open
// failed after making it.
func openFailed(f event.Flags) string {
	if f&event.FlagOpenFailed != 0 {
		return ", then failed to open it"
	}
	return ""
}

// opVerb is the body's verb for a new name of type t made by op.
func opVerb(op event.Op, t event.Type) string {
	switch op {
	case event.OpLink:
		return "linked"
	case event.OpRename:
		if t == event.TypeDirectory {
			return "renamed a directory into"
		}
		return "renamed into"
	case event.OpCopyUp:
		return "copied up into"
	case event.OpSymlink:
		return "made a symbolic link"
	}
	return "created"
}

// closeGap writes one record saying how many records the rate limit shed,
// on the host's resource (workload 0).
func (ev *evidence) closeGap(now time.Time) {
	if ev.gapShed == 0 {
		return
	}
	if ev.cfg.Events.KernelEvidenceGap.Enabled {
		g := ev.group(0)
		g.lb.RecordKernelEvidenceGapEvent(context.Background(), pcommon.NewTimestampFromTime(ev.gapStart), int64(ev.gapShed), int64(ev.gapFrom))
		g.gaps = append(g.gaps, recordExtra{
			seq:      ev.seq,
			observed: pcommon.NewTimestampFromTime(now),
			body: fmt.Sprintf("%d file-creation records shed by the rate limit since %s (numbers %d to %d)",
				ev.gapShed, ev.gapStart.UTC().Format(time.RFC3339Nano), ev.gapFrom, ev.seq-1),
		})
		ev.seq++
		ev.n++
	}
	ev.gapShed = 0
}

// finish sets what the generated builder does not on the records of g,
// emitted in ld, and puts them back in recording order: the builder emits
// one event's records after the other's, each in recording order. It
// appends the records' numbers to seqs in their order in ld.
func (g *evidenceGroup) finish(ld plog.Logs, stream string, chained bool, seqs []uint64) []uint64 {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		// The stream is named once per resource, not on every record.
		rls.At(i).Resource().Attributes().PutStr(chain.AttrStream, stream)
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			var created, gaps, cks int
			seq := make([]uint64, lrs.Len())
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				var x recordExtra
				switch lr.EventName() {
				case EventName:
					x = g.created[created]
					created++
					lr.SetSeverityNumber(plog.SeverityNumberInfo) // as in add's form
					lr.SetSeverityText(severityInfo)
				case gapEventName:
					x = g.gaps[gaps]
					gaps++
					lr.SetSeverityNumber(plog.SeverityNumberWarn)
					lr.SetSeverityText("WARN")
				case chain.EventCheckpoint:
					x = g.checkpoints[cks]
					cks++
					lr.SetSeverityNumber(plog.SeverityNumberInfo)
					lr.SetSeverityText("INFO")
				}
				lr.SetObservedTimestamp(x.observed)
				lr.Body().SetStr(x.body)
				// Room for the chain's two attributes at once (the number
				// here, the previous hash in seal).
				a := lr.Attributes()
				if chained {
					a.EnsureCapacity(a.Len() + 2)
				}
				a.PutInt(chain.AttrSeq, int64(x.seq))
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
				slices.Sort(seq)
			}
			seqs = append(seqs, seq...)
		}
	}
	return seqs
}

// take returns the buffered records (nil when none), chained, and starts a
// new buffer; with a checkpoint last when one is due (every
// evidence::checkpoint_interval). final closes an open gap and writes the
// stream's last checkpoint.
func (ev *evidence) take(final bool, now time.Time) (plog.Logs, bool) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if final {
		ev.closeGap(now)
	}
	// A checkpoint also closes the gap.
	if ev.counts != nil && ev.cfg.Events.KernelEvidenceCheckpoint.Enabled && ev.cfg.Events.KernelFileCreated.Enabled &&
		(final || ev.lastCk.IsZero() || now.Sub(ev.lastCk) >= ev.ckInterval) {
		ev.checkpoint(now, final)
	}
	if ev.n == 0 {
		return plog.Logs{}, false
	}
	out := plog.NewLogs()
	seqs := ev.seqs[:0]
	for _, g := range ev.order {
		// Emit empties the builder (its resource filters, resource_attributes::
		// <name>::events_include/exclude, may drop the whole group).
		ld := g.lb.Emit(metadata.WithLogsResource(g.res))
		seqs = g.finish(ld, ev.stream, !ev.noChain, seqs)
		ld.ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
		if len(ev.free) < maxFreeBuilders {
			ev.free = append(ev.free, g.lb)
		}
	}
	ev.reset()
	ev.seqs = seqs
	defer ev.dropForms()
	if out.LogRecordCount() == 0 {
		return plog.Logs{}, false
	}
	if !ev.noChain {
		ev.seal(out)
	}
	return out, true
}

// dropForms forgets the forms of a take's records.
func (ev *evidence) dropForms() {
	ev.forms, ev.formRefs = ev.forms[:0], ev.formRefs[:0]
	if cap(ev.forms) > maxFormsKept {
		ev.forms, ev.formRefs = nil, nil
	}
}

// checkpoint records a checkpoint: the counts since start, the previous
// stream's last checkpoint on the first one. It is numbered after every
// record buffered, so it seals them: seal signs it.
func (ev *evidence) checkpoint(now time.Time, final bool) {
	// An open gap is closed first: the shed numbers run without a break
	// up to their gap record, and the checkpoint's shed count is stated.
	ev.closeGap(now)
	c := ev.counts()
	received := c.received
	lostAttr := make(map[string]any, len(c.lost))
	var lostTotal uint64
	for reason, n := range c.lost {
		lostAttr[reason] = int64(n)
		lostTotal += n
	}
	// The kernel's losses by cgroup and the records shed by cgroup, read
	// with ev.shed: their evidence_shed counts add up to it.
	lostByCg := withShed(c.lostByCgroup, ev.shedByCg)
	byCgroup := make(map[string]any, len(lostByCg))
	for cg, by := range lostByCg {
		reasons := make(map[string]any, len(by))
		for reason, n := range by {
			if n > 0 {
				reasons[reason] = int64(n)
			}
		}
		if len(reasons) > 0 {
			byCgroup[strconv.FormatUint(cg, 10)] = reasons
		}
	}
	var opts []metadata.EventAttributeOption
	if ev.lastCk.IsZero() && ev.previous != "" {
		opts = append(opts, metadata.WithKerneleventsEvidenceCheckpointPreviousEventAttribute(ev.previous))
	}
	g := ev.group(0)
	g.lb.RecordKernelEvidenceCheckpointEvent(context.Background(), pcommon.NewTimestampFromTime(now),
		int64(ev.created), int64(received), int64(ev.shed), lostAttr, byCgroup, final, opts...)
	what := "checkpoint"
	if final {
		what = "final checkpoint"
	}
	g.checkpoints = append(g.checkpoints, recordExtra{
		seq:      ev.seq,
		observed: pcommon.NewTimestampFromTime(now),
		body: fmt.Sprintf("%s %d of stream %s: %d creation records, %d shed, %d samples received, %d lost in the kernel",
			what, ev.seq, ev.stream, ev.created, ev.shed, received, lostTotal),
	})
	ev.seq++
	ev.n++
	ev.lastCk = now
}

// seal chains the records of out in the order of their numbers: each
// resource gets the list of the attributes its digest covers, and each
// record the previous one's hash; checkpoints are signed, and the last one
// is kept in the state file.
func (ev *evidence) seal(out plog.Logs) {
	items := ev.items[:0]
	rls := out.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		ra := rl.Resource().Attributes()
		keys := make([]string, 0, ra.Len()+1)
		for k := range ra.All() {
			if k != chain.AttrResourceKeys {
				keys = append(keys, k)
			}
		}
		keys = append(keys, chain.AttrResourceKeys)
		slices.Sort(keys)
		ks := ra.PutEmptySlice(chain.AttrResourceKeys)
		ks.EnsureCapacity(len(keys))
		for _, k := range keys {
			ks.AppendEmpty().SetStr(k)
		}
		rd := ev.hasher.ResourceSum(rl.Resource()) // once for all its records
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				// finish gave the numbers in this order
				items = append(items, chainItem{ev.seqs[len(items)], lrs.At(k), rd})
			}
		}
	}
	order := ev.inOrder(items)
	// The previous hashes in hex, one after the other: each record is
	// hashed as it will be with its AttrPrev, and the values are then
	// written as slices of one string (one allocation per batch, not one
	// per record; the batch's records are handed on together).
	const hexLen = 2 * len(chain.Hash{})
	prevs := slices.Grow(ev.hexBuf[:0], hexLen*len(items))[:hexLen*len(items)]
	var ck *chainItem
	refs := ev.formRefs // in the order of their numbers, like order
	for i, j := range order {
		it := &items[j]
		prev := prevs[i*hexLen : (i+1)*hexLen]
		hex.Encode(prev, ev.head[:])
		for len(refs) > 0 && refs[0].seq < it.seq {
			refs = refs[1:] // a record the builder's resource filters dropped
		}
		if len(refs) > 0 && refs[0].seq == it.seq {
			// A creation record: its form from add.
			r := refs[0]
			ev.head = ev.form.Sum(r.shape, ev.forms[r.start:r.end], r.hole-r.start, prev, it.res)
			continue
		}
		if it.lr.EventName() != chain.EventCheckpoint {
			ev.head = ev.hasher.SumWith(it.lr, it.res, chain.AttrPrev, prev)
			continue
		}
		it.lr.Attributes().PutStr(chain.AttrPrev, string(prev))
		switch {
		case ev.key != nil:
			// The signer is covered, the signature is not.
			it.lr.Attributes().PutStr(chain.AttrSigner, ev.signer)
			ev.head = ev.hasher.Sum(it.lr, it.res)
			_, sig := chain.Sign(ev.key, ev.head)
			it.lr.Attributes().PutStr(chain.AttrSignature, sig)
		case ev.svid != nil:
			ev.head = ev.hasher.Sum(it.lr, it.res) // when no SVID signs it
			ev.signSVID(it)
		default:
			ev.head = ev.hasher.Sum(it.lr, it.res)
		}
		ck = it
	}
	all := string(prevs)
	for i, j := range order {
		if it := &items[j]; it.lr.EventName() != chain.EventCheckpoint {
			it.lr.Attributes().PutStr(chain.AttrPrev, all[i*hexLen:(i+1)*hexLen])
		}
	}
	ev.hexBuf = prevs[:0]
	if ck != nil && ev.stateFile != "" {
		if err := writeState(ev.stateFile, ev.stream, ck.seq, ev.head); err != nil {
			ev.set.Logger.Warn("Cannot keep the last evidence checkpoint: the next run's stream will not name this one",
				zap.String("evidence::state_file", ev.stateFile), zap.Error(err))
		}
	}
	clear(items)
	ev.items = items[:0]
}

// signSVID signs the checkpoint it with the newest SVID: its SPIFFE ID
// and chain are covered, the signature is not. Without an SVID valid at the
// checkpoint's time the checkpoint stays unsigned (and is said in the log):
// the verifier reports it.
func (ev *evidence) signSVID(it *chainItem) {
	s := ev.svid()
	at := it.lr.Timestamp().AsTime()
	if s == nil || at.After(s.Chain[0].NotAfter) || at.Before(s.Chain[0].NotBefore) {
		ev.set.Logger.Warn("No X.509 SVID valid now: this evidence checkpoint is not signed",
			zap.Uint64("seq", it.seq), zap.String("evidence::signing_workload_socket", ev.socket))
		return
	}
	signer, certs := chain.SVIDSigner(s.ID, s.Chain)
	a := it.lr.Attributes()
	a.PutStr(chain.AttrSigner, signer)
	cs := a.PutEmptySlice(chain.AttrSignerChain)
	cs.EnsureCapacity(len(certs))
	for _, c := range certs {
		cs.AppendEmpty().SetStr(c)
	}
	ev.head = ev.hasher.Sum(it.lr, it.res)
	sig, err := chain.SignSVID(s.Key, ev.head)
	if err != nil {
		ev.set.Logger.Warn("Signing an evidence checkpoint with the X.509 SVID failed: it is not signed",
			zap.Uint64("seq", it.seq), zap.String("spiffe_id", s.ID), zap.Error(err))
		return
	}
	a.PutStr(chain.AttrSignature, sig)
}

// inOrder returns the indices of items in the order of their numbers. A
// take's numbers are nearly contiguous (only shed numbers are missing, and
// a gap record stands for a run of them), so they are placed by number in
// one pass; a sort when they are not. Only indices move: the items, which
// hold pointers, are not copied.
func (ev *evidence) inOrder(items []chainItem) []int32 {
	order := ev.sorted[:0]
	for i := range items {
		order = append(order, int32(i))
	}
	ev.sorted = order
	if len(items) < 2 {
		return order
	}
	lo, hi := items[0].seq, items[0].seq
	for _, it := range items[1:] {
		lo, hi = min(lo, it.seq), max(hi, it.seq)
	}
	span := hi - lo + 1
	if span > uint64(4*len(items)) {
		slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(items[a].seq, items[b].seq) })
		return order
	}
	if cap(ev.slots) < int(span) {
		ev.slots = make([]int32, span)
	}
	slots := ev.slots[:span]
	for i := range slots {
		slots[i] = -1
	}
	for i, it := range items {
		slots[it.seq-lo] = int32(i)
	}
	order = order[:0]
	for _, i := range slots {
		if i >= 0 {
			order = append(order, i)
		}
	}
	return order
}

// end ends the stream: nothing more is recorded or taken.
func (ev *evidence) end() {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.done = true
}

// ended is true once end was called.
func (ev *evidence) ended() bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.done
}

// Shed returns the records shed since start, in all and by the cgroup v2
// id of their samples (a copy; 0: cgroups past probe.LostCgroupsMax).
func (ev *evidence) Shed() (uint64, map[uint64]uint64) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.shed, maps.Clone(ev.shedByCg)
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

// setKey signs the checkpoints with key.
func (ev *evidence) setKey(key ed25519.PrivateKey) {
	ev.key = key
	ev.signer = chain.SignerPrefix + hex.EncodeToString(key.Public().(ed25519.PublicKey))
}

// readSigningKey reads evidence::signing_key_file.
func readSigningKey(file string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	k, err := chain.ReadPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return k, nil
}

// streamState is what evidence::state_file keeps: the stream's last
// checkpoint.
type streamState struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Hash   string `json:"hash"`
}

// previous is the kernelevents.evidence.checkpoint.previous value.
func (s streamState) previous() string {
	return s.Stream + " " + strconv.FormatUint(s.Seq, 10) + " " + s.Hash
}

// readState reads the state file; a missing file is no previous stream.
func readState(file string) (string, error) {
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var s streamState
	if err := json.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	if _, err := chain.ParseHash(s.Hash); err != nil || s.Stream == "" {
		return "", fmt.Errorf("%s: not a checkpoint (stream %q, hash %q)", file, s.Stream, s.Hash)
	}
	return s.previous(), nil
}

// writeState replaces the state file (a new file renamed over it: a crash
// leaves the old or the new one).
func writeState(file, stream string, seq uint64, h chain.Hash) error {
	b, err := json.Marshal(streamState{Stream: stream, Seq: seq, Hash: h.String()})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
