// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/event"
)

// Probe owns every kernel object kernelevents makes: the programs, maps,
// links and the ring-buffer reader. Close releases them all.
//
// Read may be called from one goroutine while Close is called from another:
// Close interrupts a blocked Read, which then returns an error wrapping
// os.ErrClosed.
type Probe struct {
	hook       Hook
	notes      []string
	objs       *objects
	links      []link.Link
	rd         *ringbuf.Reader
	rec        ringbuf.Record
	counters   *ebpf.Map
	maxLatency time.Duration
	progIDs    []ebpf.ProgramID
	mapIDs     []ebpf.MapID
	// kretprobes are the kretprobes with the readers of the kernel's miss
	// counters for them (kprobe_missed); empty for the other hooks.
	missMu     sync.Mutex
	kretprobes []*kretMiss
	// fewInstances: a kretprobe attached with the kernel's default
	// instances, not maxactive (attachKretprobe).
	fewInstances bool
	// detached is set by Drain once no program can write a sample: the
	// reader then returns ErrDrained when the ring is empty.
	detached atomic.Bool
	// where maps samples to the node's paths (where_linux.go).
	where *where
	// programs are the hook's programs and whether each is attached.
	programs []ProgramState
	// execSince is CLOCK_BOOTTIME (ns) once the exec recorder was attached:
	// a process started later has a record while it runs, unless pushed
	// out. 0: the recorder is not attached.
	execSince uint64
}

// kretMiss is one kretprobe and the reader of the kernel's miss counter for
// it. last is the highest count read, kept when a read fails so that the
// cumulative counter never goes back; final is set once Drain has read it
// just before closing the link (the kernel forgets the counter with the
// probe). Guarded by Probe.missMu.
type kretMiss struct {
	link  link.Link
	read  missReader
	last  uint64
	final bool
}

func (k *kretMiss) update() error {
	n, err := k.read()
	if err != nil {
		return err
	}
	k.last = max(k.last, n)
	return nil
}

// attacher attaches one loaded program.
type attacher struct {
	prog *ebpf.Program
	what string
	fn   func(*ebpf.Program) (link.Link, error)
	// withMisses, when set, attaches instead of fn and returns the reader
	// of the kernel's miss counter for that attachment.
	// A note, when set, goes to Notes.
	withMisses func(*ebpf.Program, *Options) (link.Link, missReader, string, error)
}

func kprobe(prog *ebpf.Program, symbol string) attacher {
	return attacher{prog: prog, what: "kprobe " + symbol, fn: func(p *ebpf.Program) (link.Link, error) {
		return link.Kprobe(symbol, p, nil)
	}}
}

// kretprobe attaches with maxactive instances and the kernel's miss counter
// read as kprobe_missed (attachKretprobe).
func kretprobe(prog *ebpf.Program, symbol string) attacher {
	return attacher{prog: prog, what: "kretprobe " + symbol, withMisses: func(p *ebpf.Program, o *Options) (link.Link, missReader, string, error) {
		return attachKretprobe(p, symbol, o.kretprobeMaxActive())
	}}
}

// tracing attaches a BPF trampoline (fentry, fexit) or tp_btf program at
// the function or tracepoint named in its ELF section.
func tracing(prog *ebpf.Program, what string, at ebpf.AttachType) attacher {
	return attacher{prog: prog, what: what, fn: func(p *ebpf.Program) (link.Link, error) {
		return link.AttachTracing(link.TracingOptions{Program: p, AttachType: at})
	}}
}

// rawTracepoint attaches a raw tracepoint program.
func rawTracepoint(prog *ebpf.Program, name string) attacher {
	return attacher{prog: prog, what: "raw tracepoint " + name, fn: func(p *ebpf.Program) (link.Link, error) {
		return link.AttachRawTracepoint(link.RawTracepointOptions{Name: name, Program: p})
	}}
}

// haveOwnBTF reports whether the kernel exposes its BTF, which tp_btf,
// fentry and fexit programs attach through.
func haveOwnBTF() bool {
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	return err == nil
}

// Open loads and attaches the programs for opts.Hook. With HookAuto it tries
// each of Hooks in turn (kretprobe first where a kernel from 6.7 on preempts
// BPF programs: autoOrder) and keeps the first that works; Notes says why the
// others were passed over.
func Open(opts Options) (*Probe, error) {
	if err := opts.Validate(os.Getpagesize()); err != nil {
		return nil, err
	}
	if err := checkCapabilities(); err != nil {
		return nil, err
	}
	// A seccomp filter or an LSM refusing bpf() itself: say so, before
	// rlimit.RemoveMemlock turns it into "failed to set memlock rlimit".
	if err := refused("bpf"); err != nil {
		return nil, err
	}
	// Only kernels before 5.11 account BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}

	// Every hook is CO-RE: without BTF none can load, so say so once.
	types, err := kernelTypes(opts.BTFPath)
	if err != nil {
		return nil, err
	}

	hooks := []Hook{opts.Hook}
	var notes []string
	model, release := preemptionModel(), kernelRelease()
	if opts.Hook == HookAuto {
		var why string
		hooks, why = autoOrder(model, release)
		if why != "" {
			notes = append(notes, why)
		}
	}
	var errs []error
	// held: a kretprobe that auto took first on a preempting kernel
	// (autoOrder: fexit comes next) but that attached with the kernel's
	// default instances only (no tracefs kprobe_events): a few tasks
	// blocked in an open make it miss for the whole host, so fexit is
	// kept if it attaches, else the kretprobe, not a hook that taxes every
	// syscall.
	var held *Probe
	for _, h := range hooks {
		p, err := open(h, &opts, types)
		if err == nil {
			if held == nil && opts.Hook == HookAuto && h == HookKretprobe && p.fewInstances && preemptsPrograms(model) {
				held = p
				continue
			}
			if held != nil {
				held.Close()
				held = nil
				notes = append(notes, "kretprobe: passed over for fexit: attached with the kernel's default instances only (no tracefs kprobe_events for maxactive), which a few tasks blocked in an open exhaust for the whole host")
			}
			p.notes = append(notes, p.notes...)
			if n := uncountedNote(h, model, release); n != "" {
				p.notes = append(p.notes, n)
			}
			return p, nil
		}
		notes = append(notes, fmt.Sprintf("%s: %v", h, err))
		errs = append(errs, fmt.Errorf("hook %s: %w", h, err))
		if held != nil {
			break
		}
	}
	if held != nil {
		held.notes = append(notes, held.notes...)
		return held, nil
	}
	if opts.Hook == HookAuto {
		return nil, fmt.Errorf("no hook could attach: %w", errors.Join(errs...))
	}
	return nil, errs[0]
}

// VerifyLoad loads the programs of hook h through the verifier and frees
// them without attaching anything: proof that they load on this kernel.
func VerifyLoad(h Hook, opts Options) error {
	objs, err := verifyLoad(h, &opts)
	if err != nil {
		return err
	}
	objs.close()
	return nil
}

// verifyLoad is VerifyLoad keeping the loaded objects open for the caller
// to close (TestVerifiedInstructions reads the verifier's work from them).
func verifyLoad(h Hook, opts *Options) (*objects, error) {
	if err := opts.Validate(os.Getpagesize()); err != nil {
		return nil, err
	}
	types, err := kernelTypes(opts.BTFPath)
	if err != nil {
		return nil, err
	}
	objs, _, err := loadObjects(h, opts, types, true)
	return objs, err
}

func open(h Hook, opts *Options, types *btf.Spec) (_ *Probe, err error) {
	objs, notes, err := loadObjects(h, opts, types, false)
	if err != nil {
		return nil, err
	}
	p := &Probe{hook: h, objs: objs, counters: objs.common().Counters, maxLatency: opts.MaxLatency}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if err := fillFilters(objs.common(), opts); err != nil {
		return nil, err
	}
	// Key 0 counts the losses of cgroups past the map's size.
	if err := objs.common().LostCgroups.Put(uint64(0), kerneleventsLostCounts{}); err != nil {
		return nil, fmt.Errorf("create the lost_cgroups overflow entry: %w", err)
	}
	if p.where, err = newWhere(opts.MountInfo, opts.PathPrefixes, objs.common()); err != nil {
		return nil, err
	}
	p.where.watch()
	for _, a := range objs.required() {
		l, err := p.attach(a, opts)
		if err != nil {
			return nil, explainAttach(a.what, err)
		}
		p.links = append(p.links, l)
		p.programs = append(p.programs, ProgramState{Name: a.what, Attached: true})
	}
	p.notes = append(p.notes, notes...)
	execAttached := len(objs.exec) > 0
	for _, a := range objs.exec {
		l, err := a.fn(a.prog)
		if err != nil {
			p.notes = append(p.notes, fmt.Sprintf("%s: %v", execMissing, explainAttach(a.what, err)))
			execAttached = false
			continue
		}
		p.links = append(p.links, l)
	}
	if execAttached {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
			return nil, fmt.Errorf("read CLOCK_BOOTTIME: %w", err)
		}
		p.execSince = uint64(ts.Nano())
	}
	for _, a := range objs.optional {
		l, err := p.attach(a, opts)
		if err != nil {
			p.notes = append(p.notes, fmt.Sprintf("%s not attached (files it would see are not counted): %v", a.what, explainAttach(a.what, err)))
			p.programs = append(p.programs, ProgramState{Name: a.what})
			continue
		}
		p.links = append(p.links, l)
		p.programs = append(p.programs, ProgramState{Name: a.what, Attached: true})
	}
	for _, what := range objs.refused {
		p.programs = append(p.programs, ProgramState{Name: what})
	}
	if err := p.recordIDs(); err != nil {
		return nil, err
	}
	p.rd, err = ringbuf.NewReader(objs.common().Events)
	if err != nil {
		return nil, fmt.Errorf("create ring buffer reader: %w", err)
	}
	if opts.WakeupBytes > 0 {
		p.rd.SetDeadline(time.Now().Add(p.maxLatency))
	} else {
		p.maxLatency = 0
	}
	return p, nil
}

// attach attaches one program; a kretprobe's miss counter is kept.
func (p *Probe) attach(a attacher, opts *Options) (link.Link, error) {
	if a.withMisses == nil {
		return a.fn(a.prog)
	}
	l, read, note, err := a.withMisses(a.prog, opts)
	if err == nil {
		p.kretprobes = append(p.kretprobes, &kretMiss{link: l, read: read})
	}
	if note != "" {
		// attached with the kernel's default instances (attachKretprobe)
		p.fewInstances = true
		p.notes = append(p.notes, note)
	}
	return l, err
}

// configure sets the load-time constants and the ring size.
func configure(spec *ebpf.CollectionSpec, opts *Options) error {
	var specs struct {
		kerneleventsMapSpecs
		kerneleventsVariableSpecs
	}
	if err := spec.Assign(&specs); err != nil {
		return fmt.Errorf("assign collection spec: %w", err)
	}
	specs.Events.MaxEntries = uint32(opts.RingBufferSize)
	self := uint32(0)
	var ns pidNamespace
	if opts.ExcludePID > 0 {
		self = uint32(opts.ExcludePID)
		var err error
		if ns, err = ownPIDNamespace(); err != nil {
			return err
		}
	}
	for _, v := range []struct {
		name string
		spec *ebpf.VariableSpec
		val  any
	}{
		{kerneleventsVarSelfTgid, specs.SelfTgid, self},
		{kerneleventsVarSelfPidnsDev, specs.SelfPidnsDev, ns.dev},
		{kerneleventsVarSelfPidnsIno, specs.SelfPidnsIno, ns.ino},
		{kerneleventsVarSelfInitPidns, specs.SelfInitPidns, ns.ino == initPIDNamespaceIno},
		{kerneleventsVarWakeupBytes, specs.WakeupBytes, uint64(opts.WakeupBytes)},
		{kerneleventsVarFilterUids, specs.FilterUids, len(opts.UIDs) > 0},
		{kerneleventsVarFilterComms, specs.FilterComms, len(opts.ExcludeComms) > 0},
		{kerneleventsVarFilterCgroups, specs.FilterCgroups, len(opts.ExcludeCgroupIDs) > 0},
		{kerneleventsVarFilterPrefixes, specs.FilterPrefixes, len(opts.PathPrefixes) > 0},
		{kerneleventsVarFilterNamePrefixes, specs.FilterNamePrefixes, hasNamePrefix(opts.PathPrefixes)},
	} {
		if err := v.spec.Set(v.val); err != nil {
			return fmt.Errorf("set %s: %w", v.name, err)
		}
	}
	return nil
}

// pidNamespace identifies a pid namespace as bpf_get_ns_current_pid_tgid
// takes it: the nsfs device as the kernel's dev_t and the inode.
type pidNamespace struct{ dev, ino uint64 }

// initPIDNamespaceIno is the inode of the initial pid namespace
// (PROC_PID_INIT_INO, include/linux/proc_ns.h: a constant since Linux 3.8;
// other namespaces' inodes are allocated from 0xF0000000 up). A collector
// there (the host, or a pod with hostPID) numbers itself as the kernel
// does: its own files are told by the tgid alone, without the pid
// namespace helper's call on each creation.
const initPIDNamespaceIno = 0xEFFFFFFC

// ownPIDNamespace returns this process's pid namespace, the one in which
// os.Getpid() numbers it. /proc/self/ns/pid names the task's own namespace
// even when /proc was mounted for another one.
func ownPIDNamespace() (pidNamespace, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return pidNamespace{}, fmt.Errorf("exclude self: stat /proc/self/ns/pid (the collector's pid namespace): %w", err)
	}
	// stat encodes st_dev for user space (new_encode_dev); the helper
	// compares with the kernel's dev_t, MKDEV(major, minor) = major<<20 | minor.
	dev := uint64(unix.Major(st.Dev))<<20 | uint64(unix.Minor(st.Dev))
	return pidNamespace{dev: dev, ino: st.Ino}, nil
}

// prefixKey is struct prefix_key in bpf/filter.h, as bpf2go generates it:
// Prefixlen in bits (32 for Dev, the kernel dev_t, then 8 per byte of
// Data).
type prefixKey = kerneleventsPrefixKey

func fillFilters(maps *commonMaps, opts *Options) error {
	one := uint8(1)
	for _, uid := range opts.UIDs {
		if err := maps.UidFilter.Put(uid, one); err != nil {
			return fmt.Errorf("fill uid filter: %w", err)
		}
	}
	for _, c := range opts.ExcludeComms {
		var key [16]byte
		copy(key[:], c)
		if err := maps.CommExclude.Put(key, one); err != nil {
			return fmt.Errorf("fill comm filter: %w", err)
		}
	}
	for _, id := range opts.ExcludeCgroupIDs {
		if err := maps.CgroupExclude.Put(id, one); err != nil {
			return fmt.Errorf("fill cgroup filter: %w", err)
		}
	}
	return nil
}

func (p *Probe) recordIDs() error {
	for _, prog := range p.objs.allPrograms() {
		info, err := prog.Info()
		if err != nil {
			return fmt.Errorf("program %s info: %w", prog, err)
		}
		if id, ok := info.ID(); ok {
			p.progIDs = append(p.progIDs, id)
		}
		// Also the maps only the kernel side holds, if any.
		if ids, ok := info.MapIDs(); ok {
			for _, id := range ids {
				if !slices.Contains(p.mapIDs, id) {
					p.mapIDs = append(p.mapIDs, id)
				}
			}
		}
	}
	for name, m := range p.objs.maps() {
		info, err := m.Info()
		if err != nil {
			return fmt.Errorf("map %s info: %w", name, err)
		}
		if id, ok := info.ID(); ok && !slices.Contains(p.mapIDs, id) {
			p.mapIDs = append(p.mapIDs, id)
		}
	}
	return nil
}

// Hook returns the hook in use.
func (p *Probe) Hook() Hook { return p.hook }

// SetMountsChanged sets fn to be told the node's filesystems (user-space
// dev_t) now and whenever a filesystem comes into the node's mount table
// or leaves it (read from Options.MountInfo). fn runs with the table's lock
// held: it must not call the probe.
func (p *Probe) SetMountsChanged(fn func(devs map[uint64]bool)) { p.where.setChanged(fn) }

// Programs returns the hook's programs, each with whether it is attached:
// every required one is (Open fails otherwise); an optional one the kernel
// refused to attach is listed as not attached, and the files it would see
// are not counted.
func (p *Probe) Programs() []ProgramState { return slices.Clone(p.programs) }

// Notes returns why auto passed over other hooks and which optional programs
// did not attach, one sentence each.
func (p *Probe) Notes() []string { return p.notes }

// ProgramIDs and MapIDs return the kernel ids of what this probe loaded, so
// tests can prove Close released them.
func (p *Probe) ProgramIDs() []ebpf.ProgramID { return p.progIDs }

// MapIDs returns the kernel ids of the maps this probe created.
func (p *Probe) MapIDs() []ebpf.MapID { return p.mapIDs }

// Read blocks until the next sample and decodes it into e, which aliases an
// internal buffer valid until the next Read. It returns an error wrapping
// event.ErrMalformed for a sample it cannot decode (the caller counts it and
// goes on) and one wrapping os.ErrClosed once Close was called.
//
// With batched wakeups the kernel does not wake the reader for each sample;
// the reader's deadline makes it drain the ring at least every MaxLatency.
func (p *Probe) Read(e *event.Event) error {
	for {
		err := p.rd.ReadInto(&p.rec)
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ringbuf.ErrFlushed) {
			// Either comes only once the ring was read empty.
			if p.detached.Load() {
				return ErrDrained
			}
			p.rd.SetDeadline(time.Now().Add(p.maxLatency))
			continue
		}
		if err != nil {
			return err
		}
		if err := event.Decode(p.rec.RawSample, e); err != nil {
			return err
		}
		if !p.where.place(e) {
			continue // outside the path prefixes, known only now
		}
		return nil
	}
}

// Drain detaches every program, so that no sample is written any more, and
// makes a concurrent (or the next) Read return what is still in the ring and
// then ErrDrained: at shutdown, samples that wait in the ring (batched
// wakeups hold up to WakeupBytes of them) are read, not dropped uncounted.
// The maps stay open: LostByReason still works until Close.
func (p *Probe) Drain() error {
	var errs []error
	// The kretprobes go last: their miss counters vanish with them, so
	// they are read once every other program is detached, just before.
	isKret := map[link.Link]bool{}
	for _, k := range p.kretprobes {
		isKret[k.link] = true
	}
	for _, l := range p.links {
		if isKret[l] {
			continue
		}
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close link: %w", err))
		}
	}
	p.missMu.Lock()
	for _, k := range p.kretprobes {
		if k.final {
			continue
		}
		if err := k.update(); err != nil {
			errs = append(errs, fmt.Errorf("read lost counter %s: %w", LostKprobeMissed, err))
		}
		k.final = true
		if err := k.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close link: %w", err))
		}
	}
	p.missMu.Unlock()
	p.links = nil
	// A program that was running when its link closed may still be writing
	// a sample. Tracepoint, kprobe and trampoline programs run inside an RCU
	// read-side section, and membarrier(MEMBARRIER_CMD_GLOBAL) returns after
	// an RCU grace period (synchronize_rcu): after it, none is running.
	if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0); e != 0 {
		errs = append(errs, fmt.Errorf("membarrier (wait for running programs): %w", e))
	}
	p.detached.Store(true)
	if p.rd != nil {
		if err := p.rd.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("flush ring buffer reader: %w", err))
		}
	}
	return errors.Join(errs...)
}

// membarrierCmdGlobal is MEMBARRIER_CMD_GLOBAL (include/uapi/linux/membarrier.h).
const membarrierCmdGlobal = 1

// lostReasons names the kernel's counters (enum counter_idx in
// bpf/event.h, generated into internal/event). Each is exported as
// kernel.events.lost{kernelevents.lost.reason}.
var lostReasons = [...]string{
	event.CounterRingBufferFull:    LostRingBufferFull,
	event.CounterFDRace:            LostFDRace,
	event.CounterIOURingUnobserved: LostIOURingUnobserved,
	event.CounterInflightTableFull: LostInflightTableFull,
	event.CounterScratchBusy:       LostScratchBusy,
	event.CounterCoreDump:          LostCoreDumpUnobserved,
	event.CounterURingInstall:      LostIOURingInstallFailed,
	event.CounterNameUnresolved:    LostNameUnresolved,
}

// Lost returns how many samples the kernel could not deliver since Open, for
// every reason, summed over CPUs.
func (p *Probe) Lost() (uint64, error) {
	by, err := p.LostByReason()
	var n uint64
	for _, v := range by {
		n += v
	}
	return n, err
}

// LostByReason returns the samples the kernel could not deliver since Open,
// by reason (the Lost* constants); every reason is present, zero or not.
func (p *Probe) LostByReason() (map[string]uint64, error) {
	out := make(map[string]uint64, len(lostReasons))
	var errs []error
	for i, reason := range lostReasons {
		var perCPU []uint64
		if err := p.counters.Lookup(uint32(i), &perCPU); err != nil {
			errs = append(errs, fmt.Errorf("read lost counter %s: %w", reason, err))
			continue
		}
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		out[reason] = n
	}
	// The kernel's own accounting of the hooks.
	var missed uint64
	p.missMu.Lock()
	for _, k := range p.kretprobes {
		if !k.final {
			if err := k.update(); err != nil {
				errs = append(errs, fmt.Errorf("read lost counter %s: %w", LostKprobeMissed, err))
			}
		}
		missed += k.last
	}
	p.missMu.Unlock()
	out[LostKprobeMissed] = missed
	n, err := recursionMisses(p.objs.allPrograms())
	if err != nil {
		errs = append(errs, fmt.Errorf("read lost counter %s: %w", LostProgramRecursion, err))
	}
	out[LostProgramRecursion] = n
	return out, errors.Join(errs...)
}

// LostByCgroup returns the samples the kernel could not deliver since the
// probe was opened, by the cgroup v2 id of the task whose creation was lost,
// then by reason (CgroupLostReasons: the kernel's counters, lostReasons;
// LostKprobeMissed and LostProgramRecursion are counted per kprobe and per
// program, not per task); zero counts are left out. Cgroup 0
// holds those of cgroups past LostCgroupsMax. The host-wide counts are
// LostByReason's.
func (p *Probe) LostByCgroup() (map[uint64]map[string]uint64, error) {
	out := map[uint64]map[string]uint64{}
	var cg uint64
	var v kerneleventsLostCounts
	it := p.objs.common().LostCgroups.Iterate()
	for it.Next(&cg, &v) {
		for i, n := range v.N {
			if n == 0 || i >= len(lostReasons) {
				continue
			}
			if out[cg] == nil {
				out[cg] = map[string]uint64{}
			}
			out[cg][lostReasons[i]] = n
		}
	}
	if err := it.Err(); err != nil {
		return out, fmt.Errorf("read the lost_cgroups map: %w", err)
	}
	return out, nil
}

// Close detaches every program and frees every map. It is safe to call more
// than once and on a partly opened probe. The reader goes first so that a
// blocked Read returns; links next so that no program runs on freed maps.
func (p *Probe) Close() error {
	var errs []error
	if p.rd != nil {
		if err := p.rd.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close reader: %w", err))
		}
	}
	if p.where != nil {
		p.where.close()
	}
	for _, l := range p.links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close link: %w", err))
		}
	}
	p.links = nil
	if p.objs != nil {
		p.objs.close()
		p.objs = nil
	}
	return errors.Join(errs...)
}

// String describes the probe for log lines.
func (p *Probe) String() string {
	return fmt.Sprintf("hook %s (%d programs attached)", p.hook, len(p.links))
}

func monotonicOffset() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Now().UnixNano() - ts.Nano()
}
