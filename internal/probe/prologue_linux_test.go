// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/stretchr/testify/require"
)

// TestSysExitRejectPrologue checks the shape of the tracepoint hook's
// tp_btf sys_exit program, which runs on every syscall of the machine (issue
// 28): its own function, before the call to the handlers, is the reject
// prologue of bpf/syscall.h (sys_exit_watched). It calls no helper, uses no
// stack (no access through r10) and no callee-saved register (r6-r9, which
// the JIT saves and restores around the whole program), and makes two
// calls, each once: the handlers' function, reached only by a syscall in
// the watched set, and the copy-up's (upper_exit), reached only when a
// thread has a kept inode (one load of a global, upper_waiting). A syscall
// outside the set then costs a few loads and a bit test beside the
// kernel's own cost of running an empty program there. The
// program built before issue 28 had the handlers' entry inlined (stack
// stores, r6-r9, helper calls): this fails on it.
func TestSysExitRejectPrologue(t *testing.T) {
	spec, err := loadKernelevents()
	require.NoError(t, err)
	prog := spec.Programs["tp_sys_exit"]
	require.NotNil(t, prog, "tp_sys_exit in the object")
	var calls []string
	n := 0
	for i, ins := range prog.Instructions {
		if i > 0 && ins.Symbol() != "" {
			break // the first subprogram: the main function ends here
		}
		n++
		require.False(t, ins.IsBuiltinCall(), "instruction %d (%v): a helper call in the prologue", i, ins)
		if ins.IsFunctionCall() {
			calls = append(calls, ins.Reference())
			continue
		}
		for _, r := range []asm.Register{ins.Dst, ins.Src} {
			require.False(t, r == asm.R10, "instruction %d (%v): the stack in the prologue", i, ins)
			require.False(t, r >= asm.R6 && r <= asm.R9, "instruction %d (%v): a callee-saved register in the prologue", i, ins)
		}
	}
	require.ElementsMatch(t, []string{"sys_exit_work_btf", "upper_exit"}, calls,
		"calls from the prologue: the handlers' function, and the copy-up's (bpf/copyup.h), each once")
	require.LessOrEqual(t, n, 48, "instructions in the prologue")
	t.Logf("tp_sys_exit's own function: %d instructions, calls %v", n, calls)
}
