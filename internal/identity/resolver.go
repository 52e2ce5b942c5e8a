// SPDX-License-Identifier: Apache-2.0

// Package identity binds each created file to who created it: from what the
// kernel sample carries (tgid and the process's start time, effective and
// real uid, gid, cgroup id, the executable's device and inode) it resolves,
// in user space, the executable path, user name, cgroup path, container id
// and pod uid, applies the identity rules, and names the result as a
// workload: the resource a series belongs to.
//
// The reader goroutine never waits for that work. Lookup answers from the
// cache or queues the sample for the resolver's workers, which read /proc and
// the cgroup filesystem without holding the resolver's lock and hand the
// sample back through the deliver function given to Start.
//
// Nothing read from /proc is believed without a check against the sample:
// /proc/<pid> must still be the process that created the file (its start
// time), /proc/<pid>/exe must be the executable that ran then (device and
// inode, and the same exec by the kernel's record), and a cgroup path is the
// one the kernel returns for the sample's cgroup id (open_by_handle_at), or
// one whose id was checked to be it. Nothing is read from the creator's own
// view of the world: an executable is named where its file is on the node
// (the kernel's record of the exec, placed in the node's mount table), a
// user by the node's /etc/passwd.
package identity

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kernelevents/kernelevents/internal/event"
)

// Resource attribute names the resolver sets on a workload.
const (
	AttrContainerID = "container.id"
	AttrPodUID      = "k8s.pod.uid"
	AttrCgroupPath  = "kernelevents.cgroup.path"
	// AttrOverflow marks the one workload that takes samples past
	// MaxWorkloads.
	AttrOverflow = "kernelevents.identity.overflow"
)

// Reserved workload ids.
const (
	// HostWorkload has no attributes: no container, no rule.
	HostWorkload uint32 = 0
	// OverflowWorkload takes samples whose workload would exceed
	// MaxWorkloads; its resource says kernelevents.identity.overflow=true.
	OverflowWorkload uint32 = 1
)

// Options configure a Resolver.
type Options struct {
	// Rules bind facts to identities; nil means none.
	Rules *Rules
	// Unmatched are the attributes of workloads no rule matched.
	Unmatched map[string]string
	// CacheTTL bounds how long a process's facts are trusted. Default 30s.
	CacheTTL time.Duration
	// MaxProcesses bounds the process cache; default 16384.
	MaxProcesses int
	// MaxWorkloads bounds the workloads alive at once; past it samples go
	// to OverflowWorkload and are counted in Overflow. Default 20000 (two
	// per series at the default max_series).
	MaxWorkloads int
	// MaxPending bounds the samples waiting for their creator's lookup;
	// past it a sample is resolved from the caches and the sample alone,
	// and counted in Unresolved. Default 65536.
	MaxPending int
	// Workers is the number of lookup goroutines; default 2.
	Workers int
	// Grace keeps a workload, cgroup path or executable no process or
	// series refers to any more for this long, default one minute.
	Grace time.Duration
	// ProcRoot defaults to /proc.
	ProcRoot string
	// CgroupRoot is where the node's cgroup v2 hierarchy is mounted; by
	// default the first cgroup2 mount in /proc/self/mountinfo. "none":
	// there is none (a cgroup-v1-only host).
	CgroupRoot string
	// HostRoot is the node's root directory, for /etc/passwd of processes
	// that have exited; default "/". A collector in a container mounts the
	// node's root somewhere (for example /host) and says so here.
	HostRoot string
	// SPIFFE, when set, is asked for the SPIFFE IDs of each process on
	// the workers (see spire.go); nil: no SPIFFE attributes.
	SPIFFE SPIFFESource
	// Execs, when set, are the kernel's records of each exec (the probe's):
	// a sample's executable is then named by the file its exec mapped, and
	// a process that exec'ed since its creation is told apart. Nil: from
	// /proc alone.
	Execs ExecSource
}

// ExecRecord is what the kernel recorded of one exec: the file it mapped,
// by device (user-space dev_t), inode and path inside its filesystem (""
// when it was too deep or long to record).
type ExecRecord struct {
	Dev, Ino uint64
	Path     string
}

// ExecSource answers from the kernel's exec records (bpf/exec.h).
type ExecSource interface {
	// ExecFile returns the record of exec execNs (a sample's ExecNs), if
	// still held.
	ExecFile(execNs uint64) (ExecRecord, bool)
	// CurrentExec returns the exec the process runs now, if recorded (0: a
	// record inherited from a process older than the records, naming no
	// exec).
	CurrentExec(tgid uint32, startNs uint64) (uint64, bool)
	// RecordedSince returns when the records began, as a process start
	// time (a sample's StartNs, CLOCK_BOOTTIME ns): a process that started
	// later has a record while it runs, unless it was pushed out. False:
	// no records are kept.
	RecordedSince() (uint64, bool)
}

// Workload is a resolved identity: resource attributes, sorted by key.
type Workload struct {
	Attrs []KV
}

// KV is one attribute.
type KV struct{ Key, Value string }

// procKey names one process in one state: an exec, a setuid or a move to
// another cgroup makes a new key, so cached facts are never those of another
// executable, user or cgroup.
type procKey struct {
	tgid           uint32
	uid, gid       uint32 // effective
	cgroup         uint64
	exeDev, exeIno uint64
	start          uint64
	execState      event.ExecState
	execNs         uint64
}

func keyOf(e *event.Event) procKey {
	return procKey{e.TGID, e.UID, e.GID, e.CgroupID, e.ExeDev, e.ExeIno, e.StartNs, e.ExecState, e.ExecNs}
}

type procEntry struct {
	facts    Facts
	workload uint32
	gen      uint64
	expires  time.Time
}

type workloadEntry struct {
	attrs []KV
	key   string
	used  time.Time
	live  bool
}

type stamped struct {
	path string
	used time.Time
}

// exeKey names an executable: device and inode, and, when the kernel
// recorded the exec, the path inside its filesystem (hard links are one
// inode under several paths, and a path is what rules and SPIRE's unix:path
// name).
type exeKey struct {
	dev, ino uint64
	fsPath   string
}

// pending is a sample waiting for its creator's lookup, copied out of the
// reader's buffer.
type pending struct {
	e          event.Event
	comm       [event.CommLen]byte
	path       [event.PathLen]byte
	commN, pN  uint16
	receivedAt time.Time
}

// Deliver receives a sample with its workload and facts once they are known.
// It runs on a resolver worker.
type Deliver func(e *event.Event, workload uint32, f *Facts, receivedAt time.Time)

// Resolver resolves samples to workload ids.
type Resolver struct {
	opts Options
	sys  *sysLookup

	mu        sync.Mutex
	rules     *Rules
	gen       uint64
	procs     map[procKey]*procEntry
	cgroups   map[uint64]*stamped // cgroup v2 id → path, verified
	exes      map[exeKey]*stamped // executable device+inode → path, verified
	workloads []workloadEntry
	free      []uint32
	nlive     int
	byKey     map[string]uint32
	overflow  uint64
	unres     uint64
	waiting   map[procKey][]*pending
	nwaiting  int
	queue     chan procKey
	deliver   Deliver
	watcher   *cgroupWatcher
	wg        sync.WaitGroup
	closed    bool
	now       func() time.Time
	spiffe    spiffeCounts
}

// DefaultOptions returns the resolver's defaults, the one source of them
// (the receiver's configuration defaults are taken from here): a 30s
// process cache of 16384 processes, 20000 workloads, 65536 pending samples,
// 2 workers, one minute of grace, /proc, the first cgroup2 mount, root "/".
func DefaultOptions() Options {
	return Options{
		CacheTTL:     30 * time.Second,
		MaxProcesses: 16384,
		MaxWorkloads: 20000,
		MaxPending:   65536,
		Workers:      2,
		Grace:        time.Minute,
		ProcRoot:     "/proc",
		HostRoot:     "/",
	}
}

// withDefaults fills the fields left zero from DefaultOptions and resolves
// CgroupRoot ("": found in mountinfo, "none": no cgroup v2).
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.CacheTTL <= 0 {
		o.CacheTTL = d.CacheTTL
	}
	if o.MaxProcesses <= 0 {
		o.MaxProcesses = d.MaxProcesses
	}
	if o.MaxWorkloads <= 0 {
		o.MaxWorkloads = d.MaxWorkloads
	}
	if o.MaxPending <= 0 {
		o.MaxPending = d.MaxPending
	}
	if o.Workers <= 0 {
		o.Workers = d.Workers
	}
	if o.Grace <= 0 {
		o.Grace = d.Grace
	}
	if o.ProcRoot == "" {
		o.ProcRoot = d.ProcRoot
	}
	if o.HostRoot == "" {
		o.HostRoot = d.HostRoot
	}
	switch o.CgroupRoot {
	case "":
		o.CgroupRoot = CgroupV2Root()
	case "none":
		o.CgroupRoot = ""
	}
	return o
}

// NewResolver returns a resolver; fields of opts left zero take their
// DefaultOptions value. Workload 0 is the host (no container, no rule), 1
// the overflow workload.
func NewResolver(opts Options) *Resolver {
	opts = opts.withDefaults()
	r := &Resolver{
		opts:    opts,
		sys:     newSysLookup(opts.ProcRoot, opts.CgroupRoot, opts.HostRoot),
		rules:   opts.Rules,
		procs:   map[procKey]*procEntry{},
		cgroups: map[uint64]*stamped{},
		exes:    map[exeKey]*stamped{},
		byKey:   map[string]uint32{},
		waiting: map[procKey][]*pending{},
		now:     time.Now,
	}
	r.workloads = []workloadEntry{
		{key: "", live: true},
		{attrs: []KV{{AttrOverflow, "true"}}, key: "\x00overflow", live: true},
	}
	r.byKey[""] = HostWorkload
	return r
}

// Start starts the lookup workers, and the watcher that learns container
// cgroups as runtimes make them; deliver receives each sample Lookup
// queued. Without Start, Lookup resolves in the caller. It returns why the
// watcher could not start, if it could not (lookups work without it).
func (r *Resolver) Start(deliver Deliver) error {
	w, werr := newCgroupWatcher(r.opts.CgroupRoot, r.learnCgroup)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watcher = w
	r.deliver = deliver
	r.queue = make(chan procKey, r.opts.MaxPending)
	for range r.opts.Workers {
		r.wg.Add(1)
		go r.work()
	}
	return werr
}

// learnCgroup records a container cgroup the watcher saw made.
func (r *Resolver) learnCgroup(id uint64, rel string) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cgroups[id]; !ok && len(r.cgroups) < r.opts.MaxProcesses {
		r.cgroups[id] = &stamped{rel, now}
	}
}

// Close stops the workers once every queued sample has been delivered.
func (r *Resolver) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	if r.queue != nil {
		close(r.queue)
	}
	w := r.watcher
	r.mu.Unlock()
	r.wg.Wait()
	if w != nil {
		w.close()
	}
	r.sys.close()
}

// SetRules replaces the rules; cached identities are recomputed lazily.
func (r *Resolver) SetRules(rules *Rules) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules = rules
	r.gen++
}

// Lookup returns the workload and facts of e's creator when the cache has
// them (ok). Otherwise it copies e and queues it for the workers, which
// deliver it (ok false, the caller is done with e), or, when MaxPending
// samples already wait, resolves it from the caches and what the sample
// carries alone (ok, counted in Unresolved). It never does I/O.
func (r *Resolver) Lookup(e *event.Event, receivedAt time.Time) (uint32, *Facts, bool) {
	k := keyOf(e)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if ent, ok := r.procs[k]; ok && ent.gen == r.gen && now.Before(ent.expires) {
		r.touch(ent.workload, now)
		return ent.workload, &ent.facts, true
	}
	if r.queue == nil || r.closed {
		r.mu.Unlock()
		id, f := r.ResolveFacts(e)
		r.mu.Lock()
		return id, &f, true
	}
	if r.nwaiting >= r.opts.MaxPending {
		r.unres++
		f := r.cachedFactsLocked(e)
		return r.workloadLocked(&f, now), &f, true
	}
	p := &pending{e: *e, receivedAt: receivedAt}
	p.commN = uint16(copy(p.comm[:], e.Comm))
	p.pN = uint16(copy(p.path[:], e.Path))
	first := r.waiting[k] == nil
	r.waiting[k] = append(r.waiting[k], p)
	r.nwaiting++
	if first {
		r.queue <- k // cannot block: the queue holds MaxPending keys
	}
	return 0, nil, false
}

func (r *Resolver) work() {
	defer r.wg.Done()
	for k := range r.queue {
		r.mu.Lock()
		first := r.waiting[k][0]
		r.mu.Unlock()
		first.e.Comm, first.e.Path = first.comm[:first.commN], first.path[:first.pN]
		f := r.lookupFacts(&first.e)
		now := r.now()
		r.mu.Lock()
		ent := r.storeLocked(k, f, now)
		ps := r.waiting[k]
		delete(r.waiting, k)
		r.nwaiting -= len(ps)
		deliver := r.deliver
		r.mu.Unlock()
		for _, p := range ps {
			p.e.Comm, p.e.Path = p.comm[:p.commN], p.path[:p.pN]
			deliver(&p.e, ent.workload, &ent.facts, p.receivedAt)
		}
	}
}

// Resolve returns the workload id of the creator of e, looking it up in the
// caller when it is not cached.
func (r *Resolver) Resolve(e *event.Event) uint32 {
	id, _ := r.ResolveFacts(e)
	return id
}

// ResolveFacts returns the workload id of the creator of e and what is
// known of it, from the cache when fresh, else looked up in the caller
// (tests, benchmarks; the receiver uses Lookup).
func (r *Resolver) ResolveFacts(e *event.Event) (uint32, Facts) {
	k := keyOf(e)
	now := r.now()
	r.mu.Lock()
	if ent, ok := r.procs[k]; ok && ent.gen == r.gen && now.Before(ent.expires) {
		r.touch(ent.workload, now)
		r.mu.Unlock()
		return ent.workload, ent.facts
	}
	r.mu.Unlock()
	f := r.lookupFacts(e)
	r.mu.Lock()
	defer r.mu.Unlock()
	ent := r.storeLocked(k, f, now)
	return ent.workload, ent.facts
}

// Facts looks up what is known of e's creator without rules or caching of
// the result; for tests.
func (r *Resolver) Facts(e *event.Event) Facts {
	return r.lookupFacts(e)
}

func (r *Resolver) storeLocked(k procKey, f Facts, now time.Time) *procEntry {
	ent := &procEntry{facts: f, workload: r.workloadLocked(&f, now), gen: r.gen, expires: spiffeExpiry(&f, now.Add(r.opts.CacheTTL))}
	if len(r.procs) >= r.opts.MaxProcesses {
		r.expireProcsLocked(now)
	}
	if len(r.procs) < r.opts.MaxProcesses {
		r.procs[k] = ent
	}
	return ent
}

// lookupFacts does the I/O, without the lock but for short cache reads and
// writes.
func (r *Resolver) lookupFacts(e *event.Event) Facts {
	f := Facts{UID: e.UID, GID: e.GID, RealUID: e.RealUID, Comm: string(e.Comm)}
	now := r.now()
	proc := r.sys.process(e.TGID, e.StartNs)

	execPath := r.execPath(e)
	f.Executable = r.executable(e, execPath, proc, now)

	f.Cgroup = r.cgroupPath(e.CgroupID, proc, now)
	f.ContainerID, f.PodUID = ParseCgroupPath(f.Cgroup)
	if f.ContainerID == "" && f.PodUID == "" {
		// Hybrid and v1 hosts: a v1 controller's path may name the
		// container. Per process only: v1 paths have no id to check.
		if p := proc.v1ContainerCgroup(); p != "" {
			f.Cgroup = p
			f.ContainerID, f.PodUID = ParseCgroupPath(p)
		}
	}
	f.User = r.sys.userName(e.UID)
	r.lookupSPIFFE(proc, procIdentity{e.TGID, e.UID, e.RealUID, e.GID, e.ExeDev, e.ExeIno, e.CgroupID, e.StartNs, e.ExecState, e.ExecNs, execPath}, &f)
	return f
}

// execPath returns the path inside its filesystem of the file the sample's
// exec mapped, when the kernel recorded it and the sample runs it, else "".
func (r *Resolver) execPath(e *event.Event) string {
	if e.ExecState != event.ExecSame || r.opts.Execs == nil {
		return ""
	}
	rec, ok := r.opts.Execs.ExecFile(e.ExecNs)
	if !ok || rec.Dev != e.ExeDev || rec.Ino != e.ExeIno {
		return ""
	}
	return rec.Path
}

// executable names the file the sample's process ran at the creation by
// where it is on the node, or "" when that is not known (fsPath is
// execPath's answer):
//   - the process replaced its executable reference (event.ExecReplaced):
//     the device and inode are a file it chose, never named;
//   - the kernel recorded its exec (event.ExecSame): that exec's path
//     inside its filesystem, placed in the node's mount table;
//   - a process that started after the records began and has none (pushed
//     out: enough forks fill the table): nothing, as for a replaced
//     reference, which it may have made meanwhile;
//   - otherwise (started before the probe, or a child of such a process
//     that did not exec, or a record pushed out) /proc/<pid>/exe
//     while the process still runs that exec, placed the same way; for a
//     process that did not record its exec, the path an earlier checked
//     lookup gave its device and inode.
func (r *Resolver) executable(e *event.Event, fsPath string, proc *procView, now time.Time) string {
	if e.ExeIno == 0 || e.ExecState == event.ExecReplaced || r.recordLost(e.ExecState, e.TGID, e.StartNs) {
		return ""
	}
	if fsPath != "" {
		k := exeKey{e.ExeDev, e.ExeIno, fsPath}
		r.mu.Lock()
		if s := r.exes[k]; s != nil {
			s.used = now
			r.mu.Unlock()
			return s.path
		}
		r.mu.Unlock()
		p, ok := r.sys.nodePath(e.ExeDev, e.ExeIno, fsPath)
		if !ok {
			return ""
		}
		r.remember(k, p, now)
		return p
	}
	if e.ExecState == event.ExecSame && r.opts.Execs != nil {
		// Recorded, but the record is gone: /proc only while the process
		// still runs that exec.
		if cur, ok := r.opts.Execs.CurrentExec(e.TGID, e.StartNs); !ok || cur != e.ExecNs {
			return ""
		}
		p, _ := proc.executable(e.ExeDev, e.ExeIno)
		return p
	}
	k := exeKey{dev: e.ExeDev, ino: e.ExeIno}
	if p, ok := proc.executable(k.dev, k.ino); ok {
		r.remember(k, p, now)
		return p
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.exes[k]; s != nil {
		s.used = now
		return s.path
	}
	return ""
}

// recordLost says the process (tgid, start) should have an exec record and
// has none: it started after the records began, and the sample found none
// (event.ExecUnknown) or the record is gone now. /proc/<pid>/exe would
// name the process's executable reference, which it can have replaced
// (prctl PR_SET_MM_MAP) before its record was pushed out.
func (r *Resolver) recordLost(state event.ExecState, tgid uint32, start uint64) bool {
	if state != event.ExecUnknown || !r.afterRecords(start) {
		return false
	}
	// A child of a process older than the records: recorded at fork,
	// naming no exec, and still its inherited reference at the sample.
	_, rec := r.opts.Execs.CurrentExec(tgid, start)
	return !rec
}

// afterRecords says a process that started at start should have an exec
// record while it runs.
func (r *Resolver) afterRecords(start uint64) bool {
	if r.opts.Execs == nil {
		return false
	}
	since, ok := r.opts.Execs.RecordedSince()
	return ok && start > since
}

func (r *Resolver) remember(k exeKey, p string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.exes) < r.opts.MaxProcesses {
		r.exes[k] = &stamped{p, now}
	}
}

// cgroupPath returns the path of cgroup v2 id, checked to have that id.
func (r *Resolver) cgroupPath(id uint64, proc *procView, now time.Time) string {
	if id == 0 {
		return ""
	}
	r.mu.Lock()
	if s := r.cgroups[id]; s != nil {
		s.used = now
		r.mu.Unlock()
		return s.path
	}
	r.mu.Unlock()
	p, ok := r.sys.cgroupByID(id)
	if !ok {
		// Without open_by_handle_at (no CAP_DAC_READ_SEARCH): the
		// process's own v2 line, if that path has the sample's id.
		p, ok = proc.v2Cgroup(id)
	}
	if !ok {
		return ""
	}
	r.mu.Lock()
	if len(r.cgroups) < r.opts.MaxProcesses {
		r.cgroups[id] = &stamped{p, now}
	}
	r.mu.Unlock()
	return p
}

// cachedFactsLocked is what is known of e without I/O. A process that
// should have an exec record and has none gets no cached executable (its
// record is not looked up here: recordLost).
func (r *Resolver) cachedFactsLocked(e *event.Event) Facts {
	f := Facts{UID: e.UID, GID: e.GID, RealUID: e.RealUID, Comm: string(e.Comm)}
	if s := r.exes[exeKey{dev: e.ExeDev, ino: e.ExeIno}]; s != nil && e.ExeIno != 0 && e.ExecState != event.ExecReplaced &&
		(e.ExecState != event.ExecUnknown || !r.afterRecords(e.StartNs)) {
		f.Executable = s.path
	}
	if s := r.cgroups[e.CgroupID]; s != nil {
		f.Cgroup = s.path
		f.ContainerID, f.PodUID = ParseCgroupPath(f.Cgroup)
	}
	return f
}

// CheckCgroupHandles says whether cgroup ids resolve by handle
// (open_by_handle_at on the cgroup v2 mount, which needs
// CAP_DAC_READ_SEARCH); when not, paths come from /proc/<pid>/cgroup,
// checked by id, and a process that exited before its lookup keeps only its
// cgroup id.
func (r *Resolver) CheckCgroupHandles() error {
	if r.sys.cgroupRootPath() == "" {
		return fmt.Errorf("no cgroup v2 mount (identity::cgroup_root)")
	}
	if _, ok := r.sys.cgroupByID(1); !ok {
		return fmt.Errorf("open_by_handle_at on %s refused or unsupported (needs CAP_DAC_READ_SEARCH and Linux 5.5+)", r.sys.cgroupRootPath())
	}
	return nil
}

// CgroupV2Root returns where the cgroup v2 hierarchy is mounted (from
// /proc/self/mountinfo), or "".
func CgroupV2Root() string {
	return cgroup2Mount("/proc/self/mountinfo")
}

func (r *Resolver) touch(id uint32, now time.Time) {
	if int(id) < len(r.workloads) {
		r.workloads[id].used = now
	}
}

// workloadLocked interns the resource attributes that f and the rules give.
func (r *Resolver) workloadLocked(f *Facts, now time.Time) uint32 {
	attrs := map[string]string{}
	if f.ContainerID != "" {
		attrs[AttrContainerID] = f.ContainerID
	}
	if f.PodUID != "" {
		attrs[AttrPodUID] = f.PodUID
	}
	if f.Cgroup != "" && f.Cgroup != "/" {
		attrs[AttrCgroupPath] = f.Cgroup
	}
	if name, ra, ok := r.rules.Match(f); ok {
		attrs[RuleAttribute] = name
		for k, v := range ra {
			attrs[k] = v
		}
	} else if r.rules.Len() > 0 || len(r.opts.Unmatched) > 0 {
		for k, v := range r.opts.Unmatched {
			attrs[k] = v
		}
	}
	r.spiffeAttrsLocked(f, attrs)
	kvs := make([]KV, 0, len(attrs))
	for k, v := range attrs {
		kvs = append(kvs, KV{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	var key strings.Builder
	for _, kv := range kvs {
		fmt.Fprintf(&key, "%q=%q;", kv.Key, kv.Value)
	}
	if id, ok := r.byKey[key.String()]; ok {
		r.workloads[id].used = now
		return id
	}
	if r.nlive >= r.opts.MaxWorkloads {
		r.overflow++
		r.workloads[OverflowWorkload].used = now
		return OverflowWorkload
	}
	w := workloadEntry{attrs: kvs, key: key.String(), used: now, live: true}
	var id uint32
	if n := len(r.free); n > 0 {
		id = r.free[0]
		r.free = r.free[1:]
		r.workloads[id] = w
	} else {
		id = uint32(len(r.workloads))
		r.workloads = append(r.workloads, w)
	}
	r.byKey[w.key] = id
	r.nlive++
	return id
}

// Workload returns the attributes of workload id.
func (r *Resolver) Workload(id uint32) Workload {
	r.mu.Lock()
	defer r.mu.Unlock()
	if int(id) >= len(r.workloads) {
		return Workload{}
	}
	return Workload{Attrs: r.workloads[id].attrs}
}

// Stats are the resolver's counters and sizes.
type Stats struct {
	// Overflow counts samples that went to OverflowWorkload because
	// MaxWorkloads workloads were alive.
	Overflow uint64
	// Unresolved counts samples resolved from the caches alone because
	// MaxPending samples were waiting.
	Unresolved uint64
	// Workloads, Processes, Cgroups, Executables: entries now.
	Workloads, Processes, Cgroups, Executables int
	// Pending samples wait for a lookup now.
	Pending int
}

// Stats returns the counters and the sizes of the caches.
func (r *Resolver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{
		Overflow: r.overflow, Unresolved: r.unres,
		Workloads: r.nlive, Processes: len(r.procs), Cgroups: len(r.cgroups), Executables: len(r.exes),
		Pending: r.nwaiting,
	}
}

// Overflow returns how many resolutions went to OverflowWorkload because
// MaxWorkloads was reached.
func (r *Resolver) Overflow() uint64 {
	return r.Stats().Overflow
}

// Sweep forgets what nothing refers to any more: processes past the cache
// TTL or exited, then workloads neither a cached process nor a series in
// inUse refers to (nil: none) and unused for Grace, cgroup paths of removed
// cgroups and executables no cached process refers to. The receiver calls it at each
// collection interval with the workloads of its live series.
func (r *Resolver) Sweep(inUse map[uint32]bool) {
	r.mu.Lock()
	now := r.now()
	cutoff := now.Add(-r.opts.Grace)
	tgids := make(map[uint32]bool, len(r.procs))
	for k := range r.procs {
		tgids[k.tgid] = true
	}
	oldCgroups := map[uint64]string{}
	for id, s := range r.cgroups {
		if s.used.Before(cutoff) {
			oldCgroups[id] = s.path
		}
	}
	r.mu.Unlock()
	// Which processes and cgroups still exist, without the lock. A cgroup
	// that still exists is kept: a container learnt when its cgroup was
	// made may create its first file long after.
	for tgid := range tgids {
		tgids[tgid] = r.sys.exists(tgid)
	}
	cgroupAlive := map[uint64]bool{}
	for id, p := range oldCgroups {
		if got, ok := r.sys.cgroupIDOf(p); ok && got == id {
			cgroupAlive[id] = true
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	refWl := map[uint32]bool{}
	refCg := map[uint64]bool{}
	refExe := map[exeKey]bool{}
	for k, e := range r.procs {
		if !now.Before(e.expires) || e.gen != r.gen || !tgids[k.tgid] {
			delete(r.procs, k)
			continue
		}
		refWl[e.workload] = true
		refCg[k.cgroup] = true
		refExe[exeKey{dev: k.exeDev, ino: k.exeIno}] = true
	}
	for k := range r.waiting {
		refCg[k.cgroup] = true
		refExe[exeKey{dev: k.exeDev, ino: k.exeIno}] = true
	}
	for id := OverflowWorkload + 1; int(id) < len(r.workloads); id++ {
		w := &r.workloads[id]
		if !w.live || refWl[id] || inUse[id] || !w.used.Before(cutoff) {
			continue
		}
		delete(r.byKey, w.key)
		*w = workloadEntry{}
		r.free = append(r.free, id)
		r.nlive--
	}
	for id, s := range r.cgroups {
		if refCg[id] || !s.used.Before(cutoff) {
			continue
		}
		if cgroupAlive[id] {
			s.used = now
		} else {
			delete(r.cgroups, id)
		}
	}
	for k, s := range r.exes {
		if !refExe[exeKey{dev: k.dev, ino: k.ino}] && s.used.Before(cutoff) {
			delete(r.exes, k)
		}
	}
	r.sys.sweepUsers()
}

// expireProcsLocked drops process entries past their TTL; when all are
// fresh it drops them all rather than grow (they are looked up again).
func (r *Resolver) expireProcsLocked(now time.Time) {
	for k, e := range r.procs {
		if !now.Before(e.expires) || e.gen != r.gen {
			delete(r.procs, k)
		}
	}
	if len(r.procs) >= r.opts.MaxProcesses {
		clear(r.procs)
	}
}
