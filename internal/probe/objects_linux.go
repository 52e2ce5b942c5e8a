// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Each hook loads exactly its programs and the maps they share into a
// struct of its own, as cilium/ebpf's examples load the bpf2go objects
// struct; CollectionSpec.LoadAndAssign loads only what a struct names. The
// fields are named and tagged as bpf2go names them in kerneleventsPrograms
// and kerneleventsMaps (TestObjectsMatchGenerated holds them to that), and
// the attach tables reach programs through these fields only, so a program
// dropped or renamed in C stops the build or that test, not an Open on some
// kernel. A struct cannot take its tags from the generated constants, hence
// the test.

// commonMaps are the maps the programs of every hook use: the ring, the
// counters, the filters the loader fills, the per-CPU scratch, the
// load-time constants (.rodata, set through configure) and the writable
// globals (.bss: the tracepoint hook's uring_open_n, uring_name_n and
// upper_waiting, which its optional programs share; kretprobe's and
// fexit's mknod_pending_n).
type commonMaps struct {
	Events        *ebpf.Map `ebpf:"events"`
	Counters      *ebpf.Map `ebpf:"counters"`
	UidFilter     *ebpf.Map `ebpf:"uid_filter"`
	CommExclude   *ebpf.Map `ebpf:"comm_exclude"`
	CgroupExclude *ebpf.Map `ebpf:"cgroup_exclude"`
	PathPrefixes  *ebpf.Map `ebpf:"path_prefixes"`
	NodeDevs      *ebpf.Map `ebpf:"node_devs"`
	WatchedNames  *ebpf.Map `ebpf:"watched_names"`
	ScratchMap    *ebpf.Map `ebpf:"scratch_map"`
	LostCgroups   *ebpf.Map `ebpf:"lost_cgroups"`
	ExecLatest    *ebpf.Map `ebpf:"exec_latest"`
	ExecHistory   *ebpf.Map `ebpf:"exec_history"`
	ExecBuf       *ebpf.Map `ebpf:"exec_buf"`
	Rodata        *ebpf.Map `ebpf:".rodata"`
	Bss           *ebpf.Map `ebpf:".bss"`
}

func (m *commonMaps) common() *commonMaps { return m }

// vfsMaps pair security_path_{mknod,symlink,link,rename} with the return
// of vfs_{create,symlink,link,rename} (the kretprobe and fexit hooks) and
// an open's create with do_filp_open's return, and
// an overlayfs copy-up with the rename or link that named it
// (bpf/copyup.h).
type vfsMaps struct {
	MknodPending   *ebpf.Map `ebpf:"mknod_pending"`
	SymlinkPending *ebpf.Map `ebpf:"symlink_pending"`
	LinkPending    *ebpf.Map `ebpf:"link_pending"`
	RenamePending  *ebpf.Map `ebpf:"rename_pending"`
	CopyupPending  *ebpf.Map `ebpf:"copyup_pending"`
	// the file an open's create made, a slot per thread (by its id's low
	// bits), for an open that fails after it (bpf/vfs.h on_instantiate)
	OpenCreates *ebpf.Map `ebpf:"open_creates"`
}

// syscallMaps are the tracepoint hook's: O_TMPFILE files waiting for a
// name, io_uring opens, renames and links waiting for their completion, and
// the inodes the copy-up programs keep.
type syscallMaps struct {
	Tmpfiles   *ebpf.Map `ebpf:"tmpfiles"`
	UringOpens *ebpf.Map `ebpf:"uring_opens"`
	UringNames *ebpf.Map `ebpf:"uring_names"`
	// the copy-up programs' inodes kept per thread (bpf/upper.h)
	UpperNew    *ebpf.Map `ebpf:"upper_new"`
	UpperInodes *ebpf.Map `ebpf:"upper_inodes"`
	// io_uring threads' kept inodes, per process
	UpperWq *ebpf.Map `ebpf:"upper_wq"`
}

// hookObjects are the programs a hook cannot do without and every map its
// programs, required and optional, use.
type hookObjects interface {
	// common returns the maps the loader reads and fills.
	common() *commonMaps
	// required returns how to attach each program; all must attach.
	required() []attacher
}

// The maps and programs of an objects struct are its fields (embedded
// structs' too) tagged ebpf:"name", as LoadAndAssign fills them: read from
// the struct, so that a map or program added to one is in the lists too.

// objectMaps returns every map of the objects struct o points to by its
// name in the ELF: the optional programs load against these
// (MapReplacements), so that all the hook's programs share one ring, one
// scratch, one .bss.
func objectMaps(o any) map[string]*ebpf.Map {
	m := map[string]*ebpf.Map{}
	for _, f := range taggedFields(reflect.ValueOf(o).Elem()) {
		if mp, ok := f.v.Interface().(*ebpf.Map); ok {
			m[f.tag] = mp
		}
	}
	return m
}

// objectPrograms returns every program of the objects struct o points to,
// in the order of its fields.
func objectPrograms(o any) []*ebpf.Program {
	var progs []*ebpf.Program
	for _, f := range taggedFields(reflect.ValueOf(o).Elem()) {
		if p, ok := f.v.Interface().(*ebpf.Program); ok {
			progs = append(progs, p)
		}
	}
	return progs
}

type taggedField struct {
	tag string
	v   reflect.Value
}

// taggedFields returns the fields of struct v tagged ebpf, embedded
// structs' included, in order.
func taggedFields(v reflect.Value) []taggedField {
	var out []taggedField
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, taggedFields(v.Field(i))...)
			continue
		}
		if tag, ok := f.Tag.Lookup("ebpf"); ok {
			out = append(out, taggedField{tag, v.Field(i)})
		}
	}
	return out
}

// kretprobeObjects are the kretprobe hook's objects.
type kretprobeObjects struct {
	commonMaps
	vfsMaps
	KretprobeDoFilpOpen       *ebpf.Program `ebpf:"kretprobe_do_filp_open"`
	KprobeSecurityPathMknod   *ebpf.Program `ebpf:"kprobe_security_path_mknod"`
	KprobeInstantiate         *ebpf.Program `ebpf:"kprobe_instantiate"`
	KprobeInstantiateNew      *ebpf.Program `ebpf:"kprobe_instantiate_new"`
	KretprobeVfsCreate        *ebpf.Program `ebpf:"kretprobe_vfs_create"`
	KprobeSecurityPathSymlink *ebpf.Program `ebpf:"kprobe_security_path_symlink"`
	KretprobeVfsSymlink       *ebpf.Program `ebpf:"kretprobe_vfs_symlink"`
	KprobeSecurityPathLink    *ebpf.Program `ebpf:"kprobe_security_path_link"`
	KretprobeVfsLink          *ebpf.Program `ebpf:"kretprobe_vfs_link"`
	KprobeSecurityPathRename  *ebpf.Program `ebpf:"kprobe_security_path_rename"`
	KretprobeVfsRename        *ebpf.Program `ebpf:"kretprobe_vfs_rename"`
	RawTpVfsTaskExit          *ebpf.Program `ebpf:"raw_tp_vfs_task_exit"`
}

// required: see hookPrograms for why the VFS pairs are required.
func (o *kretprobeObjects) required() []attacher {
	return []attacher{
		kretprobe(o.KretprobeDoFilpOpen, "do_filp_open"),
		kprobe(o.KprobeSecurityPathMknod, "security_path_mknod"),
		kprobe(o.KprobeInstantiate, "d_instantiate"),
		kprobe(o.KprobeInstantiateNew, "d_instantiate_new"),
		kretprobe(o.KretprobeVfsCreate, "vfs_create"),
		kprobe(o.KprobeSecurityPathSymlink, "security_path_symlink"),
		kretprobe(o.KretprobeVfsSymlink, "vfs_symlink"),
		kprobe(o.KprobeSecurityPathLink, "security_path_link"),
		kretprobe(o.KretprobeVfsLink, "vfs_link"),
		kprobe(o.KprobeSecurityPathRename, "security_path_rename"),
		kretprobe(o.KretprobeVfsRename, "vfs_rename"),
		rawTracepoint(o.RawTpVfsTaskExit, "sched_process_exit"),
	}
}

// fexitObjects are the fexit hook's objects.
type fexitObjects struct {
	commonMaps
	vfsMaps
	FexitDoFilpOpen           *ebpf.Program `ebpf:"fexit_do_filp_open"`
	FentrySecurityPathMknod   *ebpf.Program `ebpf:"fentry_security_path_mknod"`
	FentryInstantiate         *ebpf.Program `ebpf:"fentry_instantiate"`
	FentryInstantiateNew      *ebpf.Program `ebpf:"fentry_instantiate_new"`
	FexitVfsCreate            *ebpf.Program `ebpf:"fexit_vfs_create"`
	FentrySecurityPathSymlink *ebpf.Program `ebpf:"fentry_security_path_symlink"`
	FexitVfsSymlink           *ebpf.Program `ebpf:"fexit_vfs_symlink"`
	FentrySecurityPathLink    *ebpf.Program `ebpf:"fentry_security_path_link"`
	FexitVfsLink              *ebpf.Program `ebpf:"fexit_vfs_link"`
	FentrySecurityPathRename  *ebpf.Program `ebpf:"fentry_security_path_rename"`
	FexitVfsRename            *ebpf.Program `ebpf:"fexit_vfs_rename"`
	RawTpVfsTaskExit          *ebpf.Program `ebpf:"raw_tp_vfs_task_exit"`
}

func (o *fexitObjects) required() []attacher {
	return []attacher{
		tracing(o.FexitDoFilpOpen, "fexit do_filp_open", ebpf.AttachTraceFExit),
		tracing(o.FentrySecurityPathMknod, "fentry security_path_mknod", ebpf.AttachTraceFEntry),
		tracing(o.FentryInstantiate, "fentry d_instantiate", ebpf.AttachTraceFEntry),
		tracing(o.FentryInstantiateNew, "fentry d_instantiate_new", ebpf.AttachTraceFEntry),
		tracing(o.FexitVfsCreate, "fexit vfs_create", ebpf.AttachTraceFExit),
		tracing(o.FentrySecurityPathSymlink, "fentry security_path_symlink", ebpf.AttachTraceFEntry),
		tracing(o.FexitVfsSymlink, "fexit vfs_symlink", ebpf.AttachTraceFExit),
		tracing(o.FentrySecurityPathLink, "fentry security_path_link", ebpf.AttachTraceFEntry),
		tracing(o.FexitVfsLink, "fexit vfs_link", ebpf.AttachTraceFExit),
		tracing(o.FentrySecurityPathRename, "fentry security_path_rename", ebpf.AttachTraceFEntry),
		tracing(o.FexitVfsRename, "fexit vfs_rename", ebpf.AttachTraceFExit),
		rawTracepoint(o.RawTpVfsTaskExit, "sched_process_exit"),
	}
}

// tracepointObjects are the tracepoint hook's objects: one program on
// sys_exit sees every open, creat, mknod and link, native and 32-bit (the
// per-syscall tracepoints skip 32-bit syscalls), and needs no tracefs. See
// bpf/syscall.h for its cost.
type tracepointObjects struct {
	commonMaps
	syscallMaps
	TpSysExit          *ebpf.Program `ebpf:"tp_sys_exit"`
	TpSchedProcessExit *ebpf.Program `ebpf:"tp_sched_process_exit"`
}

// required: sched_process_exit counts the core dumps the hook cannot see
// (core_dump_unobserved).
func (o *tracepointObjects) required() []attacher {
	return []attacher{
		tracing(o.TpSysExit, "tp_btf sys_exit", ebpf.AttachTraceRawTp),
		tracing(o.TpSchedProcessExit, "tp_btf sched_process_exit", ebpf.AttachTraceRawTp),
	}
}

// rawTracepointObjects are the tracepoint hook's objects where the kernel's
// own BTF is missing (tp_btf needs it; the raw tracepoint does not).
type rawTracepointObjects struct {
	commonMaps
	syscallMaps
	RawTpSysExit          *ebpf.Program `ebpf:"raw_tp_sys_exit"`
	RawTpSchedProcessExit *ebpf.Program `ebpf:"raw_tp_sched_process_exit"`
}

func (o *rawTracepointObjects) required() []attacher {
	return []attacher{rawTracepoint(o.RawTpSysExit, "sys_exit"), rawTracepoint(o.RawTpSchedProcessExit, "sched_process_exit")}
}

// The tracepoint hook's optional programs, one struct each: each loads on
// its own, so that one this kernel refuses is noted and the others stay.
type (
	uringComplete struct {
		TpIoUringComplete *ebpf.Program `ebpf:"tp_io_uring_complete"`
	}
	uringSubmitReq struct {
		TpIoUringSubmitReq *ebpf.Program `ebpf:"tp_io_uring_submit_req"`
	}
	uringSubmitSqe struct {
		TpIoUringSubmitSqe *ebpf.Program `ebpf:"tp_io_uring_submit_sqe"`
	}
	uringCqeOverflow struct {
		TpIoUringCqeOverflow *ebpf.Program `ebpf:"tp_io_uring_cqe_overflow"`
	}
)

// The kretprobe and fexit hooks' overlayfs copy-up programs (bpf/copyup.h),
// one struct each.
type (
	copyUpKprobe struct {
		KprobeOvlCopyUpOne *ebpf.Program `ebpf:"kprobe_ovl_copy_up_one"`
	}
	copyUpKretprobe struct {
		KretprobeOvlCopyUpOne *ebpf.Program `ebpf:"kretprobe_ovl_copy_up_one"`
	}
	copyUpFentry struct {
		FentryOvlCopyUpOne *ebpf.Program `ebpf:"fentry_ovl_copy_up_one"`
	}
	copyUpFexit struct {
		FexitOvlCopyUpOne *ebpf.Program `ebpf:"fexit_ovl_copy_up_one"`
	}
)

func (o *copyUpKprobe) program() *ebpf.Program    { return o.KprobeOvlCopyUpOne }
func (o *copyUpKretprobe) program() *ebpf.Program { return o.KretprobeOvlCopyUpOne }
func (o *copyUpFentry) program() *ebpf.Program    { return o.FentryOvlCopyUpOne }
func (o *copyUpFexit) program() *ebpf.Program     { return o.FexitOvlCopyUpOne }

// The tracepoint hook's copy-up programs (bpf/copyup.h, on_ctime): the
// timestamp tracepoints (6.13+), one struct each.
type (
	ctimeToTs struct {
		TpInodeSetCtimeToTs *ebpf.Program `ebpf:"tp_inode_set_ctime_to_ts"`
	}
	ctimeSkip struct {
		TpCtimeXchgSkip *ebpf.Program `ebpf:"tp_ctime_xchg_skip"`
	}
	ctimeXchg struct {
		TpCtimeNsXchg *ebpf.Program `ebpf:"tp_ctime_ns_xchg"`
	}
)

func (o *ctimeToTs) program() *ebpf.Program { return o.TpInodeSetCtimeToTs }
func (o *ctimeSkip) program() *ebpf.Program { return o.TpCtimeXchgSkip }
func (o *ctimeXchg) program() *ebpf.Program { return o.TpCtimeNsXchg }

// ctimeCopyUp returns one of the tracepoint hook's copy-up programs: a
// tp_btf program on a timestamp tracepoint, whose event struct (needs) the
// kernel's BTF has only from 6.13; without it the hook runs without the
// program, says so (copyUpUnseen) and reports it not attached.
func ctimeCopyUp(name, needs string, objects func() optionalObjects) optionalProgram {
	return optionalProgram{
		objects:     objects,
		needs:       needs,
		missingNote: copyUpUnseen + " (the kernel has no timestamp tracepoints: they came in 6.13)",
		attach: func(p *ebpf.Program) attacher {
			return tracing(p, "tp_btf "+name, ebpf.AttachTraceRawTp)
		},
	}
}

// ctimePrograms are the tracepoint hook's copy-up programs, loaded with the
// kernel's own BTF (tp_btf) beside the io_uring programs.
var ctimePrograms = []optionalProgram{
	ctimeCopyUp("inode_set_ctime_to_ts", "trace_event_raw_ctime", func() optionalObjects { return new(ctimeToTs) }),
	ctimeCopyUp("ctime_xchg_skip", "trace_event_raw_ctime", func() optionalObjects { return new(ctimeSkip) }),
	ctimeCopyUp("ctime_ns_xchg", "trace_event_raw_ctime_ns_xchg", func() optionalObjects { return new(ctimeXchg) }),
}

// copyUpUnseen is what a hook without its copy-up programs does not count.
const copyUpUnseen = "a file overlayfs copies up into an upper directory (a lower file opened for write, " +
	"truncated, chmod'ed or given an xattr through the overlay) is not counted"

// copyUp returns an optional copy-up program: loaded where the kernel's BTF
// has overlayfs (built in, or its module loaded before the probe), else
// left out with a note (an overlay module loaded later is not seen).
func copyUp(attach func(*ebpf.Program) attacher, objects func() optionalObjects) optionalProgram {
	return optionalProgram{objects: objects, module: "overlay", moduleType: "ovl_inode", attach: attach}
}

// The copy-up programs of each hook: the call's entry notes the file, its
// return counts it (bpf/copyup.h).
var (
	kretprobeCopyUp = []optionalProgram{
		copyUp(func(p *ebpf.Program) attacher { return kprobe(p, "ovl_copy_up_one") }, func() optionalObjects { return new(copyUpKprobe) }),
		copyUp(func(p *ebpf.Program) attacher { return kretprobe(p, "ovl_copy_up_one") }, func() optionalObjects { return new(copyUpKretprobe) }),
	}
	fexitCopyUp = []optionalProgram{
		copyUp(func(p *ebpf.Program) attacher {
			return tracing(p, "fentry ovl_copy_up_one", ebpf.AttachTraceFEntry)
		}, func() optionalObjects { return new(copyUpFentry) }),
		copyUp(func(p *ebpf.Program) attacher {
			return tracing(p, "fexit ovl_copy_up_one", ebpf.AttachTraceFExit)
		}, func() optionalObjects { return new(copyUpFexit) }),
	}
)

// The exec recorder (bpf/exec.h), beside every hook: the executable as the
// kernel knew it at exec, which each sample is compared with, and handed to
// each new process at fork. tp_btf where the kernel has its own BTF, else
// the raw tracepoints.
type (
	execRecorder struct {
		TpSchedProcessExec *ebpf.Program `ebpf:"tp_sched_process_exec"`
		TpSchedProcessFork *ebpf.Program `ebpf:"tp_sched_process_fork"`
	}
	execRecorderRaw struct {
		RawTpSchedProcessExec *ebpf.Program `ebpf:"raw_tp_sched_process_exec"`
		RawTpSchedProcessFork *ebpf.Program `ebpf:"raw_tp_sched_process_fork"`
	}
)

// execPrograms loads the exec recorder against maps and returns how to
// attach its programs.
func execPrograms(spec *ebpf.CollectionSpec, opts *ebpf.CollectionOptions, ownBTF bool) ([]attacher, error) {
	if ownBTF {
		var o execRecorder
		if err := spec.LoadAndAssign(&o, opts); err != nil {
			return nil, err
		}
		return []attacher{
			tracing(o.TpSchedProcessExec, "tp_btf sched_process_exec", ebpf.AttachTraceRawTp),
			tracing(o.TpSchedProcessFork, "tp_btf sched_process_fork", ebpf.AttachTraceRawTp),
		}, nil
	}
	var o execRecorderRaw
	if err := spec.LoadAndAssign(&o, opts); err != nil {
		return nil, err
	}
	return []attacher{
		rawTracepoint(o.RawTpSchedProcessExec, "sched_process_exec"),
		rawTracepoint(o.RawTpSchedProcessFork, "sched_process_fork"),
	}, nil
}

// execMissing is the note when the exec recorder is not loaded or attached.
const execMissing = "executables are not recorded at exec (sched_process_exec): " +
	"a process's executable is checked against /proc only, and one that replaced its executable reference (prctl PR_SET_MM_MAP) is not told apart"

func (o *uringComplete) program() *ebpf.Program    { return o.TpIoUringComplete }
func (o *uringSubmitReq) program() *ebpf.Program   { return o.TpIoUringSubmitReq }
func (o *uringSubmitSqe) program() *ebpf.Program   { return o.TpIoUringSubmitSqe }
func (o *uringCqeOverflow) program() *ebpf.Program { return o.TpIoUringCqeOverflow }

// optionalObjects is the struct one optional program loads into.
type optionalObjects interface {
	program() *ebpf.Program
}

// optionalProgram is a program a hook goes without on a kernel that lacks
// its hook or refuses it; Notes then says which files are not counted.
type optionalProgram struct {
	// objects returns a new struct to load the program into.
	objects func() optionalObjects
	// needs, when set, is a BTF type the kernel has only with the
	// program's tracepoint (its trace_event_raw_* struct): where the
	// kernel lacks it the program is not loaded and nothing is noted (a
	// tracepoint under the name it had in other kernels; the other
	// name's program loads instead), unless missingNote is set: then the
	// note says what goes unseen and the program is reported not
	// attached.
	needs, missingNote string
	// module and moduleType, when set: the program attaches to a function
	// of that module (or of the kernel, where it is built in), whose BTF
	// has moduleType. Where no BTF the kernel has holds that type (the
	// module not loaded), the program is not loaded and Notes says so.
	module, moduleType string
	// attach returns how to attach the loaded program.
	attach func(*ebpf.Program) attacher
}

func uringTracepoint(name, needs string, objects func() optionalObjects) optionalProgram {
	return optionalProgram{
		objects: objects,
		needs:   needs,
		attach:  func(p *ebpf.Program) attacher { return rawTracepoint(p, name) },
	}
}

// uringPrograms are the tracepoint hook's io_uring programs, raw
// tracepoints: they attach without tracefs. io_uring opens
// pass no syscall (the do_filp_open hooks see them; attaching these beside
// those would count twice). submit_req counts the opens no completion will
// show (IOSQE_CQE_SKIP_SUCCESS) and records the others for cqe_overflow,
// which sees the completions that overflow the CQ ring on kernels where
// io_uring_complete does not. submit_req (6.3+) and submit_sqe (before) are
// one tracepoint under its two names.
var uringPrograms = []optionalProgram{
	uringTracepoint("io_uring_complete", "", func() optionalObjects { return new(uringComplete) }),
	uringTracepoint("io_uring_submit_req", "trace_event_raw_io_uring_submit_req", func() optionalObjects { return new(uringSubmitReq) }),
	uringTracepoint("io_uring_submit_sqe", "trace_event_raw_io_uring_submit_sqe", func() optionalObjects { return new(uringSubmitSqe) }),
	uringTracepoint("io_uring_cqe_overflow", "", func() optionalObjects { return new(uringCqeOverflow) }),
}

// hookPrograms is what one hook loads: its objects, all of which must load
// and attach, and optional programs, which may be missing on some kernels
// and are then noted.
//
// mknod(2) of a regular file, links and renames (the first name of an
// O_TMPFILE file, a new name of a file brought in from another directory)
// pass no do_filp_open: the kretprobe and fexit hooks see them at the VFS,
// security_path_{mknod,link,rename} (which knows the mount; every kernel
// with AppArmor or TOMOYO builds it, CONFIG_SECURITY_PATH) paired with the
// return of vfs_{create,link,rename}. They are required: a kernel without them
// would miss those creations silently, so auto moves on to the tracepoint
// hook, which sees them at the syscall.
type hookPrograms struct {
	load     func(*ebpf.CollectionSpec, *ebpf.CollectionOptions) (hookObjects, error)
	optional []optionalProgram
	// unattachable are optional programs this set cannot attach at all
	// (BTF tracepoints without the kernel's own BTF): noted, and reported
	// not attached.
	unattachable     []optionalProgram
	unattachableNote string
}

// loadHookObjects loads the objects struct T of one hook.
func loadHookObjects[T any, P interface {
	*T
	hookObjects
}](spec *ebpf.CollectionSpec, opts *ebpf.CollectionOptions) (hookObjects, error) {
	o := P(new(T))
	if err := spec.LoadAndAssign(o, opts); err != nil {
		return nil, err
	}
	return o, nil
}

// hookSet returns the programs of h; without the kernel's own BTF (types
// given through btf_path) the tracepoint hook takes the raw tracepoint.
func hookSet(h Hook, ownBTF bool) (hookPrograms, bool) {
	switch h {
	case HookKretprobe:
		return hookPrograms{load: loadHookObjects[kretprobeObjects], optional: kretprobeCopyUp}, true
	case HookFexit:
		return hookPrograms{load: loadHookObjects[fexitObjects], optional: fexitCopyUp}, true
	case HookTracepoint:
		if !ownBTF {
			return hookPrograms{load: loadHookObjects[rawTracepointObjects], optional: uringPrograms,
				unattachable: ctimePrograms, unattachableNote: copyUpUnseen + " (its programs are BTF tracepoints: the kernel's own BTF is missing)"}, true
		}
		return hookPrograms{load: loadHookObjects[tracepointObjects], optional: slices.Concat(uringPrograms, ctimePrograms)}, true
	}
	return hookPrograms{}, false
}

// objects are what one hook loaded.
type objects struct {
	hookObjects
	// exec are the exec recorder's programs, when they loaded.
	exec []attacher
	// optional are the optional programs that loaded, with how to attach
	// each.
	optional []attacher
	// refused names the optional programs on a module's function that the
	// kernel refused to load (with a note): the probe reports them as not
	// attached, so kernel.probe.programs and the health say it is partly
	// blind.
	refused []string
}

// maps returns every map of the hook by its name in the ELF.
func (o *objects) maps() map[string]*ebpf.Map { return objectMaps(o.hookObjects) }

// allPrograms returns every loaded program, required and optional.
func (o *objects) allPrograms() []*ebpf.Program {
	progs := objectPrograms(o.hookObjects)
	for _, a := range o.optional {
		progs = append(progs, a.prog)
	}
	for _, a := range o.exec {
		progs = append(progs, a.prog)
	}
	return progs
}

func (o *objects) close() {
	for _, p := range o.allPrograms() {
		p.Close()
	}
	for _, m := range o.maps() {
		m.Close()
	}
}

// loadObjects loads the programs of h, relocated against types (nil: the
// running kernel's BTF), with the constants and sizes of opts. The required
// programs and every map of the hook load first; then each optional program
// loads on its own against those maps. An optional program the kernel
// refuses fails the load as a required one does, unless the kernel has no
// io_uring at all (then it is left out with a note; strict, VerifyLoad,
// fails then too), or it attaches to a module's function (overlayfs
// copy-up): then it is noted and reported as not attached (objects.refused;
// strict fails). Load errors are explained
// (explainLoad).
//
// It goes through LoadAndAssign rather than ebpf.NewCollection: a
// Collection memory-maps the .rodata and .bss maps for its Variables and
// only unmaps them when the garbage collector runs, so those maps outlived
// Close (seen with cilium/ebpf v0.22). Nothing here needs the variables
// after load.
func loadObjects(h Hook, opts *Options, types *btf.Spec, strict bool) (_ *objects, notes []string, err error) {
	set, ok := hookSet(h, haveOwnBTF())
	if !ok {
		return nil, nil, fmt.Errorf("no programs for hook %q", h)
	}
	spec, err := loadKernelevents()
	if err != nil {
		return nil, nil, fmt.Errorf("load collection spec: %w", err)
	}
	if err := configure(spec, opts); err != nil {
		return nil, nil, err
	}
	// One cache: the kernel's BTF is decoded once for all the loads and
	// the type checks (on 6.1 /sys/kernel/btf/vmlinux cannot be mapped, so
	// each decode reads and parses all of it; under qemu TCG, seconds).
	cache := btf.NewCache()
	copts := &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: types}, Cache: cache}
	ho, err := set.load(spec, copts)
	if err != nil {
		return nil, nil, explainLoad(h, err)
	}
	objs := &objects{hookObjects: ho}
	defer func() {
		if err != nil {
			objs.close()
		}
	}()
	copts.MapReplacements = objs.maps()
	if objs.exec, err = execPrograms(spec, copts, haveOwnBTF()); err != nil {
		if strict {
			return nil, nil, fmt.Errorf("exec recorder: %w", explainLoad(h, err))
		}
		notes = append(notes, fmt.Sprintf("%s: %v", execMissing, explainLoad(h, err)))
		err = nil
	}
	missing := map[string][]string{} // note -> programs not loaded for it
	defer func() {
		for _, note := range slices.Sorted(maps.Keys(missing)) {
			notes = append(notes, fmt.Sprintf("%s not loaded: %s",
				strings.Join(missing[note], ", "), note))
		}
	}()
	for _, op := range set.unattachable {
		a := op.attach(nil)
		objs.refused = append(objs.refused, a.what)
		missing[set.unattachableNote] = append(missing[set.unattachableNote], a.what)
	}
	for _, op := range set.optional {
		if op.needs != "" {
			have, err := haveType(cache, types, op.needs)
			if err != nil {
				return nil, nil, err
			}
			if !have && op.missingNote != "" {
				a := op.attach(nil)
				objs.refused = append(objs.refused, a.what)
				missing[op.missingNote] = append(missing[op.missingNote], a.what)
				continue
			}
			if !have {
				continue // the kernel has the tracepoint under its other name
			}
		}
		o := op.objects()
		a := op.attach(nil)
		if op.moduleType != "" {
			have, err := haveModuleType(cache, types, op.module, op.moduleType)
			if err != nil {
				return nil, nil, err
			}
			if !have {
				notes = append(notes, fmt.Sprintf("%s not loaded (no %s in the kernel's BTF: %s not built in nor loaded): %s",
					a.what, op.moduleType, op.module, copyUpUnseen))
				continue
			}
		}
		if err := spec.LoadAndAssign(o, copts); err != nil {
			err = explainLoad(h, err)
			if op.moduleType != "" && !strict {
				// A module's function the kernel will not let this
				// process trace (an fentry on module BTF needs
				// CAP_SYS_ADMIN to reach that BTF, seen on 6.1 and 6.12
				// with CAP_BPF and CAP_PERFMON alone): the hook runs,
				// reported partly blind rather than failed.
				notes = append(notes, fmt.Sprintf("%s not loaded (%s: %v)", a.what, copyUpUnseen, err))
				objs.refused = append(objs.refused, a.what)
				continue
			}
			// A kernel with io_uring whose io_uring program is refused
			// would let io_uring creations go unseen and uncounted:
			// the hook fails (auto moves on), as for a required
			// program. Only a kernel without io_uring, where nothing
			// can be created through it, leaves the program out.
			uring, terr := haveType(cache, types, "io_ring_ctx")
			if terr != nil {
				return nil, nil, terr
			}
			if strict || uring {
				return nil, nil, fmt.Errorf("%s: %w", a.what, err)
			}
			notes = append(notes, fmt.Sprintf("%s not loaded (the kernel has no io_uring: nothing to see): %v", a.what, err))
			continue
		}
		a.prog = o.program()
		objs.optional = append(objs.optional, a)
	}
	return objs, notes, nil
}

// haveModuleType reports whether the kernel's BTF (types, or the running
// kernel's and then module's, from cache) has a struct named name.
func haveModuleType(cache *btf.Cache, types *btf.Spec, module, name string) (bool, error) {
	if have, err := haveType(cache, types, name); have || err != nil || types != nil {
		return have, err
	}
	spec, err := cache.Module(module)
	if err != nil {
		return false, nil // not loaded, or no module BTF: not there
	}
	var st *btf.Struct
	return spec.TypeByName(name, &st) == nil, nil
}

// haveType reports whether types (nil: the running kernel's BTF, from
// cache) has a struct named name.
func haveType(cache *btf.Cache, types *btf.Spec, name string) (bool, error) {
	if types == nil {
		var err error
		if types, err = cache.Kernel(); err != nil {
			return false, fmt.Errorf("load kernel BTF: %w", err)
		}
	}
	var st *btf.Struct
	return types.TypeByName(name, &st) == nil, nil
}
