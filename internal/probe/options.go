// SPDX-License-Identifier: Apache-2.0

package probe

import (
	"errors"
	"fmt"
	"time"

	"github.com/kernelevents/kernelevents/internal/event"
)

// Hook names a set of kernel programs that see file creation, as a user asks
// for it (the hook config key). Each sample says which program of the set
// saw it: event.HookID.
type Hook string

// Hooks a user can ask for.
const (
	// HookAuto tries fexit, then kretprobe, then tracepoint, and keeps the
	// first that loads and attaches (the order of Hooks); kretprobe first
	// where a kernel from 6.7 on preempts BPF programs (PREEMPT_RT,
	// preempt=full or lazy: autoOrder).
	HookAuto Hook = "auto"
	// HookKretprobe is a kretprobe on do_filp_open (needs kprobes).
	HookKretprobe Hook = "kretprobe"
	// HookFexit is an fexit program on do_filp_open (needs BPF trampolines).
	HookFexit Hook = "fexit"
	// HookTracepoint is the syscall exit and io_uring tracepoints, through
	// tp_btf and raw tracepoints (no tracefs needed).
	HookTracepoint Hook = "tracepoint"
)

// Hooks lists the hooks auto tries, in order (autoOrder changes it on a
// kernel that preempts BPF programs): the cheapest first, measured
// side by side in Debian's 6.1 kernel (bench/RESULTS.md, "Hooks ranked in
// Debian 6.1"). fexit and kretprobe both sit on do_filp_open and tax no
// other syscall; fexit costs less per open and per creation. Both can miss,
// and both count it: kretprobe when its instances run out (kprobe_missed),
// fexit when a program is preempted (preempt=full, PREEMPT_RT) and another
// task's run on that CPU is skipped (program_recursion) or finds no scratch
// slot (scratch_busy).
// kretprobe stays where trampolines are missing (arm64 before 6.4, kernels
// that refuse them). tracepoint, last, taxes every syscall of the machine.
var Hooks = []Hook{HookFexit, HookKretprobe, HookTracepoint}

// Reasons a sample was not delivered, as kernel.events.lost{kernelevents.lost.reason} reports
// them. The kernel counts the first five (bpf/event.h); the others come from
// the kernel's own accounting of the hooks, read in user space.
const (
	// LostRingBufferFull: the ring buffer had no room for the sample.
	LostRingBufferFull = "ring_buffer_full"
	// LostFDRace: a creation was seen, but the fd slot it was installed in
	// was closed or replaced by another thread before the hook read it.
	LostFDRace = "fd_race"
	// LostIOURingUnobserved: an io_uring open that may have created a file
	// and whose result the hook cannot read (no completion is posted).
	LostIOURingUnobserved = "io_uring_unobserved"
	// LostInflightTableFull: no room was left to keep a syscall's arguments
	// from its entry to its exit.
	LostInflightTableFull = "inflight_table_full"
	// LostScratchBusy: every per-CPU scratch buffer (SCRATCH_SLOTS in
	// bpf/scratch.h) was held by a preempted program on that CPU.
	LostScratchBusy = "scratch_busy"
	// LostCoreDumpUnobserved: a process dumped core and the tracepoint
	// hook cannot see the file the kernel wrote (an upper bound: a
	// core_pattern pipe writes none).
	LostCoreDumpUnobserved = "core_dump_unobserved"
	// LostIOURingInstallFailed: an io_uring O_CREAT open into a direct
	// descriptor that the ring could not take after the open (the file
	// may exist; an upper bound).
	LostIOURingInstallFailed = "io_uring_install_failed"
	// LostNameUnresolved: tracepoint hook: a symbolic link, or a rename or
	// link within one directory under a name prefix, named with a '/' whose
	// directory the kernel could not look up again at the syscall's exit
	// (bpf/lookup.h), and whose last directory as written has no watched
	// name (an upper bound: it may be outside every watched directory).
	LostNameUnresolved = "name_unresolved"
	// LostKprobeMissed: the kernel skipped the kretprobe (no free instance,
	// maxactive exhausted) or the kprobe (recursion).
	LostKprobeMissed = "kprobe_missed"
	// LostProgramRecursion: the kernel skipped a BPF program because another
	// BPF program was running on the same CPU (bpf_prog_info.recursion_misses).
	LostProgramRecursion = "program_recursion"
)

// CgroupLostReasons are the reasons LostByCgroup counts by cgroup: every
// one the kernel counts in the task whose creation was lost (enum
// counter_idx in bpf/event.h). LostKprobeMissed and LostProgramRecursion
// stay host-wide: the kernel counts them per kprobe and per program, with
// no task.
var CgroupLostReasons = []string{LostRingBufferFull, LostFDRace, LostIOURingUnobserved, LostInflightTableFull,
	LostScratchBusy, LostCoreDumpUnobserved, LostIOURingInstallFailed, LostNameUnresolved}

// LostCgroupsMax is how many cgroups the kernel's losses are attributed to
// (LOST_CGROUPS_MAX in bpf/output.h); past it they count under cgroup 0.
const LostCgroupsMax = 1024

// ErrDrained is returned by Read after Drain, once every sample the programs
// wrote has been read.
var ErrDrained = errors.New("ring buffer drained after the programs were detached")

// Limits the kernel programs impose on the options.
const (
	// MaxPathPrefix is the longest path prefix the in-kernel filter holds
	// (struct prefix_key's data in bpf/filter.h, the LPM trie's key).
	MaxPathPrefix = len(kerneleventsPrefixKey{}.Data)
	// MaxFilterEntries bounds each in-kernel filter map (their max_entries
	// in bpf/filter.h; TestLimitsMatchObjects holds the two together).
	MaxFilterEntries = 256
	// MaxCommLen is the longest comm the kernel keeps (the sample's comm
	// less its NUL: TASK_COMM_LEN - 1).
	MaxCommLen = event.CommLen - 1
	// MaxKretprobeActive is the most kretprobe instances the kernel allows
	// (KRETPROBE_MAXACTIVE_MAX in kernel/trace/trace_kprobe.c), and the
	// default: that many tasks can be inside do_filp_open at once (blocked
	// on a FIFO, a slow NFS or FUSE lookup) before the kretprobe misses
	// opens. Each instance is one small kernel allocation (struct
	// kretprobe_instance), made when the probe is attached.
	MaxKretprobeActive = 4096
	// MaxRingBufferSize is the largest ring buffer the options accept
	// (1GiB): the ring is kernel memory, allocated whole at load and never
	// swapped, on a node's every collector.
	MaxRingBufferSize = 1 << 30
)

// Options says what to load and how. The zero value is not valid: start
// from DefaultOptions.
type Options struct {
	// Hook to attach; HookAuto picks the first that works.
	Hook Hook
	// RingBufferSize in bytes: a power of two and a multiple of the page size.
	RingBufferSize int
	// WakeupBytes: the kernel wakes the reader once this many bytes wait in
	// the ring; 0 wakes it for every sample.
	WakeupBytes int
	// MaxLatency bounds how long a sample may wait in the ring when wakeups
	// are batched: the reader drains it at least this often.
	MaxLatency time.Duration
	// PathPrefixes keeps only files whose path on the node starts with one
	// of these; empty keeps all. They are resolved through the node's mount
	// table (MountInfo) to filesystems and paths inside them, so a file
	// counts under a watched directory through any mount of it, in any mount
	// namespace.
	PathPrefixes []string
	// MountInfo is the node's mount table (a mountinfo file, proc(5)): the
	// mount namespace whose paths samples and PathPrefixes are in. Empty
	// means /proc/1/mountinfo (the init process's: the node's, when this
	// /proc shows the node's processes).
	MountInfo string
	// UIDs keeps only files created by these effective uids (the kernel
	// compares cred->euid, bpf/filter.h); empty keeps all.
	UIDs []uint32
	// ExcludeComms drops files created by tasks with these names. A task
	// chooses its own name: not a security boundary.
	ExcludeComms []string
	// ExcludeCgroupIDs drops files created by tasks in these cgroups (cgroup
	// v2 ids, the inode numbers of their directories; not their
	// descendants). A task cannot move itself into a cgroup it may not
	// write to.
	ExcludeCgroupIDs []uint64
	// ExcludePID drops files created by this process (the collector
	// itself), numbered as the caller's pid namespace numbers it
	// (os.Getpid()): the kernel compares in that namespace, so it holds in a
	// container without host PID. 0 drops none.
	ExcludePID int
	// KretprobeMaxActive is the kretprobe's instances (maxactive), from 1
	// to MaxKretprobeActive; 0 means MaxKretprobeActive. Misses past it are
	// counted as LostKprobeMissed.
	KretprobeMaxActive int
	// BTFPath is a BTF file (raw or a vmlinux ELF) describing the running
	// kernel, for kernels without /sys/kernel/btf/vmlinux; empty uses the
	// kernel's own.
	BTFPath string
}

// DefaultOptions returns the defaults: auto hook, 4 MiB ring, wakeups batched
// at 256 KiB or 100 ms.
func DefaultOptions() Options {
	return Options{
		Hook:           HookAuto,
		RingBufferSize: 4 << 20,
		WakeupBytes:    256 << 10,
		MaxLatency:     100 * time.Millisecond,
	}
}

func (o *Options) kretprobeMaxActive() int {
	if o.KretprobeMaxActive == 0 {
		return MaxKretprobeActive
	}
	return o.KretprobeMaxActive
}

// ParseHook returns the hook named s.
func ParseHook(s string) (Hook, error) {
	switch h := Hook(s); h {
	case HookAuto, HookKretprobe, HookFexit, HookTracepoint:
		return h, nil
	}
	return "", fmt.Errorf("unknown hook %q (want auto, kretprobe, fexit or tracepoint)", s)
}

// FieldError is one invalid option: the Options field it is in, the index
// of the entry when the field is a list (else -1), and what is wrong. A
// caller with its own names for the fields (the receiver's configuration
// keys) reports Msg under its name for Field.
type FieldError struct {
	// Field is the name of the Options field, as in Go ("RingBufferSize").
	Field string
	// Index is the entry of a list field at fault, or -1 for the field as a
	// whole.
	Index int
	// Msg says what is wrong with the value, without the field's name.
	Msg string
}

func (e *FieldError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("%s[%d]: %s", e.Field, e.Index, e.Msg)
	}
	return e.Field + ": " + e.Msg
}

// Validate checks the options against what the kernel programs accept and
// reports every problem at once, each a *FieldError (see Problems).
func (o *Options) Validate(pageSize int) error {
	var errs []error
	for _, p := range o.Problems(pageSize) {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// Problems returns every invalid option, in the order of the fields; none
// when the options are valid. The one place where the loader's limits are
// checked: the receiver's configuration is validated through it.
func (o *Options) Problems(pageSize int) []*FieldError {
	var errs []*FieldError
	bad := func(field string, index int, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Index: index, Msg: fmt.Sprintf(format, args...)})
	}
	if _, err := ParseHook(string(o.Hook)); err != nil {
		bad("Hook", -1, "%v", err)
	}
	if n := o.RingBufferSize; n <= 0 || n&(n-1) != 0 || n%pageSize != 0 {
		bad("RingBufferSize", -1, "%d is not a power of two and a multiple of the page size (%d)", n, pageSize)
	} else if n > MaxRingBufferSize {
		bad("RingBufferSize", -1, "%d is more than %d (1GiB)", n, MaxRingBufferSize)
	}
	if o.WakeupBytes < 0 || (o.RingBufferSize > 0 && o.WakeupBytes >= o.RingBufferSize) {
		bad("WakeupBytes", -1, "%d must be from 0 (wake the reader per sample) to less than the ring buffer size", o.WakeupBytes)
	}
	if o.WakeupBytes > 0 && o.MaxLatency <= 0 {
		bad("MaxLatency", -1, "must be positive when wakeups are batched")
	}
	if len(o.PathPrefixes) > MaxFilterEntries {
		bad("PathPrefixes", -1, "at most %d entries", MaxFilterEntries)
	}
	for i, p := range o.PathPrefixes {
		if p == "" || p[0] != '/' || len(p) > MaxPathPrefix {
			bad("PathPrefixes", i, "%q must be an absolute path of at most %d bytes", p, MaxPathPrefix)
		}
	}
	if len(o.UIDs) > MaxFilterEntries {
		bad("UIDs", -1, "at most %d entries", MaxFilterEntries)
	}
	if len(o.ExcludeComms) > MaxFilterEntries {
		bad("ExcludeComms", -1, "at most %d entries", MaxFilterEntries)
	}
	for i, c := range o.ExcludeComms {
		if c == "" || len(c) > MaxCommLen {
			bad("ExcludeComms", i, "%q must be 1 to %d bytes (the kernel keeps no more of a task name)", c, MaxCommLen)
		}
	}
	if len(o.ExcludeCgroupIDs) > MaxFilterEntries {
		bad("ExcludeCgroupIDs", -1, "at most %d entries", MaxFilterEntries)
	}
	if o.KretprobeMaxActive < 0 || o.KretprobeMaxActive > MaxKretprobeActive {
		bad("KretprobeMaxActive", -1, "kretprobe maxactive %d must be from 1 to %d (0: %d)", o.KretprobeMaxActive, MaxKretprobeActive, MaxKretprobeActive)
	}
	if o.MountInfo != "" && o.MountInfo[0] != '/' {
		bad("MountInfo", -1, "%q must be an absolute path", o.MountInfo)
	}
	if o.BTFPath != "" && o.BTFPath[0] != '/' {
		bad("BTFPath", -1, "%q must be an absolute path", o.BTFPath)
	}
	return errs
}

// MonotonicOffset returns wall-clock time minus CLOCK_MONOTONIC, in
// nanoseconds, so that a sample's TimeNs (bpf_ktime_get_ns) converts to wall
// time as TimeNs + offset. It drifts with clock adjustments; the receiver
// takes it at start.
func MonotonicOffset() int64 {
	return monotonicOffset()
}

// ProgramState is one program of the hook in use: what it attaches to
// ("tp_btf sys_exit", "raw tracepoint io_uring_complete", ...) and whether
// it is attached.
type ProgramState struct {
	Name     string
	Attached bool
}
