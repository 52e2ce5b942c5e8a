// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// preemptionModel says how this kernel preempts, from what the kernel itself
// shows (never a process's view): "PREEMPT_RT", "PREEMPT" (full, built in)
// or "PREEMPT_AUTO" (the RT patch set's lazy mode) from its version string;
// for a PREEMPT_DYNAMIC kernel the mode /sys/kernel/debug/sched/preempt marks
// ("none voluntary (full) lazy"), else the last valid preempt= of its command
// line (the kernel applies each in turn; words after "--" are init's); ""
// when none says: a kernel with voluntary or no preemption, or a dynamic one
// booted on its built-in default with debugfs unmounted (taken as not
// preempting programs; README, "hook: auto").
func preemptionModel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	debugfs, _ := os.ReadFile("/sys/kernel/debug/sched/preempt")
	cmdline, _ := os.ReadFile("/proc/cmdline")
	return preemptionModelOf(unix.ByteSliceToString(u.Version[:]), string(debugfs), string(cmdline))
}

// preemptionModelOf is preemptionModel from the kernel's version string
// (uname -v), /sys/kernel/debug/sched/preempt and /proc/cmdline ("" where
// unreadable).
func preemptionModelOf(version, debugfs, cmdline string) string {
	dynamic := false
	for _, f := range strings.Fields(version) {
		switch f {
		case "PREEMPT_RT", "PREEMPT", "PREEMPT_AUTO":
			return f
		case "PREEMPT_DYNAMIC":
			dynamic = true
		}
	}
	if !dynamic {
		return ""
	}
	for _, f := range strings.Fields(debugfs) {
		if strings.HasPrefix(f, "(") && strings.HasSuffix(f, ")") {
			return strings.Trim(f, "()")
		}
	}
	model := ""
	for _, f := range strings.Fields(cmdline) {
		if f == "--" {
			break
		}
		if m, ok := strings.CutPrefix(f, "preempt="); ok {
			switch m {
			case "none", "voluntary", "full", "lazy":
				model = m
			}
		}
	}
	return model
}

// preemptsPrograms: the kernel can preempt a running trampoline (fentry,
// fexit) program. These run with migration, not preemption, disabled, so
// a task preempted in the middle of one leaves it marked running on its CPU,
// and the kernel's recursion guard then skips the run of any other task
// there that enters the same program (counted: program_recursion). In
// Debian's 6.1 PREEMPT_RT kernel, two threads on one CPU, one opening and
// one mknod'ing 3,000 files each, lost 6-138 of the mknods (0.2-4.6 %) that
// way with fexit (the open's may_o_create runs the mknod hook's fentry
// program too) and none with kretprobe (TestPreemptedScratch).
func preemptsPrograms(model string) bool {
	switch model {
	case "PREEMPT_RT", "PREEMPT", "PREEMPT_AUTO", "full", "lazy":
		return true
	}
	return false
}

// kprobeMissesCounted: from Linux 6.7 the kernel counts a kprobe program's
// run it skips because a BPF program or a bpf() map operation holds the
// CPU (bpf_prog_active) in the program's recursion_misses; before, nowhere.
// On a kernel that preempts, a task preempted inside a bpf() map operation
// holds it for as long as it stays preempted, and every kprobe program on
// that CPU is skipped meanwhile.
func kprobeMissesCounted(release string) bool {
	var major, minor int
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 6 || major == 6 && minor >= 7
}

// autoOrder is the order auto tries the hooks in on this kernel, and a note
// when the kernel preempts programs. There kretprobe goes before fexit if
// the kernel counts its skipped runs (6.7+): its programs run with
// preemption disabled, so it loses a run only while another task is
// preempted in a bpf() map operation on that CPU, fexit whenever two tasks
// meet in one of its programs. Before 6.7 the first of those is counted
// nowhere, so fexit, whose losses are all counted, stays first.
func autoOrder(model, release string) ([]Hook, string) {
	if !preemptsPrograms(model) {
		return Hooks, ""
	}
	if !kprobeMissesCounted(release) {
		return Hooks, "auto: fexit kept before kretprobe on this kernel that preempts BPF programs (" + model + ", " + release +
			"): fexit loses runs there to the kernel's recursion guard, counted as lost program_recursion; a kretprobe program is skipped while another task is preempted in a bpf() map operation, which kernels before 6.7 count nowhere"
	}
	order := []Hook{HookKretprobe}
	for _, h := range Hooks {
		if h != HookKretprobe {
			order = append(order, h)
		}
	}
	return order, "auto: kretprobe tried before fexit: this kernel preempts BPF programs (" + model + ", " + release +
		"), and the kernel skips an fexit program's run on a CPU where another task's run of it is preempted (counted as lost program_recursion); a kretprobe program runs with preemption disabled"
}

// uncountedNote is the note of a hook that can lose runs uncounted on this
// kernel: kretprobe where the kernel preempts BPF programs before 6.7 (a
// run skipped while another task on its CPU is preempted in a bpf() map
// operation; TestKretprobeMapOperationSkips lost 70 of 3,000 creations so in
// Debian's 6.1 PREEMPT_RT, none counted). auto takes it there only when
// fexit cannot attach (arm64 before 6.4, trampolines refused).
func uncountedNote(h Hook, model, release string) string {
	if h != HookKretprobe || !preemptsPrograms(model) || kprobeMissesCounted(release) {
		return ""
	}
	return "kretprobe: UNCOUNTED LOSSES POSSIBLE on this kernel (" + model + ", " + release +
		"): it preempts BPF programs, and before Linux 6.7 the kernel counts nowhere a kprobe program's run it skips while another task on that CPU is preempted in a bpf() map operation; use hook fexit where it attaches (README, \"hook: auto\")"
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
