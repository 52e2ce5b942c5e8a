// SPDX-License-Identifier: Apache-2.0

// Package aggregate keeps the series of the file-creation counter: one per
// distinct set of enabled attributes, bounded by a hard cap past which
// increments go to a single overflow series.
//
// Add runs on the reader goroutine for every sample and allocates nothing
// once a series exists; Range runs at each collection interval.
package aggregate

import (
	"bytes"
	"path"
	"sync"
	"time"

	"github.com/kernelevents/kernelevents/internal/event"
)

// Options says which attributes make a series and how many series to keep.
type Options struct {
	// DirectoryDepth cuts file.directory to this many components from the
	// root; 0 turns the attribute off.
	DirectoryDepth int
	// MaxSeries is the hard cap on series; creations past it are counted in
	// the overflow series. It must be at least 1.
	MaxSeries int
	// TTL drops series not incremented for this long (at Range time); 0
	// keeps them for the receiver's lifetime.
	TTL time.Duration
	// Which attributes are part of the key.
	Comm, EUID, Hook, Path, PID, Op bool
	// Workload, when set, maps a sample to a workload id (0 for none): the
	// resource the series belongs to. It runs on the reader goroutine.
	Workload func(*event.Event) uint32
}

// Key identifies a series. Strings are interned ids so that the key is
// comparable without allocating.
type Key struct {
	Workload uint32
	Comm     [event.CommLen]byte
	EUID     uint32 // process.user.id
	PID      uint32
	Hook     event.HookID
	Op       event.Op
	Dir      uint32
	Path     uint32
}

// Series is one counter.
type Series struct {
	Key   Key
	Count uint64
	last  time.Time
	// unseen: counted since the last Range, so not yet emitted. The TTL
	// never drops such a series: every increment reaches at least one
	// collection, however late that collection runs.
	unseen bool
}

// Table holds the series. Its methods are safe for concurrent use.
type Table struct {
	opts     Options
	mu       sync.Mutex
	series   map[Key]*Series
	overflow uint64
	strs     interner
	now      func() time.Time
}

// New returns an empty table.
func New(opts Options) *Table {
	if opts.MaxSeries < 1 {
		opts.MaxSeries = 1
	}
	return &Table{
		opts:   opts,
		series: make(map[Key]*Series, min(opts.MaxSeries, 1024)),
		strs:   newInterner(),
		now:    time.Now,
	}
}

// Add counts one creation.
func (t *Table) Add(e *event.Event) {
	var w uint32
	if t.opts.Workload != nil {
		w = t.opts.Workload(e)
	}
	t.AddAs(e, w)
}

// AddAs counts one creation by workload w (the receiver resolves workloads
// off the reader goroutine and calls this when it knows).
func (t *Table) AddAs(e *event.Event, w uint32) {
	p := e.Path
	if e.NameAsWritten() && needsClean(p) {
		// mknod, link and rename names may be as the caller passed them
		// ("./x", "a/../b").
		p = []byte(path.Clean(string(p)))
	}
	k := Key{Workload: w}
	if t.opts.Comm {
		copy(k.Comm[:], e.Comm)
	}
	if t.opts.EUID {
		k.EUID = e.EUID
	}
	if t.opts.PID {
		k.PID = e.TGID
	}
	if t.opts.Hook {
		k.Hook = e.Hook
	}
	if t.opts.Op {
		k.Op = e.Op
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	full := len(t.series) >= t.opts.MaxSeries
	var ok bool
	if t.opts.DirectoryDepth > 0 {
		dir := []byte(DirUnresolved)
		if !e.DirUnknown() {
			dir = DirLabel(p, e.Flags, t.opts.DirectoryDepth)
		}
		if k.Dir, ok = t.strs.get(dir, !full); !ok {
			t.overflow++
			return
		}
	}
	if t.opts.Path {
		if k.Path, ok = t.strs.get(p, !full); !ok {
			t.overflow++
			return
		}
	}
	s := t.series[k]
	if s == nil {
		if full {
			t.overflow++
			return
		}
		s = &Series{Key: k}
		t.series[k] = s
	}
	s.Count++
	if t.opts.TTL > 0 {
		s.last = t.now()
		s.unseen = true
	}
}

// Overflow returns the creations counted past MaxSeries.
func (t *Table) Overflow() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.overflow
}

// Len returns the number of series.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.series)
}

// Range calls fn for each series with its directory and path strings, after
// dropping series older than the TTL that an earlier Range already passed
// to fn since their last increment (a collection that runs late, or a TTL
// shorter than the collection interval, never drops a count unemitted). fn must not call the table. The strings
// are labels (event.Label): valid UTF-8, the kernel's other bytes escaped, so
// that a directory with a name that is not UTF-8 cannot make an exporter
// refuse the series.
func (t *Table) Range(fn func(s *Series, dir, path string)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.opts.TTL > 0 {
		t.expire()
	}
	for _, s := range t.series {
		fn(s, event.Label(t.strs.str(s.Key.Dir)), event.Label(t.strs.str(s.Key.Path)))
		s.unseen = false
	}
}

// expire drops stale series and rebuilds the interner from the live ones, so
// memory follows the live set rather than everything ever seen.
func (t *Table) expire() {
	cutoff := t.now().Add(-t.opts.TTL)
	dropped := false
	for k, s := range t.series {
		if !s.unseen && s.last.Before(cutoff) {
			delete(t.series, k)
			dropped = true
		}
	}
	if !dropped {
		return
	}
	old := t.strs
	t.strs = newInterner()
	rekeyed := make(map[Key]*Series, len(t.series))
	for k, s := range t.series {
		if t.opts.DirectoryDepth > 0 {
			k.Dir, _ = t.strs.get([]byte(old.str(k.Dir)), true)
		}
		if t.opts.Path {
			k.Path, _ = t.strs.get([]byte(old.str(k.Path)), true)
		}
		s.Key = k
		rekeyed[k] = s
	}
	t.series = rekeyed
}

// Labels for directories that a cut path cannot name whole. Neither starts
// with "/", so neither can be the directory of a path resolved whole.
const (
	// DirUnresolved is the file.directory of a path whose directory on the
	// node is not known (event.Event.DirUnknown): its root side cut off
	// (event.FlagRootless), a mknod name the kernel could not resolve
	// (event.FlagUnresolved), or a filesystem the node does not mount
	// (event.WhereNodeUnknown).
	DirUnresolved = "unresolved"
	// DirTruncatedPrefix starts the file.directory of a path cut on the leaf
	// side (event.FlagTruncated) before depth whole directories: the rest
	// of the label is the deepest directory the cut path names whole, an
	// ancestor of the file's real directory.
	DirTruncatedPrefix = "truncated:"
)

// DirLabel returns the file.directory label of a sample's path p: Dir(p,
// depth) when p was resolved whole, or when it was cut on the leaf side after
// depth whole directories (the label is then exact); otherwise one of the
// labels above, so that a cut path never passes for a directory it is not.
func DirLabel(p []byte, flags event.Flags, depth int) []byte {
	if flags&event.FlagRootless != 0 {
		return []byte(DirUnresolved)
	}
	d := Dir(p, depth)
	if flags&event.FlagTruncated == 0 {
		return d
	}
	// The last component of a cut path may itself be cut: Dir dropped it.
	if n := bytes.Count(d, []byte{'/'}); n >= depth && len(d) > 1 {
		return d
	}
	return append([]byte(DirTruncatedPrefix), d...)
}

// Dir returns the directory of p cut to depth components from the root:
// Dir("/var/lib/app/x", 2) is "/var/lib", Dir("/x", 2) is "/". A relative
// p (a truncated walk) is cut the same way without the leading slash.
func Dir(p []byte, depth int) []byte {
	i := bytes.LastIndexByte(p, '/')
	if i < 0 {
		return nil
	}
	if i == 0 {
		return p[:1]
	}
	dir := p[:i]
	n := 0
	for j := 1; j < len(dir); j++ {
		if dir[j] == '/' {
			n++
			if n == depth {
				return dir[:j]
			}
		}
	}
	return dir
}

func needsClean(p []byte) bool {
	return bytes.Contains(p, []byte("/.")) || bytes.Contains(p, []byte("//"))
}

// interner maps strings to small ids; id 0 is the empty string.
type interner struct {
	ids  map[string]uint32
	strs []string
}

func newInterner() interner {
	return interner{ids: map[string]uint32{"": 0}, strs: []string{""}}
}

// get returns b's id, adding it when add is set. The map lookup with
// string(b) does not allocate.
func (in *interner) get(b []byte, add bool) (uint32, bool) {
	if id, ok := in.ids[string(b)]; ok {
		return id, true
	}
	if !add {
		return 0, false
	}
	s := string(b)
	id := uint32(len(in.strs))
	in.strs = append(in.strs, s)
	in.ids[s] = id
	return id, true
}

func (in *interner) str(id uint32) string { return in.strs[id] }
