// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

// Whether this process takes the audit syscall path: the kernel gives a task
// an audit context at fork (kernel/auditsc.c: audit_alloc) once audit has
// been enabled at any time since boot (audit_ever_enabled), and that task
// then runs audit's entry and exit code on every syscall (SYSCALL_WORK_AUDIT)
// whether or not audit is still enabled or any rule matches. Nothing in
// /proc says so (auditctl -s shows only whether audit is enabled now; the
// loginuid and sessionid files exist either way), so the bench asks the
// kernel directly: a BPF program, run once with BPF_PROG_TEST_RUN in this
// thread and attached nowhere, reads current->audit_context. The bench
// process was forked when it started, so a context there means every process
// forked since then (the creators included) pays for audit.

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// auditState is what the kernel said about the audit syscall path.
type auditState struct {
	known   bool   // the check ran
	slow    bool   // this process has an audit context
	why     string // when !known: what stopped the check
	enabled string // auditctl -s "enabled" (when auditctl exists), for the note
	marker  bool   // an earlier bench run enabled audit in this boot (auditMarker)
}

// Return values of the probe program.
const (
	auditCtxNone  = 0
	auditCtxSet   = 1
	auditCtxError = 2
)

// checkAuditContext reads current->audit_context for the calling thread.
func checkAuditContext() auditState {
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return auditState{why: fmt.Sprintf("no kernel BTF to find task_struct.audit_context: %v", err)}
	}
	off, found, err := memberOffset(kernel, "task_struct", "audit_context")
	if err != nil {
		return auditState{why: err.Error()}
	}
	if !found {
		// CONFIG_AUDITSYSCALL off: audit cannot put tasks on a slow path.
		return auditState{known: true}
	}
	ret, err := runAuditContextProbe(off)
	if err != nil {
		return auditState{why: err.Error()}
	}
	switch ret {
	case auditCtxNone:
		return auditState{known: true}
	case auditCtxSet:
		return auditState{known: true, slow: true}
	}
	return auditState{why: "bpf_probe_read_kernel of current->audit_context failed"}
}

// memberOffset is the byte offset of a struct member in the kernel's BTF.
func memberOffset(spec *btf.Spec, typ, member string) (uint32, bool, error) {
	var s *btf.Struct
	if err := spec.TypeByName(typ, &s); err != nil {
		return 0, false, fmt.Errorf("kernel BTF: struct %s: %w", typ, err)
	}
	for _, m := range s.Members {
		if m.Name == member {
			if m.Offset%8 != 0 {
				return 0, false, fmt.Errorf("kernel BTF: %s.%s is a bit field", typ, member)
			}
			return uint32(m.Offset / 8), true, nil
		}
	}
	return 0, false, nil
}

// runAuditContextProbe loads a raw tracepoint program (raw_tp programs may be
// test-run in the caller's context, Linux 5.10+) that returns whether
// *(current + off) is non-zero.
func runAuditContextProbe(off uint32) (uint32, error) {
	insns := asm.Instructions{
		asm.FnGetCurrentTask.Call(),
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Add.Imm(asm.R3, int32(off)),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -8),
		asm.Mov.Imm(asm.R2, 8),
		asm.FnProbeReadKernel.Call(),
		asm.JEq.Imm(asm.R0, 0, "read"),
		asm.Mov.Imm(asm.R0, auditCtxError),
		asm.Return(),
		asm.LoadMem(asm.R1, asm.RFP, -8, asm.DWord).WithSymbol("read"),
		asm.Mov.Imm(asm.R0, auditCtxNone),
		asm.JEq.Imm(asm.R1, 0, "out"),
		asm.Mov.Imm(asm.R0, auditCtxSet),
		asm.Return().WithSymbol("out"),
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "kebench_auditctx", Type: ebpf.RawTracepoint, License: "GPL", Instructions: insns})
	if err != nil {
		return 0, fmt.Errorf("load the audit-context check (raw tracepoint program, bpf_probe_read_kernel): %w", err)
	}
	defer prog.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ret, err := prog.Run(&ebpf.RunOptions{})
	if err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return 0, fmt.Errorf("BPF_PROG_TEST_RUN of a raw tracepoint program needs Linux 5.10: %w", err)
		}
		return 0, fmt.Errorf("BPF_PROG_TEST_RUN of the audit-context check: %w", err)
	}
	return ret, nil
}

// auditStateNow is the kernel's answer plus what auditctl and the bench's
// own marker say.
func auditStateNow(ctx context.Context) auditState {
	st := checkAuditContext()
	if _, err := exec.LookPath("auditctl"); err == nil {
		if s, err := auditStatus(ctx); err == nil {
			st.enabled = s["enabled"]
		}
	}
	st.marker = auditEverEnabled()
	return st
}

// line is the header's one-line summary.
func (st auditState) line() string {
	switch {
	case !st.known:
		return "unknown (" + st.why + ")"
	case st.slow:
		return "**taken**: this process has an audit context, so audit was enabled at some point since boot and every process pays audit's syscall entry and exit"
	}
	return "not taken (no audit context in this process: audit has not been enabled since boot)"
}

// notes are the report's warnings about audit's state.
func (st auditState) notes() []string {
	var out []string
	if st.known && st.slow {
		out = append(out, "**this machine was already in the audit state when the bench started**: the bench process "+
			"has an audit context (kernel/auditsc.c audit_alloc gives one to every process forked after audit was first "+
			"enabled in this boot: by auditd, `auditctl -e 1`, audit=1 on the kernel command line or an earlier "+
			"`make bench AUDIT=1`). Every process, the baselines included, takes audit's syscall path until reboot: "+
			"absolute figures are higher and ratios lower than on a pristine boot. Reboot for a clean measurement.")
	}
	if !st.known && st.marker {
		out = append(out, "an earlier `make bench AUDIT=1` enabled audit in this boot (marker "+auditMarker+"; the kernel check failed: "+
			st.why+"): every process takes the audit syscall path until reboot")
	}
	if st.enabled != "" && st.enabled != "0" {
		out = append(out, fmt.Sprintf("audit is enabled now (auditctl -s: enabled %s): rules, if any, run in every configuration", st.enabled))
	}
	return out
}
