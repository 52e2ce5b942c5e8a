// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/procstatus"
)

// ErrMissingCapability is wrapped by errors that name the capabilities the
// process lacks.
var ErrMissingCapability = errors.New("missing capability")

// ErrTracefsNotMounted is wrapped when the syscall tracepoints cannot be
// found because tracefs is not mounted.
var ErrTracefsNotMounted = errors.New("tracefs is not mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing (mount it: mount -t tracefs tracefs /sys/kernel/tracing)")

// ErrNoKernelBTF is wrapped when the kernel exposes no BTF and no BTF file
// was given: the programs are CO-RE and cannot be relocated without one.
var ErrNoKernelBTF = errors.New("the kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing: built without CONFIG_DEBUG_INFO_BTF, or /sys not mounted) and no vmlinux with BTF was found; set btf_path to a BTF file for this kernel (for example from BTFHub)")

// Capability numbers from include/uapi/linux/capability.h.
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// checkCapabilities fails early, naming what is missing: loading tracing
// programs needs CAP_BPF and CAP_PERFMON (5.8+), or CAP_SYS_ADMIN.
func checkCapabilities() error {
	caps, err := procstatus.Capabilities(os.Getpid())
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	return capabilityError(caps)
}

func capabilityError(caps uint64) error {
	has := func(c uint) bool { return caps&(1<<c) != 0 }
	if has(capSysAdmin) || (has(capBPF) && has(capPerfmon)) {
		return nil
	}
	var missing []string
	if !has(capBPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capPerfmon) {
		missing = append(missing, "CAP_PERFMON")
	}
	return fmt.Errorf("%w: %s (or CAP_SYS_ADMIN) is needed to load and attach BPF tracing programs", ErrMissingCapability, strings.Join(missing, " and "))
}

// ErrSyscallRefused is wrapped when bpf() or perf_event_open() is refused
// before the kernel reads its arguments: by a seccomp filter (a container
// runtime's profile) or a Linux security module, not by a resource limit.
var ErrSyscallRefused = errors.New("system call refused")

// memlockHint is what cilium/ebpf appends to every EPERM from creating a map
// or loading a program. It is right only before Linux 5.11 without
// CAP_SYS_RESOURCE; otherwise the EPERM has another cause (a seccomp filter,
// an LSM, a refused trampoline) and the hint sends the reader the wrong way.
const memlockHint = " (MEMLOCK may be too low, consider rlimit.RemoveMemlock)"

// hintless keeps err (errors.Is and As still see it) and says it without
// memlockHint.
type hintless struct{ err error }

func (h hintless) Error() string { return strings.ReplaceAll(h.err.Error(), memlockHint, "") }
func (h hintless) Unwrap() error { return h.err }

func withoutMemlockHint(err error) error {
	if err == nil || !strings.Contains(err.Error(), memlockHint) {
		return err
	}
	return hintless{err}
}

// refused reports whether the system call call ("bpf" or "perf_event_open")
// is refused before the kernel reads its arguments, and by what. It makes
// the call with arguments the kernel itself rejects (an unknown bpf command;
// a NULL perf_event_attr): EINVAL or EFAULT means the call reaches the
// kernel; EPERM (or ENOSYS under a filter) means a seccomp filter or an LSM
// stopped it first. A resource limit such as RLIMIT_MEMLOCK never does.
func refused(call string) error {
	var errno unix.Errno
	switch call {
	case "bpf":
		_, _, errno = unix.Syscall(unix.SYS_BPF, 0xffff, 0, 0)
	case "perf_event_open":
		_, _, errno = unix.Syscall6(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0, 0)
	default:
		return nil
	}
	mode, _ := procstatus.Field(os.Getpid(), "Seccomp")
	filtered := strings.TrimSpace(mode) == "2"
	if errno != unix.EPERM && errno != unix.EACCES && (errno != unix.ENOSYS || !filtered) {
		return nil
	}
	held := "CAP_BPF"
	if call == "perf_event_open" {
		held = "CAP_PERFMON"
	}
	if filtered {
		return fmt.Errorf("%w: %s() fails with %s before the kernel reads its arguments (%s held): this process runs under a seccomp filter (Seccomp: 2 in /proc/self/status) that refuses it, not a memory limit. A container runtime's default profile allows %s() only to a container holding %s (containerd, CRI-O) or only to CAP_SYS_ADMIN (older Docker and podman profiles, Debian 12's podman among them): give the container a profile that allows it (packaging/seccomp writes one from the runtime's default)",
			ErrSyscallRefused, call, errno.Error(), held, call, held)
	}
	lsms := "unknown"
	if b, err := os.ReadFile("/sys/kernel/security/lsm"); err == nil {
		lsms = strings.TrimSpace(string(b))
	}
	return fmt.Errorf("%w: %s() fails with %s before the kernel reads its arguments (%s held, no seccomp filter: Seccomp: %s in /proc/self/status): a Linux security module refuses it (active: %s), not a memory limit",
		ErrSyscallRefused, call, errno.Error(), held, strings.TrimSpace(mode), lsms)
}

// explainLoad turns a load failure into an error that says what the kernel
// refused.
func explainLoad(h Hook, err error) error {
	err = withoutMemlockHint(err)
	var verr *ebpf.VerifierError
	switch {
	case errors.As(err, &verr):
		// Before the EPERM/EACCES cases: the verifier refuses with EACCES.
		return fmt.Errorf("load %s programs: the verifier rejected them: %w", h, err)
	case errors.Is(err, os.ErrPermission) && refused("bpf") != nil:
		return fmt.Errorf("load %s programs: %w: %w", h, refused("bpf"), err)
	case h == HookFexit && errors.Is(err, os.ErrPermission):
		// cilium/ebpf suggests RLIMIT_MEMLOCK here, but we hold the
		// capabilities (checked) and memory is memcg-accounted: it is the
		// trampoline the kernel refuses.
		return fmt.Errorf("load fexit program: the kernel refused a BPF trampoline program (EPERM with CAP_BPF and CAP_PERFMON held; trampolines disabled or forbidden by lockdown): %w: %w", ebpf.ErrNotSupported, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("load %s programs: permission denied by the kernel (lockdown, or a security module's policy on programs of this type): %w", h, err)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("load %s programs: not supported by this kernel: %w", h, err)
	}
	return fmt.Errorf("load %s programs: %w", h, err)
}

// ErrPerfEventParanoid is wrapped when the kernel refused a perf event
// (which kprobes and syscall tracepoints attach through) because
// kernel.perf_event_paranoid is above 2 and the process lacks CAP_SYS_ADMIN:
// Debian's and Ubuntu's kernels carry a patch that makes level 3 (their
// default) refuse perf_event_open to everyone else, CAP_PERFMON included.
var ErrPerfEventParanoid = errors.New("kernel.perf_event_paranoid is above 2: this kernel (Debian/Ubuntu patch) lets only CAP_SYS_ADMIN open the perf events kprobes and tracepoints attach through; set sysctl kernel.perf_event_paranoid=2, grant CAP_SYS_ADMIN, or use hook fexit")

// perfEventParanoid reads kernel.perf_event_paranoid (-1 to 4); it returns
// 2, the mainline default, when the file cannot be read.
func perfEventParanoid() int {
	b, err := os.ReadFile("/proc/sys/kernel/perf_event_paranoid")
	if err != nil {
		return 2
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 2
	}
	return n
}

// explainAttach says why what did not attach.
func explainAttach(what string, err error) error {
	kprobe := strings.HasPrefix(what, "kprobe") || strings.HasPrefix(what, "kretprobe")
	perfEvent := kprobe || strings.HasPrefix(what, "tracepoint")
	switch {
	case errors.Is(err, ErrTracefsNotMounted):
		return fmt.Errorf("attach %s: %w", what, err)
	case kprobe && errors.Is(err, os.ErrNotExist) && !kprobesAvailable():
		return fmt.Errorf("attach %s: kprobes are not available in this kernel (no kprobe PMU, no tracefs kprobe_events; CONFIG_KPROBE_EVENTS off?): %w: %w", what, ebpf.ErrNotSupported, err)
	case kprobe && errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("attach %s: no such kernel function (inlined, renamed, or built out: security_path_* need CONFIG_SECURITY_PATH): %w: %w", what, ebpf.ErrNotSupported, err)
	case strings.HasPrefix(what, "kretprobe") && errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("attach %s: kprobes are not available in this kernel (no kprobe PMU, no tracefs kprobe_events; CONFIG_KPROBE_EVENTS off?): %w: %w", what, ebpf.ErrNotSupported, err)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("attach %s: no such hook in this kernel: %w: %w", what, ebpf.ErrNotSupported, err)
	case perfEvent && errors.Is(err, os.ErrPermission) && refused("perf_event_open") != nil:
		return fmt.Errorf("attach %s: %w: %w", what, refused("perf_event_open"), err)
	case perfEvent && errors.Is(err, os.ErrPermission) && perfEventParanoid() > 2:
		if caps, cerr := procstatus.Capabilities(os.Getpid()); cerr == nil && caps&(1<<capSysAdmin) == 0 {
			return fmt.Errorf("attach %s: permission denied: %w: %w", what, ErrPerfEventParanoid, err)
		}
		return fmt.Errorf("attach %s: permission denied: %w", what, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("attach %s: permission denied: %w", what, err)
	}
	return fmt.Errorf("attach %s: %w", what, err)
}

// kprobesAvailable reports whether the kernel offers kprobes at all: the
// kprobe PMU (perf_event_open) or tracefs's kprobe_events.
func kprobesAvailable() bool {
	for _, f := range []string{"/sys/bus/event_source/devices/kprobe/type", "/sys/kernel/tracing/kprobe_events", "/sys/kernel/debug/tracing/kprobe_events"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	return false
}

// kernelTypes returns the BTF to relocate the programs against: the file at
// path when set; nil (cilium/ebpf loads and caches the kernel's own) when
// the kernel exposes /sys/kernel/btf/vmlinux; else a vmlinux with BTF that
// cilium/ebpf finds under /boot or /lib/modules; else ErrNoKernelBTF.
func kernelTypes(path string) (*btf.Spec, error) {
	if path != "" {
		spec, err := btf.LoadSpec(path)
		if err != nil {
			return nil, fmt.Errorf("load BTF from btf_path %q: %w", path, err)
		}
		return spec, nil
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err == nil {
		return nil, nil
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoKernelBTF, err)
	}
	return spec, nil
}
