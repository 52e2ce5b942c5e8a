//go:build linux

package probe

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

// ErrMissingCapability is wrapped by errors that name the capabilities the
// process lacks.
var ErrMissingCapability = errors.New("missing capability")

// ErrTracefsNotMounted is wrapped when the syscall tracepoints cannot be
// found because tracefs is not mounted.
var ErrTracefsNotMounted = errors.New("tracefs is not mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing (mount it: mount -t tracefs tracefs /sys/kernel/tracing)")

// Capability numbers from include/uapi/linux/capability.h.
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// effectiveCaps reads the effective capability set of this process.
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}

// checkCapabilities fails early, naming what is missing: loading tracing
// programs needs CAP_BPF and CAP_PERFMON (5.8+), or CAP_SYS_ADMIN.
func checkCapabilities() error {
	caps, err := effectiveCaps()
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

// checkTracefs finds the tracepoint directory the way cilium/ebpf does.
func checkTracefs() error {
	for _, dir := range []string{"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"} {
		if _, err := os.Stat(dir); err == nil {
			return nil
		}
	}
	return fmt.Errorf("syscall tracepoints: %w: %w", ebpf.ErrNotSupported, ErrTracefsNotMounted)
}

// explainLoad turns a load failure into an error that says what the kernel
// refused.
func explainLoad(h Hook, err error) error {
	var verr *ebpf.VerifierError
	switch {
	case h == HookFexit && errors.Is(err, os.ErrPermission):
		// cilium/ebpf suggests RLIMIT_MEMLOCK here, but we hold the
		// capabilities (checked) and memory is memcg-accounted: it is the
		// trampoline the kernel refuses.
		return fmt.Errorf("load fexit program: the kernel refused a BPF trampoline program (EPERM with CAP_BPF and CAP_PERFMON held; trampolines disabled or forbidden by lockdown): %w: %w", ebpf.ErrNotSupported, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("load %s programs: permission denied (kernel lockdown or a seccomp/LSM policy?): %w", h, err)
	case errors.As(err, &verr):
		return fmt.Errorf("load %s programs: the verifier rejected them: %w", h, err)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("load %s programs: not supported by this kernel: %w", h, err)
	}
	return fmt.Errorf("load %s programs: %w", h, err)
}

// explainAttach says why what did not attach.
func explainAttach(what string, err error) error {
	switch {
	case strings.HasPrefix(what, "kretprobe") && errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("attach %s: kprobes are not available in this kernel (no kprobe PMU, no tracefs kprobe_events; CONFIG_KPROBE_EVENTS off?): %w: %w", what, ebpf.ErrNotSupported, err)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("attach %s: no such hook in this kernel: %w: %w", what, ebpf.ErrNotSupported, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("attach %s: permission denied: %w", what, err)
	}
	return fmt.Errorf("attach %s: %w", what, err)
}
