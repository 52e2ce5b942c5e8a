/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The tracepoint hook's view of a returning syscall: its number and
 * arguments from the saved registers, native and 32-bit (syscall_of).
 */
#ifndef KERNELEVENTS_SYSCALL_H
#define KERNELEVENTS_SYSCALL_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "arch.h"

/*
 * The tracepoint hook: one tp_btf program on the raw sys_exit tracepoint.
 *
 * The per-syscall tracepoints (syscalls/sys_exit_openat, ...) skip every
 * 32-bit syscall (ia32 on x86_64, AArch32 on arm64: kernel/trace/
 * trace_syscalls.c drops them through arch_trace_is_compat_syscall), so a
 * creat(2) through int $0x80 passed them unseen. sys_exit sees every
 * syscall, native and compat, and a tp_btf program attaches without tracefs.
 * It reads the syscall number and arguments from the saved registers: the
 * kernel has used them and does not change them (only ax/x0 now holds the
 * return value; arm64 keeps the first argument in orig_x0).
 *
 * Cost: it runs on every syscall of the machine. Enabling any syscall
 * tracepoint already sends every syscall through the slow path, and the
 * per-syscall tracepoints are themselves a handler on sys_exit (perf_syscall_exit
 * and a bitmap test), so the choice is between that handler and this
 * program. An unrelated syscall costs the program's call and the reject
 * prologue below (sys_exit_watched: a few loads and a bit test). Measured on
 * the 6.18 VM (thread CPU time per call, medians of 5 interleaved rounds,
 * two runs): getpid 125-136 ns without any probe, +6-8 ns with the
 * per-syscall tracepoints this replaced, +10-13 ns with this tp_btf
 * program, +15-17 ns with the raw_tp fallback. Every open is cheaper: a
 * read-only open+close +15 ns here against +208 ns before (which read the fd
 * table and the file of every open), an O_CREAT re-open +79 ns against +212.
 * The 4-5 ns per unrelated syscall buys 32-bit syscalls and no tracefs.
 *
 * Opens without O_CREAT or O_TMPFILE (the flags are in the registers) stop
 * in the reject prologue, before the compat check's helper call and any
 * fd-table or file read (x86 open/openat, arm64 openat: about 25
 * instructions from the program's start); an O_CREAT open of an existing
 * file stops at f_mode (one 4-byte read), before any path work.
 */
#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h */
#define TIF_32BIT 22	 /* arch/arm64/include/asm/thread_info.h */
#define X32_SYSCALL_BIT 0x40000000

enum {
	SC_OPEN = 1,
	SC_OPENAT,
	SC_CREAT,
	SC_OPENAT2,
	SC_MKNOD,
	SC_MKNODAT,
	SC_SYMLINK,
	SC_SYMLINKAT,
	SC_LINK,
	SC_LINKAT,
	SC_RENAME,
	SC_RENAMEAT,
	SC_RENAMEAT2,
};

/* The kinds past SC_LINK take four or five arguments (a[3], a[4]). */
#define SC_FIVE_ARGS SC_LINKAT

struct syscall_args {
	int kind;
	unsigned long a[5];
};

#if defined(__TARGET_ARCH_arm64)
struct pt_regs___kearm64 {
	__u64 regs[31];
	__u64 orig_x0;
	__s32 syscallno;
} __attribute__((preserve_access_index));
#endif

/*
 * REG reads a field of a BTF-typed pointer: a plain load where the program
 * is tp_btf (typed is a constant: the other branch is compiled out), a
 * probe read in the raw_tp fallback.
 */
#define REG(typed, p, field) ((typed) ? (p)->field : BPF_CORE_READ(p, field))

/*
 * The reject prologue (sys_exit_watched): the first instructions of the
 * sys_exit programs, which every syscall of the machine runs. The syscall
 * number, masked as syscall_of masks it, is tested against a bit set of
 * the numbers syscall_of may keep, native and compat together (a compat
 * number goes on to syscall_of, whose compat check tells them apart). The
 * set is a read-only array, one 64-bit word per 64 numbers, read from the
 * program's .rodata (no map lookup): no helper call, no stack, registers
 * r0-r5 only, so the JIT saves no callee-saved register on the way in or
 * out. An unrelated syscall costs one load of the number (a probe read in
 * the raw_tp fallback), a bound check, one load of its word and a bit
 * test. Native open/openat without O_CREAT or O_TMPFILE stop here too, on
 * one more register load (their ia32 numbers, fork and remap_file_pages,
 * are none of ours). What passes goes on to sys_exit_work (sysexit.h), a
 * function of its own. Every syscall then loads one global, upper_waiting
 * (copyup.h: a thread has an inode a copy-up may have made), and goes on to
 * upper_exit only when it is set.
 */
#define SC_BIT(n) (1ULL << ((n)&63))
#if defined(__TARGET_ARCH_x86)
/* native: 2 85 82 86 88 133 259 264 265 266 316 437 257; ia32 only: 5 8 9 14 38 83 295 297 302 303
 * 304 353 */
#define SC_WATCHED_0 (SC_BIT(2) | SC_BIT(5) | SC_BIT(8) | SC_BIT(9) | SC_BIT(14) | SC_BIT(38))
#define SC_WATCHED_1 (SC_BIT(82) | SC_BIT(83) | SC_BIT(85) | SC_BIT(86) | SC_BIT(88))
#define SC_WATCHED_2 (SC_BIT(133))
#define SC_WATCHED_3 0ULL
#define SC_WATCHED_4                                                                               \
	(SC_BIT(257) | SC_BIT(259) | SC_BIT(264) | SC_BIT(265) | SC_BIT(266) | SC_BIT(295) |       \
	 SC_BIT(297) | SC_BIT(302) | SC_BIT(303) | SC_BIT(304) | SC_BIT(316))
#define SC_WATCHED_5 (SC_BIT(353))
#define SC_WATCHED_6 (SC_BIT(437))
#elif defined(__TARGET_ARCH_arm64)
/* native: 56 33 36 37 38 276 437; AArch32 only: 5 8 9 14 83 322 324 329 330 331 382 */
#define SC_WATCHED_0                                                                               \
	(SC_BIT(5) | SC_BIT(8) | SC_BIT(9) | SC_BIT(14) | SC_BIT(33) | SC_BIT(36) | SC_BIT(37) |   \
	 SC_BIT(38) | SC_BIT(56))
#define SC_WATCHED_1 (SC_BIT(83))
#define SC_WATCHED_2 0ULL
#define SC_WATCHED_3 0ULL
#define SC_WATCHED_4 (SC_BIT(276))
#define SC_WATCHED_5                                                                               \
	(SC_BIT(322) | SC_BIT(324) | SC_BIT(329) | SC_BIT(330) | SC_BIT(331) | SC_BIT(382))
#define SC_WATCHED_6 (SC_BIT(437))
#endif
#define SC_WATCHED_WORDS 7

/*
 * In .rodata: one load at a computed offset, no compare per word. One more
 * word than the numbers need: clang computes the word's byte offset as
 * (nr >> 3) & ~7, which the verifier bounds by (nr >> 3) alone (55 for
 * nr < 448), not knowing it is a multiple of 8: the last word's 8 bytes
 * from there must still be in the array.
 */
static const __u64 sc_watched[SC_WATCHED_WORDS + 1] = {
	SC_WATCHED_0, SC_WATCHED_1, SC_WATCHED_2, SC_WATCHED_3,
	SC_WATCHED_4, SC_WATCHED_5, SC_WATCHED_6, 0,
};

static __always_inline bool sys_exit_watched(struct pt_regs *regs, bool typed)
{
#if defined(__TARGET_ARCH_x86)
	/* as syscall_of: the low 32 bits, without the x32 bit; negative
	 * numbers become large and fall outside the set */
	__u64 nr = REG(typed, regs, orig_ax) & (0xffffffffULL & ~(__u64)X32_SYSCALL_BIT);
#elif defined(__TARGET_ARCH_arm64)
	struct pt_regs___kearm64 *r = (void *)regs;
	__u64 nr = (__u32)REG(typed, r, syscallno);
#endif
	if (nr >= 64 * SC_WATCHED_WORDS)
		return false;
	if (!((sc_watched[nr >> 6] >> (nr & 63)) & 1))
		return false;
#if defined(__TARGET_ARCH_x86)
	if (nr == 2)
		return REG(typed, regs, si) & (O_CREAT | __O_TMPFILE);
	if (nr == 257)
		return REG(typed, regs, dx) & (O_CREAT | __O_TMPFILE);
#elif defined(__TARGET_ARCH_arm64)
	if (nr == 56)
		return REG(typed, r, regs[2]) & (O_CREAT | __O_TMPFILE);
#endif
	return true;
}

/* syscall_of classifies the syscall that is returning; false: not one of ours. */
static __always_inline bool syscall_of(struct pt_regs *regs, struct syscall_args *sc, bool typed)
{
	struct task_struct *task;
#if defined(__TARGET_ARCH_x86)
	/*
	 * arch/x86/entry/syscalls/syscall_{64,32}.tbl; x32 shares the 64-bit
	 * numbers. The kernel takes the number as an int (do_syscall_64's
	 * int nr): bits above 32 in rax are ignored by it but kept in orig_ax,
	 * so they are dropped here too, or any program could set one and
	 * create unseen (TestWideSyscallNumbers).
	 */
	long nr = (int)REG(typed, regs, orig_ax) & ~(long)X32_SYSCALL_BIT;
	int kind = 0;
	/* A table, one syscall number a line: */
	/* clang-format off */
	switch (nr) {
	/*
	 * open and openat: the flags decide first. Without O_CREAT or
	 * O_TMPFILE a native open creates nothing, and ia32's 2 and 257
	 * (fork, remap_file_pages) are none of ours, so most opens return
	 * here without the compat check's helper call.
	 */
	case 2:
		if (!(REG(typed, regs, si) & (O_CREAT | __O_TMPFILE)))
			return false;
		kind = SC_OPEN;
		break;
	case 257:
		if (!(REG(typed, regs, dx) & (O_CREAT | __O_TMPFILE)))
			return false;
		kind = SC_OPENAT;
		break;
	case 85: kind = SC_CREAT; break;
	case 82: kind = SC_RENAME; break;
	case 86: kind = SC_LINK; break;
	case 88: kind = SC_SYMLINK; break;
	case 133: kind = SC_MKNOD; break;
	case 259: kind = SC_MKNODAT; break;
	case 264: kind = SC_RENAMEAT; break;
	case 265: kind = SC_LINKAT; break;
	case 266: kind = SC_SYMLINKAT; break;
	case 316: kind = SC_RENAMEAT2; break;
	case 437: kind = SC_OPENAT2; break;
	case 5: case 8: case 9: case 14: case 38: case 83: case 295: case 297: case 302: case 303:
	case 304: case 353:
		break; /* only as ia32 syscalls */
	default:
		return false;
	}
	/* clang-format on */
	task = typed ? bpf_get_current_task_btf() : (void *)bpf_get_current_task();
	if (REG(typed, task, thread_info.status) & TS_COMPAT) {
		/* clang-format off */
		switch (nr) {
		case 5: kind = SC_OPEN; break;
		case 8: kind = SC_CREAT; break;
		case 9: kind = SC_LINK; break;
		case 14: kind = SC_MKNOD; break;
		case 38: kind = SC_RENAME; break;
		case 83: kind = SC_SYMLINK; break;
		case 295: kind = SC_OPENAT; break;
		case 297: kind = SC_MKNODAT; break;
		case 302: kind = SC_RENAMEAT; break;
		case 303: kind = SC_LINKAT; break;
		case 304: kind = SC_SYMLINKAT; break;
		case 353: kind = SC_RENAMEAT2; break;
		case 437: kind = SC_OPENAT2; break;
		default: return false;
		}
		/* clang-format on */
		sc->a[0] = (__u32)REG(typed, regs, bx);
		sc->a[1] = (__u32)REG(typed, regs, cx);
		sc->a[2] = (__u32)REG(typed, regs, dx);
		if (kind >= SC_FIVE_ARGS) {
			sc->a[3] = (__u32)REG(typed, regs, si);
			sc->a[4] = (__u32)REG(typed, regs, di);
		}
	} else {
		if (!kind)
			return false;
		sc->a[0] = REG(typed, regs, di);
		sc->a[1] = REG(typed, regs, si);
		sc->a[2] = REG(typed, regs, dx);
		if (kind >= SC_FIVE_ARGS) {
			sc->a[3] = REG(typed, regs, r10);
			sc->a[4] = REG(typed, regs, r8);
		}
	}
	sc->kind = kind;
	return true;
#elif defined(__TARGET_ARCH_arm64)
	/* include/uapi/asm-generic/unistd.h; AArch32: arch/arm/tools/syscall.tbl */
	struct pt_regs___kearm64 *r = (void *)regs;
	long nr = REG(typed, r, syscallno);
	int kind = 0;
	/* A table, one syscall number a line: */
	/* clang-format off */
	switch (nr) {
	case 56:
		/* openat without O_CREAT or O_TMPFILE: nothing (AArch32's 56 is none of ours) */
		if (!(REG(typed, r, regs[2]) & (O_CREAT | __O_TMPFILE)))
			return false;
		kind = SC_OPENAT;
		break;
	case 33: kind = SC_MKNODAT; break;
	case 36: kind = SC_SYMLINKAT; break;
	case 37: kind = SC_LINKAT; break;
	case 38: kind = SC_RENAMEAT; break;
	case 276: kind = SC_RENAMEAT2; break;
	case 437: kind = SC_OPENAT2; break;
	case 5: case 8: case 9: case 14: case 83: case 322: case 324: case 329: case 330: case 331:
	case 382:
		break; /* only as AArch32 syscalls */
	default:
		return false;
	}
	/* clang-format on */
	task = typed ? bpf_get_current_task_btf() : (void *)bpf_get_current_task();
	bool compat = REG(typed, task, thread_info.flags) & (1UL << TIF_32BIT);
	if (compat) {
		/* clang-format off */
		switch (nr) {
		case 5: kind = SC_OPEN; break;
		case 8: kind = SC_CREAT; break;
		case 9: kind = SC_LINK; break;
		case 14: kind = SC_MKNOD; break;
		case 38: kind = SC_RENAME; break;
		case 83: kind = SC_SYMLINK; break;
		case 322: kind = SC_OPENAT; break;
		case 324: kind = SC_MKNODAT; break;
		case 329: kind = SC_RENAMEAT; break;
		case 330: kind = SC_LINKAT; break;
		case 331: kind = SC_SYMLINKAT; break;
		case 382: kind = SC_RENAMEAT2; break;
		case 437: kind = SC_OPENAT2; break;
		default: return false;
		}
		/* clang-format on */
	} else if (!kind) {
		return false;
	}
	sc->a[0] = REG(typed, r, orig_x0);
	sc->a[1] = REG(typed, r, regs[1]);
	sc->a[2] = REG(typed, r, regs[2]);
	if (kind >= SC_FIVE_ARGS) {
		sc->a[3] = REG(typed, r, regs[3]);
		sc->a[4] = REG(typed, r, regs[4]);
	}
	if (compat) {
		sc->a[0] = (__u32)sc->a[0];
		sc->a[1] = (__u32)sc->a[1];
		sc->a[2] = (__u32)sc->a[2];
		sc->a[3] = (__u32)sc->a[3];
		sc->a[4] = (__u32)sc->a[4];
	}
	sc->kind = kind;
	return true;
#else
#error "the tracepoint hook reads syscall registers for x86 and arm64 only"
#endif
}

#endif /* KERNELEVENTS_SYSCALL_H */
