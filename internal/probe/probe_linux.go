//go:build linux

package probe

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
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
}

// attacher attaches one program.
type attacher struct {
	prog string
	what string
	fn   func(*ebpf.Program) (link.Link, error)
}

func tracepoint(prog, group, name string) attacher {
	return attacher{prog, "tracepoint " + group + "/" + name, func(p *ebpf.Program) (link.Link, error) {
		return link.Tracepoint(group, name, p, nil)
	}}
}

// mknodTracepoints see mknod(2) of regular files, which no do_filp_open
// hook sees. The other hooks use them where tracefs allows.
var mknodTracepoints = []attacher{
	tracepoint("tp_enter_mknod", "syscalls", "sys_enter_mknod"),
	tracepoint("tp_exit_mknod", "syscalls", "sys_exit_mknod"),
	tracepoint("tp_enter_mknodat", "syscalls", "sys_enter_mknodat"),
	tracepoint("tp_exit_mknodat", "syscalls", "sys_exit_mknodat"),
}

// programSet is what one hook loads: required programs must attach, optional
// ones may be missing on some kernels or architectures (arm64 has no open,
// creat or mknod syscalls) and are then noted.
type programSet struct {
	required []attacher
	optional []attacher
}

var programSets = map[Hook]programSet{
	HookKretprobe: {
		required: []attacher{{"kretprobe_do_filp_open", "kretprobe do_filp_open", func(p *ebpf.Program) (link.Link, error) {
			return link.Kretprobe("do_filp_open", p, nil)
		}}},
		optional: mknodTracepoints,
	},
	HookFexit: {
		required: []attacher{{"fexit_do_filp_open", "fexit do_filp_open", func(p *ebpf.Program) (link.Link, error) {
			return link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachTraceFExit})
		}}},
		optional: mknodTracepoints,
	},
	HookTracepoint: {
		required: []attacher{tracepoint("tp_exit_openat", "syscalls", "sys_exit_openat")},
		optional: append([]attacher{
			tracepoint("tp_exit_open", "syscalls", "sys_exit_open"),
			tracepoint("tp_exit_openat2", "syscalls", "sys_exit_openat2"),
			tracepoint("tp_exit_creat", "syscalls", "sys_exit_creat"),
			// io_uring opens pass no syscall tracepoint (the do_filp_open
			// hooks see them; attaching these beside those would count
			// twice). submit_req counts the opens no completion will show
			// (IOSQE_CQE_SKIP_SUCCESS) and records the others for
			// cqe_overflow, which sees the completions that overflow the
			// CQ ring on kernels where io_uring_complete does not.
			tracepoint("tp_io_uring_complete", "io_uring", "io_uring_complete"),
			tracepoint("tp_io_uring_submit_req", "io_uring", "io_uring_submit_req"),
			tracepoint("tp_io_uring_submit_sqe", "io_uring", "io_uring_submit_sqe"),
			tracepoint("tp_io_uring_cqe_overflow", "io_uring", "io_uring_cqe_overflow"),
		}, mknodTracepoints...),
	},
}

// alternatives are programs for one tracepoint under the names it had in
// different kernels, each keyed by the BTF type of its context: only the one
// whose type the running kernel has is loaded and attached (the other's CO-RE
// relocations could not be resolved).
var alternatives = map[string]string{
	"tp_io_uring_submit_req": "trace_event_raw_io_uring_submit_req", // 6.3+
	"tp_io_uring_submit_sqe": "trace_event_raw_io_uring_submit_sqe", // before
}

// dropAlternatives removes from spec the alternatives the kernel has no type for.
func dropAlternatives(spec *ebpf.CollectionSpec, types *btf.Spec) error {
	if types == nil {
		var err error
		if types, err = btf.LoadKernelSpec(); err != nil {
			return fmt.Errorf("load kernel BTF: %w", err)
		}
	}
	for prog, typ := range alternatives {
		if _, ok := spec.Programs[prog]; !ok {
			continue
		}
		var st *btf.Struct
		if err := types.TypeByName(typ, &st); err != nil {
			delete(spec.Programs, prog)
		}
	}
	return nil
}

// Open loads and attaches the programs for opts.Hook. With HookAuto it tries
// each of Hooks in turn and keeps the first that works; Notes says why the
// others were passed over.
func Open(opts Options) (*Probe, error) {
	if err := opts.Validate(os.Getpagesize()); err != nil {
		return nil, err
	}
	if err := checkCapabilities(); err != nil {
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
	if opts.Hook == HookAuto {
		hooks = Hooks
	}
	var notes []string
	var errs []error
	for _, h := range hooks {
		p, err := open(h, &opts, types)
		if err == nil {
			p.notes = append(notes, p.notes...)
			return p, nil
		}
		notes = append(notes, fmt.Sprintf("%s: %v", h, err))
		errs = append(errs, fmt.Errorf("hook %s: %w", h, err))
	}
	if opts.Hook == HookAuto {
		return nil, fmt.Errorf("no hook could attach: %w", errors.Join(errs...))
	}
	return nil, errs[0]
}

// VerifyLoad loads the programs of hook h through the verifier and frees
// them without attaching anything: proof that they load on this kernel.
func VerifyLoad(h Hook, opts Options) error {
	if err := opts.Validate(os.Getpagesize()); err != nil {
		return err
	}
	types, err := kernelTypes(opts.BTFPath)
	if err != nil {
		return err
	}
	spec, err := hookSpec(h, &opts)
	if err != nil {
		return err
	}
	if err := dropAlternatives(spec, types); err != nil {
		return err
	}
	objs, err := loadObjects(spec, types)
	if err != nil {
		return explainLoad(h, err)
	}
	objs.close()
	return nil
}

// hookSpec returns the collection spec with only the programs of h, and the
// constants and sizes of opts set.
func hookSpec(h Hook, opts *Options) (*ebpf.CollectionSpec, error) {
	set, ok := programSets[h]
	if !ok {
		return nil, fmt.Errorf("no programs for hook %q", h)
	}
	spec, err := loadKernelevents()
	if err != nil {
		return nil, fmt.Errorf("load collection spec: %w", err)
	}
	want := map[string]bool{}
	for _, a := range append(set.required, set.optional...) {
		want[a.prog] = true
	}
	for name := range spec.Programs {
		if !want[name] {
			delete(spec.Programs, name)
		}
	}
	if err := configure(spec, opts); err != nil {
		return nil, err
	}
	return spec, nil
}

func open(h Hook, opts *Options, types *btf.Spec) (_ *Probe, err error) {
	set := programSets[h]
	spec, err := hookSpec(h, opts)
	if err != nil {
		return nil, err
	}
	if h == HookTracepoint {
		if err := checkTracefs(); err != nil {
			return nil, err
		}
	}
	if err := dropAlternatives(spec, types); err != nil {
		return nil, err
	}

	objs, err := loadObjects(spec, types)
	if err != nil {
		return nil, explainLoad(h, err)
	}
	p := &Probe{hook: h, objs: objs, counters: objs.maps["counters"], maxLatency: opts.MaxLatency}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if err := fillFilters(objs.maps, opts); err != nil {
		return nil, err
	}
	for _, a := range set.required {
		l, err := a.fn(objs.progs[a.prog])
		if err != nil {
			return nil, explainAttach(a.what, err)
		}
		p.links = append(p.links, l)
	}
	for _, a := range set.optional {
		if _, ok := alternatives[a.prog]; ok && objs.progs[a.prog] == nil {
			continue // the kernel has the other name
		}
		l, err := a.fn(objs.progs[a.prog])
		if err != nil {
			p.notes = append(p.notes, fmt.Sprintf("%s not attached (files it would see are not counted): %v", a.what, explainAttach(a.what, err)))
			continue
		}
		p.links = append(p.links, l)
	}
	if err := p.recordIDs(); err != nil {
		return nil, err
	}
	p.rd, err = ringbuf.NewReader(objs.maps["events"])
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

// configure sets the load-time constants and the ring size.
func configure(spec *ebpf.CollectionSpec, opts *Options) error {
	spec.Maps["events"].MaxEntries = uint32(opts.RingBufferSize)
	self := uint32(0)
	if opts.ExcludePID > 0 {
		self = uint32(opts.ExcludePID)
	}
	vars := map[string]any{
		"self_tgid":       self,
		"wakeup_bytes":    uint64(opts.WakeupBytes),
		"filter_uids":     len(opts.UIDs) > 0,
		"filter_comms":    len(opts.ExcludeComms) > 0,
		"filter_prefixes": len(opts.PathPrefixes) > 0,
	}
	for name, v := range vars {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("set %s: no such variable in the BPF object", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

// prefixKey mirrors struct prefix_key in bpf/kernelevents.bpf.c.
type prefixKey struct {
	PrefixLen uint32
	Data      [MaxPathPrefix]byte
}

func fillFilters(maps map[string]*ebpf.Map, opts *Options) error {
	one := uint8(1)
	for _, uid := range opts.UIDs {
		if err := maps["uid_filter"].Put(uid, one); err != nil {
			return fmt.Errorf("fill uid filter: %w", err)
		}
	}
	for _, c := range opts.ExcludeComms {
		var key [16]byte
		copy(key[:], c)
		if err := maps["comm_exclude"].Put(key, one); err != nil {
			return fmt.Errorf("fill comm filter: %w", err)
		}
	}
	for _, pfx := range opts.PathPrefixes {
		key := prefixKey{PrefixLen: uint32(len(pfx) * 8)}
		copy(key.Data[:], pfx)
		if err := maps["path_prefixes"].Put(key, one); err != nil {
			return fmt.Errorf("fill path prefix filter: %w", err)
		}
	}
	return nil
}

func (p *Probe) recordIDs() error {
	for name, prog := range p.objs.progs {
		info, err := prog.Info()
		if err != nil {
			return fmt.Errorf("program %s info: %w", name, err)
		}
		if id, ok := info.ID(); ok {
			p.progIDs = append(p.progIDs, id)
		}
		// Also the maps only the kernel side holds (scratch, .rodata, ...).
		if ids, ok := info.MapIDs(); ok {
			for _, id := range ids {
				if !slices.Contains(p.mapIDs, id) {
					p.mapIDs = append(p.mapIDs, id)
				}
			}
		}
	}
	for name, m := range p.objs.maps {
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
		if errors.Is(err, os.ErrDeadlineExceeded) {
			p.rd.SetDeadline(time.Now().Add(p.maxLatency))
			continue
		}
		if err != nil {
			return err
		}
		return event.Decode(p.rec.RawSample, e)
	}
}

// lostReasons names the kernel's counters (COUNTER_* in bpf/event.h), by
// index. Each is exported as kernel.events.lost{reason}.
var lostReasons = [...]string{
	0: LostRingBufferFull,
	1: LostFDRace,
	2: LostIOURingUnobserved,
	3: LostInflightTableFull,
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
	return out, errors.Join(errs...)
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

// objects are the programs and maps one hook loaded, by ELF name.
type objects struct {
	progs map[string]*ebpf.Program
	maps  map[string]*ebpf.Map
}

// probeMaps are the maps the loader itself uses; the kernel loads whatever
// else the programs reference and frees it with them.
var probeMaps = []string{"events", "counters", "uid_filter", "comm_exclude", "path_prefixes"}

// loadObjects loads the programs of spec, relocated against types (nil: the
// running kernel's BTF), and the maps the loader uses.
//
// It goes through LoadAndAssign with a struct built to fit rather than
// ebpf.NewCollection: a Collection memory-maps the .rodata and .bss maps for
// its Variables and only unmaps them when the garbage collector runs, so
// those maps outlived Close (seen with cilium/ebpf v0.22). Nothing here needs
// the variables after load.
func loadObjects(spec *ebpf.CollectionSpec, types *btf.Spec) (*objects, error) {
	var fields []reflect.StructField
	var names []string
	add := func(name string, typ reflect.Type) {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", len(fields)),
			Type: typ,
			Tag:  reflect.StructTag(`ebpf:"` + name + `"`),
		})
		names = append(names, name)
	}
	for name := range spec.Programs {
		add(name, reflect.TypeFor[*ebpf.Program]())
	}
	for _, name := range probeMaps {
		add(name, reflect.TypeFor[*ebpf.Map]())
	}
	v := reflect.New(reflect.StructOf(fields))
	if err := spec.LoadAndAssign(v.Interface(), &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: types}}); err != nil {
		return nil, err
	}
	o := &objects{progs: map[string]*ebpf.Program{}, maps: map[string]*ebpf.Map{}}
	for i, name := range names {
		switch x := v.Elem().Field(i).Interface().(type) {
		case *ebpf.Program:
			o.progs[name] = x
		case *ebpf.Map:
			o.maps[name] = x
		}
	}
	return o, nil
}

func (o *objects) close() {
	for _, p := range o.progs {
		p.Close()
	}
	for _, m := range o.maps {
		m.Close()
	}
}

func monotonicOffset() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Now().UnixNano() - ts.Nano()
}
