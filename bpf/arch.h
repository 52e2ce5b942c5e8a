/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * include/vmlinux.h was dumped from an x86_64 kernel's BTF. Every kernel type
 * in it is read through CO-RE relocations, so it serves other architectures
 * too, except for the register layout kprobe programs read directly: on
 * arm64 libbpf's bpf_tracing.h wants struct user_pt_regs
 * (arch/arm64/include/uapi/asm/ptrace.h), which an x86 dump lacks.
 */
#ifndef KERNELEVENTS_ARCH_H
#define KERNELEVENTS_ARCH_H

#if defined(__TARGET_ARCH_arm64)
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};
#endif

#endif /* KERNELEVENTS_ARCH_H */
