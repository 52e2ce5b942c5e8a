// SPDX-License-Identifier: Apache-2.0

// Package identity binds each created file to who created it: from what the
// kernel sample carries (tgid and the process's start time, effective and
// real uid, gid, cgroup id, the executable's device and inode) it resolves,
// in user space, the executable path, user name, cgroup path, container id
// and pod uid, applies the identity rules, and names the result as a
// workload: the resource a series belongs to.
//
// The reader goroutine never waits for that work. Lookup answers from the
// process cache or queues the sample for the resolver's workers, which read
// /proc and the cgroup filesystem and hand the sample back through the
// deliver function given to Start.
//
// The Resolver puts together one type per job, each with its own lock and
// test: procCache (each process's facts and workload), workloadTable (the
// interned resources, their cap and sweep), pathCache (checked cgroup paths;
// the cgroupWatcher adds those of new containers), execNamer (executables
// from the kernel's exec records or /proc, and their names), spiffeAsker
// (SPIFFE lookups, checked and counted), pendingQueue (samples waiting for
// their lookup) and sysLookup (the reads of /proc, cgroupfs and passwd).
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
	"sync"
	"sync/atomic"
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
	// Pods, when set, names the pod of each creator whose cgroup names a
	// pod uid (namespace, name, ServiceAccount), looked up on the workers;
	// nil: no pod names.
	Pods PodSource
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

// Deliver receives a sample with its workload and facts once they are known.
// It runs on a resolver worker.
type Deliver func(e *event.Event, workload uint32, f *Facts, receivedAt time.Time)

// ruleSet is the rules in force and their generation: a process cache entry
// is good while the generation it was computed with is in force.
type ruleSet struct {
	rules *Rules
	gen   uint64
}

// Resolver resolves samples to workload ids.
type Resolver struct {
	opts Options
	sys  *sysLookup
	now  func() time.Time

	rules      atomic.Pointer[ruleSet]
	procs      *procCache
	workloads  *workloadTable
	cgroups    *pathCache[uint64] // cgroup v2 id → path, verified
	execs      *execNamer
	spiffe     *spiffeAsker
	pending    *pendingQueue
	unresolved atomic.Uint64

	mu      sync.Mutex // SetRules, Start and Close
	deliver Deliver
	watcher *cgroupWatcher
	wg      sync.WaitGroup
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
	sys := newSysLookup(opts.ProcRoot, opts.CgroupRoot, opts.HostRoot)
	execs := &execNamer{src: opts.Execs, sys: sys, paths: newPathCache[exeKey](opts.MaxProcesses)}
	r := &Resolver{
		opts:      opts,
		sys:       sys,
		now:       time.Now,
		procs:     newProcCache(opts.CacheTTL, opts.MaxProcesses),
		workloads: newWorkloadTable(opts.MaxWorkloads),
		cgroups:   newPathCache[uint64](opts.MaxProcesses),
		execs:     execs,
		spiffe:    &spiffeAsker{src: opts.SPIFFE, execs: execs},
		pending:   newPendingQueue(opts.MaxPending),
	}
	r.rules.Store(&ruleSet{rules: opts.Rules})
	return r
}

// Start starts the lookup workers, and the watcher that learns container
// cgroups as runtimes make them; deliver receives each sample Lookup
// queued. Without Start, Lookup resolves in the caller. It returns why the
// watcher could not start, if it could not (lookups work without it).
func (r *Resolver) Start(deliver Deliver) error {
	w, werr := newCgroupWatcher(r.opts.CgroupRoot, func(id uint64, rel string) { r.cgroups.learn(id, rel, r.now()) })
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watcher = w
	r.deliver = deliver
	keys := r.pending.open()
	for range r.opts.Workers {
		r.wg.Add(1)
		go r.work(keys, deliver)
	}
	return werr
}

// Close stops the workers once every queued sample has been delivered.
func (r *Resolver) Close() {
	r.pending.close()
	r.wg.Wait()
	r.mu.Lock()
	w := r.watcher
	r.watcher = nil
	r.mu.Unlock()
	if w != nil {
		w.close()
	}
	r.sys.close()
}

// SetRules replaces the rules; cached identities are recomputed lazily.
func (r *Resolver) SetRules(rules *Rules) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules.Store(&ruleSet{rules: rules, gen: r.rules.Load().gen + 1})
}

// Lookup returns the workload and facts of e's creator when the cache has
// them (ok). Otherwise it copies e and queues it for the workers, which
// deliver it (ok false, the caller is done with e), or, when MaxPending
// samples already wait, resolves it from the caches and what the sample
// carries alone (ok, counted in Unresolved). It does no I/O once Start
// was called; before Start and after Close it looks e up in the caller.
func (r *Resolver) Lookup(e *event.Event, receivedAt time.Time) (uint32, *Facts, bool) {
	k := keyOf(e)
	now := r.now()
	rs := r.rules.Load()
	if ent, ok := r.procs.get(k, rs.gen, now); ok {
		r.workloads.touch(ent.workload, now)
		return ent.workload, &ent.facts, true
	}
	switch r.pending.add(k, newPending(e, receivedAt)) {
	case queuedOK:
		return 0, nil, false
	case queueFull:
		r.unresolved.Add(1)
		f := r.cachedFacts(e)
		return r.workloadOf(&f, rs.rules, now), &f, true
	}
	ent := r.resolve(k, e)
	return ent.workload, &ent.facts, true
}

func (r *Resolver) work(keys <-chan procKey, deliver Deliver) {
	defer r.wg.Done()
	for k := range keys {
		ent := r.resolve(k, r.pending.first(k).event())
		for _, p := range r.pending.take(k) {
			deliver(p.event(), ent.workload, &ent.facts, p.receivedAt)
		}
	}
}

// resolve looks e's creator up, computes its workload with the rules in
// force and caches both under k.
func (r *Resolver) resolve(k procKey, e *event.Event) *procEntry {
	f := r.lookupFacts(e)
	now := r.now()
	rs := r.rules.Load()
	return r.procs.put(k, f, r.workloadOf(&f, rs.rules, now), rs.gen, now)
}

// lookupFacts does the I/O.
func (r *Resolver) lookupFacts(e *event.Event) Facts {
	f := Facts{EUID: e.EUID, EGID: e.EGID, RUID: e.RUID, Comm: string(e.Comm)}
	now := r.now()
	proc := r.sys.process(e.TGID, e.StartNs)

	execPath := r.execs.fsPath(e)
	f.Executable = r.execs.name(e, execPath, proc, now)

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
	if f.PodUID != "" && r.opts.Pods != nil {
		if p, ok := r.opts.Pods.Pod(f.PodUID); ok {
			f.Pod, f.Pod.UID = p, f.PodUID
		}
	}
	f.User = r.sys.userName(e.EUID)
	r.spiffe.lookup(proc, procIdentity{e.TGID, e.EUID, e.RUID, e.EGID, e.ExeDev, e.ExeIno, e.CgroupID, e.StartNs, e.ExecState, e.ExecNs, execPath}, &f)
	return f
}

// cgroupPath returns the path of cgroup v2 id, checked to have that id.
func (r *Resolver) cgroupPath(id uint64, proc *procView, now time.Time) string {
	if id == 0 {
		return ""
	}
	if p, ok := r.cgroups.get(id, now); ok {
		return p
	}
	p, ok := r.sys.cgroupByID(id)
	if !ok {
		// Without open_by_handle_at (no CAP_DAC_READ_SEARCH): the
		// process's own v2 line, if that path has the sample's id.
		p, ok = proc.v2Cgroup(id)
	}
	if !ok {
		return ""
	}
	r.cgroups.put(id, p, now)
	return p
}

// cachedFacts is what is known of e without I/O.
func (r *Resolver) cachedFacts(e *event.Event) Facts {
	f := Facts{EUID: e.EUID, EGID: e.EGID, RUID: e.RUID, Comm: string(e.Comm)}
	f.Executable = r.execs.cached(e)
	if p, ok := r.cgroups.peek(e.CgroupID); ok {
		f.Cgroup = p
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

// workloadOf interns the resource attributes that f and rules give.
func (r *Resolver) workloadOf(f *Facts, rules *Rules, now time.Time) uint32 {
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
	if name, ra, ok := rules.Match(f); ok {
		attrs[RuleAttribute] = name
		for k, v := range ra {
			attrs[k] = v
		}
	} else if rules.Len() > 0 || len(r.opts.Unmatched) > 0 {
		for k, v := range r.opts.Unmatched {
			attrs[k] = v
		}
	}
	// The inventory's names replace any a rule sets, as SPIRE's IDs do.
	podAttrs(&f.Pod, attrs)
	r.spiffe.attrs(f, attrs)
	return r.workloads.intern(attrs, now)
}

// NodeMountsChanged drops the executable paths cached for filesystems that
// are no longer in the node's mount table (devs: user-space dev_t of those
// that are; see execNamer.nodeMountsChanged). The process cache keeps its
// entries: they name processes, not devices.
func (r *Resolver) NodeMountsChanged(devs map[uint64]bool) { r.execs.nodeMountsChanged(devs) }

// Workload returns the attributes of workload id.
func (r *Resolver) Workload(id uint32) Workload {
	return r.workloads.get(id)
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
	live, overflow := r.workloads.stats()
	return Stats{
		Overflow: overflow, Unresolved: r.unresolved.Load(),
		Workloads: live, Processes: r.procs.len(), Cgroups: r.cgroups.len(), Executables: r.execs.paths.len(),
		Pending: r.pending.len(),
	}
}

// SPIFFECounts returns how many times each SPIFFE outcome was reached, every
// outcome present, zeros too: one per process lookup (a cached answer is
// not counted again), and not_looked_up once per creation attributed
// without a lookup. Nil without a SPIFFE source.
func (r *Resolver) SPIFFECounts() map[SPIFFEStatus]uint64 {
	return r.spiffe.byStatus()
}

// Sweep forgets what nothing refers to any more: processes past the cache
// TTL or exited, then workloads neither a cached process nor a series in
// inUse refers to (nil: none) and unused for Grace, cgroup paths of removed
// cgroups and executables no cached process refers to. The receiver calls
// it at each collection interval with the workloads of its live series.
func (r *Resolver) Sweep(inUse map[uint32]bool) {
	now := r.now()
	cutoff := now.Add(-r.opts.Grace)
	// Which processes and cgroups still exist, without a lock. A cgroup
	// that still exists is kept: a container learnt when its cgroup was
	// made may create its first file long after.
	alive := r.procs.tgids()
	for tgid := range alive {
		alive[tgid] = r.sys.exists(tgid)
	}
	cgroupAlive := map[uint64]bool{}
	for id, p := range r.cgroups.stale(cutoff) {
		if got, ok := r.sys.cgroupIDOf(p); ok && got == id {
			cgroupAlive[id] = true
		}
	}

	in := newRefs()
	r.procs.sweep(r.rules.Load().gen, now, alive, in)
	r.pending.addRefs(in)
	r.workloads.sweep(cutoff, func(id uint32) bool { return in.workloads[id] || inUse[id] })
	r.cgroups.sweep(cutoff, now, func(id uint64) verdict {
		switch {
		case in.cgroups[id]:
			return keep
		case cgroupAlive[id]:
			return refresh
		}
		return drop
	})
	r.execs.sweep(cutoff, now, in)
	r.sys.sweepUsers()
}
