// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// preemptionModel says how this kernel preempts, from what the node shows
// (never the creator's view: these are the kernel's own files):
// "PREEMPT_RT" or "PREEMPT" (full, built in) or "PREEMPT_LAZY" from the
// kernel's version string; for a PREEMPT_DYNAMIC kernel the preempt= of its
// command line, else the mode debugfs marks ("(full)" in
// /sys/kernel/debug/sched/preempt); "" when none of them says (a dynamic
// kernel booted on its built-in default with debugfs unmounted: taken as not
// preempting programs; hook: kretprobe picks the hook by name).
func preemptionModel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		for _, f := range strings.Fields(unix.ByteSliceToString(u.Version[:])) {
			switch f {
			case "PREEMPT_RT", "PREEMPT", "PREEMPT_LAZY":
				return f
			}
		}
	}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if m, ok := strings.CutPrefix(f, "preempt="); ok {
				return m
			}
		}
	}
	if b, err := os.ReadFile("/sys/kernel/debug/sched/preempt"); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if strings.HasPrefix(f, "(") && strings.HasSuffix(f, ")") {
				return strings.Trim(f, "()")
			}
		}
	}
	return ""
}

// preemptsPrograms: the kernel can preempt a running trampoline (fentry,
// fexit) program. These run with migration, not preemption, disabled, so
// a task preempted in the middle of one leaves it marked running on its CPU,
// and the kernel's recursion guard then skips the run of any other task
// there that enters the same program (program_recursion). In Debian's 6.1
// PREEMPT_RT kernel, two threads on one CPU, one opening and one mknod'ing
// 3,000 files each, lost 6-138 of the mknods (0.2-4.6 %) that way with fexit (the open's
// may_o_create runs the mknod hook's fentry program too), and none with
// kretprobe, whose programs run with preemption disabled
// (TestPreemptedScratch).
func preemptsPrograms(model string) bool {
	switch model {
	case "PREEMPT_RT", "PREEMPT", "PREEMPT_LAZY", "full", "lazy":
		return true
	}
	return false
}

// autoOrder is the order auto tries the hooks in on this kernel, and a note
// when it is not Hooks': where the kernel preempts programs, kretprobe goes
// before fexit (preemptsPrograms).
func autoOrder(model string) ([]Hook, string) {
	if !preemptsPrograms(model) {
		return Hooks, ""
	}
	order := []Hook{HookKretprobe}
	for _, h := range Hooks {
		if h != HookKretprobe {
			order = append(order, h)
		}
	}
	return order, "auto: kretprobe tried before fexit: this kernel preempts BPF programs (" + model +
		"), and the kernel skips an fexit program's run on a CPU where another task's run of it is preempted (counted as lost program_recursion); a kretprobe's programs are never preempted"
}
