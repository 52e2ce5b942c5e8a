// SPDX-License-Identifier: Apache-2.0

// Package verify checks evidence streams (internal/evidence/chain) in OTLP
// JSON logs, one ExportLogsServiceRequest a line (the file exporter's
// format), reading line by line: memory is bounded by Options.Window, not by
// the input.
package verify // import "github.com/kernelevents/kernelevents/internal/evidence/verify"

import (
	"bufio"
	"container/heap"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kernelevents/kernelevents/internal/evidence/chain"
)

// Options are the verifier's settings.
type Options struct {
	// Trusted, when set, is the file key every checkpoint must be signed
	// with (or, with Roots too, an SVID of Roots);
	// an unsigned checkpoint is then a break.
	Trusted ed25519.PublicKey
	// Roots, when set, is the SPIFFE trust bundle (X.509 roots) every
	// checkpoint's SVID must verify to at the checkpoint's time; an
	// unsigned checkpoint is then a break.
	Roots *x509.CertPool
	// Window bounds the records held per stream while waiting for a lower
	// number (records of one batch are grouped by workload, batches may
	// arrive out of order): past it the lowest missing numbers are a hole.
	// 0: DefaultWindow.
	Window int
	// AllowOpen accepts a stream without its final checkpoint (a collector
	// still running); its records after the last checkpoint are reported as
	// not sealed either way.
	AllowOpen bool
	// Progress, when set, gets a line every ProgressEvery of input.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// DefaultWindow is Options.Window's default.
const DefaultWindow = 1 << 20

// maxListed bounds the holes and breaks listed per stream (all are counted).
const maxListed = 1000

// Hole is a run of numbers no record in the input has.
type Hole struct {
	From, To      uint64    // numbers, inclusive
	After, Before time.Time // observed times of the records around it (zero: none)
}

// Break is a record the chain does not accept, or a stream-level failure.
type Break struct {
	Seq    uint64
	Reason string
}

// Stream is what the input holds of one stream.
type Stream struct {
	ID                               string
	Records                          uint64 // distinct numbers present
	Created, Gaps, Checkpoints       uint64
	Duplicates                       uint64 // the same record again (a retry)
	Holes                            []Hole
	HoleCount, Missing               uint64 // holes and the numbers in them: lost in transport
	Breaks                           []Break
	BreakCount                       uint64
	SignedValid, SignedBad, Unsigned uint64
	// Signers are the signers of the valid signatures (AttrSigner: the
	// file key or the SPIFFE ID of the SVID), in order of first use.
	Signers  []string
	ShedSeen uint64 // shed numbers the gap records state
	// The last checkpoint in order: what the receiver declared.
	LastCheckpoint                    uint64
	HaveCheckpoint, Final             bool
	DeclaredCreated, DeclaredReceived uint64
	DeclaredShed                      uint64
	DeclaredLost                      map[string]int64
	// DeclaredLostByCgroup: the losses whose cgroup is known, by cgroup v2
	// id (decimal; "0": cgroups past the first 1024), then by reason
	// (evidence_shed: the records the rate limit shed).
	DeclaredLostByCgroup map[string]map[string]int64
	Previous, Link       string // the previous stream named, and whether that link holds
	Unsealed             uint64 // records after the last checkpoint
	First, Last          time.Time

	requireSig bool
	// ordering state
	next      uint64
	haveLast  bool
	lastHash  chain.Hash
	lastTime  time.Time
	pending   map[uint64]*entry
	seqs      seqHeap
	shedTo    map[uint64]uint64 // shed range start → the gap record's number
	ckHash    map[uint64]chain.Hash
	sinceCk   uint64
	createdIn uint64 // creation records taken in order
}

type entry struct {
	seq        uint64
	hash, prev chain.Hash
	observed   time.Time
	event      string
	shedFrom   uint64
	shed       uint64
	ck         *checkpoint
}

type checkpoint struct {
	final                   bool
	created, received, shed int64
	lost                    map[string]int64
	lostByCgroup            map[string]map[string]int64
	previous                string
	signer                  string
	sigErr                  error
}

// Report is the verdict on the whole input.
type Report struct {
	Lines, BadLines uint64
	BadLineErrs     []string
	Outside         uint64 // log records of no stream (other logs)
	Streams         []*Stream
	streams         map[string]*Stream
	opts            Options
	hasher          chain.Hasher
	bytes           uint64
	lastProgress    time.Time
}

// OK is true when nothing is broken: no bad line, and in every stream no
// hole, no break, no bad signature, and a final checkpoint (or AllowOpen).
func (r *Report) OK() bool {
	if r.BadLines > 0 {
		return false
	}
	for _, s := range r.Streams {
		if s.HoleCount > 0 || s.BreakCount > 0 || s.SignedBad > 0 {
			return false
		}
	}
	return true
}

// Run reads in to its end and verifies it.
func Run(in io.Reader, opts Options) (*Report, error) {
	r := New(opts)
	if err := r.Read(in); err != nil {
		return nil, err
	}
	r.Finish()
	return r, nil
}

// New starts a report: Read each input (the files of a rotation in any
// order), then Finish.
func New(opts Options) *Report {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	return &Report{streams: map[string]*Stream{}, opts: opts, lastProgress: time.Now()}
}

// Read verifies the records of one input, line by line.
func (r *Report) Read(in io.Reader) error {
	br := bufio.NewReaderSize(in, 1<<20)
	u := plog.JSONUnmarshaler{}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			r.bytes += uint64(len(line))
			r.Lines++
			r.line(&u, line)
		}
		if r.opts.Progress != nil && time.Since(r.lastProgress) >= r.opts.ProgressEvery {
			r.lastProgress = time.Now()
			var records uint64
			for _, s := range r.Streams {
				records += s.Records
			}
			fmt.Fprintf(r.opts.Progress, "read %.1f MB, %d lines, %d records in order in %d streams\n",
				float64(r.bytes)/1e6, r.Lines, records, len(r.Streams))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *Report) line(u *plog.JSONUnmarshaler, line []byte) {
	trimmed := strings.TrimSpace(string(line))
	if trimmed == "" {
		return
	}
	ld, err := u.UnmarshalLogs([]byte(trimmed))
	if err != nil {
		r.BadLines++
		if len(r.BadLineErrs) < maxListed {
			what := "not OTLP JSON"
			if line[len(line)-1] != '\n' {
				what = "the last line is cut (truncated file)"
			}
			r.BadLineErrs = append(r.BadLineErrs, fmt.Sprintf("line %d: %s: %v", r.Lines, what, err))
		}
		return
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		// The stream and the resource's digest, once for all its records.
		sv, inStream := rls.At(i).Resource().Attributes().Get(chain.AttrStream)
		var s *Stream
		var res chain.Hash
		if inStream {
			s, res = r.stream(sv.AsString()), r.hasher.ResourceSum(rls.At(i).Resource())
		}
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			if !inStream {
				r.Outside += uint64(lrs.Len())
				continue
			}
			for k := 0; k < lrs.Len(); k++ {
				r.record(s, lrs.At(k), res)
			}
		}
	}
}

func (r *Report) stream(id string) *Stream {
	s, ok := r.streams[id]
	if !ok {
		s = &Stream{ID: id, requireSig: r.opts.Trusted != nil || r.opts.Roots != nil, pending: map[uint64]*entry{}, shedTo: map[uint64]uint64{}, ckHash: map[uint64]chain.Hash{}}
		r.streams[id] = s
		r.Streams = append(r.Streams, s)
	}
	return s
}

func (s *Stream) brk(seq uint64, format string, args ...any) {
	s.BreakCount++
	if len(s.Breaks) < maxListed {
		s.Breaks = append(s.Breaks, Break{seq, fmt.Sprintf(format, args...)})
	}
}

func (r *Report) record(s *Stream, lr plog.LogRecord, res chain.Hash) {
	attrs := lr.Attributes()
	seqV, ok := attrs.Get(chain.AttrSeq)
	if !ok || seqV.Type() != pcommon.ValueTypeInt || seqV.Int() < 0 {
		s.brk(0, "a record without a number (%s): altered", chain.AttrSeq)
		return
	}
	e := &entry{seq: uint64(seqV.Int()), event: lr.EventName(), observed: lr.ObservedTimestamp().AsTime()}
	e.hash = r.hasher.Sum(lr, res)
	var err error
	if e.prev, err = chain.ParseHash(attr(attrs, chain.AttrPrev).AsString()); err != nil {
		s.brk(e.seq, "record %d: %s: %v", e.seq, chain.AttrPrev, err)
	}
	if e.seq < s.next {
		s.Duplicates++ // taken already: a retry, or a copy (it cannot replace the one taken)
		return
	}
	if old, ok := s.pending[e.seq]; ok {
		if old.hash == e.hash {
			s.Duplicates++
		} else {
			s.brk(e.seq, "two different records numbered %d", e.seq)
		}
		return
	}
	switch e.event {
	case chain.EventGap:
		e.shed, e.shedFrom = uint64(attr(attrs, chain.AttrShed).Int()), uint64(attr(attrs, chain.AttrShedFrom).Int())
		if e.shed == 0 || e.shedFrom+e.shed != e.seq {
			s.brk(e.seq, "gap record %d states %d shed from %d: they do not end before it", e.seq, e.shed, e.shedFrom)
		} else {
			s.shedTo[e.shedFrom] = e.seq
		}
	case chain.EventCheckpoint:
		e.ck = readCheckpoint(lr, e.hash, chain.Trust{Key: r.opts.Trusted, Roots: r.opts.Roots})
		s.ckHash[e.seq] = e.hash
	}
	s.pending[e.seq] = e
	heap.Push(&s.seqs, e.seq)
	s.advance()
	if len(s.pending) > r.opts.Window {
		s.hole()
		s.advance()
	}
}

func readCheckpoint(lr plog.LogRecord, h chain.Hash, trust chain.Trust) *checkpoint {
	attrs := lr.Attributes()
	ck := &checkpoint{}
	get := func(k string) pcommon.Value { return attr(attrs, k) }
	ck.final = get(chain.AttrFinal).Bool()
	ck.created = get(chain.AttrCreated).Int()
	ck.received = get(chain.AttrReceived).Int()
	ck.shed = get(chain.AttrShedTotal).Int()
	ck.previous = get(chain.AttrPrevious).AsString()
	ck.lost, ck.lostByCgroup = intMap(get(chain.AttrLost)), intMaps(get(chain.AttrLostByCg))
	sig := chain.Signature{Signer: get(chain.AttrSigner).AsString(), Value: get(chain.AttrSignature).AsString(), Time: lr.Timestamp().AsTime()}
	if v := get(chain.AttrSignerChain); v.Type() == pcommon.ValueTypeSlice {
		for i := 0; i < v.Slice().Len(); i++ {
			sig.Chain = append(sig.Chain, v.Slice().At(i).AsString())
		}
	}
	ck.signer = sig.Signer
	ck.sigErr = chain.Verify(h, sig, trust)
	return ck
}

// advance takes the records in order while the next number is there (or
// was shed, stated by a gap record).
func (s *Stream) advance() {
	for {
		if to, ok := s.shedTo[s.next]; ok {
			delete(s.shedTo, s.next)
			s.next = to
		}
		e, ok := s.pending[s.next]
		if !ok {
			return
		}
		delete(s.pending, s.next)
		heap.Pop(&s.seqs)
		s.take(e)
	}
}

func (s *Stream) take(e *entry) {
	switch {
	case s.haveLast && e.prev != s.lastHash:
		s.brk(e.seq, "record %d does not follow record %d: one of them was altered, or records were reordered", e.seq, e.seq-1)
	case !s.haveLast && e.seq == 0 && e.prev != (chain.Hash{}):
		s.brk(e.seq, "record 0 names a previous record: altered")
	}
	s.haveLast, s.lastHash, s.next = true, e.hash, e.seq+1
	s.Records++
	s.sinceCk++
	if s.First.IsZero() {
		s.First = e.observed
	}
	s.lastTime, s.Last = e.observed, e.observed
	switch e.event {
	case chain.EventCreated:
		s.Created++
		s.createdIn++
	case chain.EventGap:
		s.Gaps++
		s.ShedSeen += e.shed
	case chain.EventCheckpoint:
		s.checkpoint(e)
	}
}

func (s *Stream) checkpoint(e *entry) {
	ck := e.ck
	s.Checkpoints++
	switch {
	case ck.sigErr == nil:
		s.SignedValid++
		if !slices.Contains(s.Signers, ck.signer) && len(s.Signers) < maxListed {
			s.Signers = append(s.Signers, ck.signer)
		}
	case errors.Is(ck.sigErr, chain.ErrUnsigned):
		s.Unsigned++
		if s.requireSig {
			s.brk(e.seq, "checkpoint %d is not signed, and a trusted key or trust bundle was given", e.seq)
		}
	default:
		s.SignedBad++
		s.brk(e.seq, "checkpoint %d: %v", e.seq, ck.sigErr)
	}
	if s.Missing == 0 {
		// Every record up to here is present: the counts must add up.
		if uint64(ck.created) != s.createdIn {
			s.brk(e.seq, "checkpoint %d declares %d creation records, the stream has %d", e.seq, ck.created, s.createdIn)
		}
		if uint64(ck.shed) != s.ShedSeen {
			s.brk(e.seq, "checkpoint %d declares %d shed, the gap records state %d", e.seq, ck.shed, s.ShedSeen)
		}
	}
	// The records shed by cgroup are counted with the total: they add up.
	var shedByCg int64
	for _, by := range ck.lostByCgroup {
		shedByCg += by[chain.LostEvidenceShed]
	}
	if shedByCg != ck.shed {
		s.brk(e.seq, "checkpoint %d declares %d shed, and %d shed by cgroup", e.seq, ck.shed, shedByCg)
	}
	if ck.previous != "" && s.Previous == "" {
		s.Previous = ck.previous
	}
	s.HaveCheckpoint, s.LastCheckpoint, s.Final = true, e.seq, ck.final
	s.DeclaredCreated, s.DeclaredReceived, s.DeclaredShed = uint64(ck.created), uint64(ck.received), uint64(ck.shed)
	s.DeclaredLost, s.DeclaredLostByCgroup = ck.lost, ck.lostByCgroup
	s.sinceCk = 0
}

// hole gives up waiting for the next number: the numbers up to the lowest
// one held are missing.
func (s *Stream) hole() {
	for s.seqs.Len() > 0 {
		low := s.seqs[0]
		e, ok := s.pending[low]
		if !ok {
			heap.Pop(&s.seqs) // taken already
			continue
		}
		end := low // the lowest number held, or the first stated shed
		for from := range s.shedTo {
			if from > s.next && from < end {
				end = from
			}
		}
		h := Hole{From: s.next, To: end - 1, Before: e.observed}
		if g, ok := s.pending[s.shedTo[end]]; end != low && ok {
			h.Before = g.observed // the gap record stating the shed run after the hole
		}
		if s.haveLast {
			h.After = s.lastTime
		}
		s.addHole(h)
		s.next, s.haveLast = end, false // the chain cannot be checked across a hole
		return
	}
}

func (s *Stream) addHole(h Hole) {
	s.HoleCount++
	s.Missing += h.To - h.From + 1
	if len(s.Holes) < maxListed {
		s.Holes = append(s.Holes, h)
	}
}

// Finish declares what is still missing and checks the restart links.
func (r *Report) Finish() {
	for _, s := range r.Streams {
		for len(s.pending) > 0 {
			s.hole()
			s.advance()
		}
		s.Unsealed = s.sinceCk
		if !s.Final {
			what := "no final checkpoint"
			if s.HaveCheckpoint {
				what = fmt.Sprintf("no final checkpoint after checkpoint %d: the input is cut, or the receiver still runs or stopped without one", s.LastCheckpoint)
			}
			if !r.opts.AllowOpen {
				s.brk(s.next, "%s; %d records after it are not sealed, and records past number %d would leave no hole", what, s.Unsealed, s.next-1)
			}
		}
	}
	// Restart links: a stream's first checkpoint names the previous stream's
	// last checkpoint.
	for _, s := range r.Streams {
		if s.Previous == "" {
			continue
		}
		f := strings.Fields(s.Previous)
		if len(f) != 3 {
			s.brk(0, "previous stream %q: not \"<stream> <seq> <hash>\"", s.Previous)
			continue
		}
		p, ok := r.streams[f[0]]
		if !ok {
			s.Link = "previous stream " + f[0] + " not in the input"
			continue
		}
		seq, _ := strconv.ParseUint(f[1], 10, 64)
		h, ok := p.ckHash[seq]
		switch {
		case !ok:
			s.brk(0, "names checkpoint %d of stream %s, which the input does not have", seq, f[0])
		case h.String() != f[2]:
			s.brk(0, "names checkpoint %d of stream %s with hash %s, the input's has %s", seq, f[0], f[2], h)
		case p.HaveCheckpoint && p.LastCheckpoint != seq:
			s.brk(0, "names checkpoint %d of stream %s, whose last is %d", seq, f[0], p.LastCheckpoint)
		default:
			s.Link = fmt.Sprintf("continues stream %s after its checkpoint %d", f[0], seq)
		}
	}
}

// Write prints the report.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "%d lines, %d streams, %d records of no stream\n", r.Lines, len(r.Streams), r.Outside)
	for _, e := range r.BadLineErrs {
		fmt.Fprintf(w, "BAD LINE %s\n", e)
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "?"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	for _, s := range r.Streams {
		fmt.Fprintf(w, "\nstream %s\n", s.ID)
		fmt.Fprintf(w, "  records: %d present (%d creations, %d gap records, %d checkpoints), numbers 0 to %d, %d duplicates, from %s to %s\n",
			s.Records, s.Created, s.Gaps, s.Checkpoints, s.next-1, s.Duplicates, ts(s.First), ts(s.Last))
		fmt.Fprintf(w, "  checkpoints: %d signed and valid, %d bad signatures, %d unsigned\n", s.SignedValid, s.SignedBad, s.Unsigned)
		if len(s.Signers) > 0 {
			fmt.Fprintf(w, "  signed by: %s\n", strings.Join(s.Signers, ", "))
		}
		if s.HaveCheckpoint {
			fmt.Fprintf(w, "  declared by the receiver (checkpoint %d, final %v): %d creation records, %d shed by the rate limit (gap records state %d), %d samples received, lost in the kernel: %s\n",
				s.LastCheckpoint, s.Final, s.DeclaredCreated, s.DeclaredShed, s.ShedSeen, s.DeclaredReceived, kv(s.DeclaredLost))
			if len(s.DeclaredLostByCgroup) > 0 {
				fmt.Fprintf(w, "  lost by workload, by cgroup id (0: past the first 1024) and reason:\n")
				for _, cg := range slices.Sorted(maps.Keys(s.DeclaredLostByCgroup)) {
					fmt.Fprintf(w, "    cgroup %s: %s\n", cg, kv(s.DeclaredLostByCgroup[cg]))
				}
			}
		}
		fmt.Fprintf(w, "  lost in transport: %d records in %d holes\n", s.Missing, s.HoleCount)
		for _, h := range s.Holes {
			fmt.Fprintf(w, "  HOLE numbers %d to %d (%d records) between %s and %s\n", h.From, h.To, h.To-h.From+1, ts(h.After), ts(h.Before))
		}
		for _, b := range s.Breaks {
			fmt.Fprintf(w, "  BREAK at %d: %s\n", b.Seq, b.Reason)
		}
		if s.Unsealed > 0 {
			fmt.Fprintf(w, "  not sealed: %d records after the last checkpoint\n", s.Unsealed)
		}
		if s.Link != "" {
			fmt.Fprintf(w, "  link: %s\n", s.Link)
		}
	}
	if r.OK() {
		fmt.Fprintln(w, "\nOK")
	} else {
		fmt.Fprintln(w, "\nBROKEN")
	}
}

// seqHeap is a min-heap of numbers.
type seqHeap []uint64

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// attr is m's value at k, empty when absent.
func attr(m pcommon.Map, k string) pcommon.Value {
	if v, ok := m.Get(k); ok {
		return v
	}
	return pcommon.NewValueEmpty()
}

func intMap(v pcommon.Value) map[string]int64 {
	if v.Type() != pcommon.ValueTypeMap {
		return nil
	}
	out := map[string]int64{}
	for k, x := range v.Map().All() {
		out[k] = x.Int()
	}
	return out
}

// intMaps reads a map of maps of integers (the losses by cgroup, then
// reason).
func intMaps(v pcommon.Value) map[string]map[string]int64 {
	if v.Type() != pcommon.ValueTypeMap {
		return nil
	}
	out := map[string]map[string]int64{}
	for k, x := range v.Map().All() {
		out[k] = intMap(x)
	}
	return out
}

// kv is m as "k=v" pairs in key order.
func kv(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
