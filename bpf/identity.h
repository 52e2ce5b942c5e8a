/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * Who created the file beyond pid and uid: effective ids, the executable,
 * the process start time (fill_identity), and the task's name, the
 * submitter's for io_uring workers (current_comm), and whether the executable
 * is the one the process exec'ed (exec_check, bpf/exec.h).
 */
#ifndef KERNELEVENTS_IDENTITY_H
#define KERNELEVENTS_IDENTITY_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "exec.h"
#include "kernel.h"

/* struct task_struct's start time: start_boottime since 5.5, real_start_time before. */
struct task_struct___v54 {
	__u64 real_start_time;
} __attribute__((preserve_access_index));

/*
 * fill_identity writes what names the creator (the current task) beyond pid
 * and uid: effective ids (task->cred, the subjective credentials: an io-wq
 * worker runs with the submitter's), the executable mapped at this moment
 * (mm->exe_file: an exec after the creation does not change it) and the
 * process's start time.
 *
 * Read through the task's BTF pointer (bpf_get_current_task_btf, 5.11+, in
 * every tracing program type): each field is a plain load the JIT guards
 * (a fault or a NULL pointer reads 0), not a bpf_probe_read_kernel call.
 * The eight such calls this took before were about a quarter of a watched
 * creation's program time (BenchmarkCreateCost).
 */
static __always_inline void fill_identity(struct event *e)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct cred *cred = task->cred;
	e->euid = cred->euid.val;
	e->egid = cred->egid.val;
	struct mm_struct *mm = task->mm;
	struct file *exe_file = mm ? mm->exe_file : NULL;
	struct inode *exe = exe_file ? exe_file->f_inode : NULL;
	e->exe_ino = 0;
	e->exe_dev = 0;
	if (exe) {
		e->exe_ino = exe->i_ino;
		struct super_block *sb = exe->i_sb;
		if (sb)
			e->exe_dev = sb->s_dev;
	}
	/* The group leader's start time; most creators are their leader. */
	struct task_struct *leader = e->tid == e->tgid ? task : task->group_leader;
	if (bpf_core_field_exists(struct task_struct, start_boottime))
		e->start_ns = leader->start_boottime;
	else
		e->start_ns = ((struct task_struct___v54 *)leader)->real_start_time;
	exec_check(e, exe_file);
}

/*
 * task_pid_tgid and task_uid_gid are what bpf_get_current_pid_tgid and
 * bpf_get_current_uid_gid return for the current task t (tgid << 32 | pid;
 * gid << 32 | uid of its subjective credentials, current_cred()), read by
 * loads through its BTF pointer: a creation's three helper calls for pid,
 * ids and name were about 40 ns of its program time (bench/RESULTS.md,
 * issue 28, "part by part").
 */
static __always_inline __u64 task_pid_tgid(struct task_struct *t)
{
	return (__u64)(__u32)t->tgid << 32 | (__u32)t->pid;
}

static __always_inline __u64 task_uid_gid(struct task_struct *t)
{
	const struct cred *cred = t->cred;
	return (__u64)cred->gid.val << 32 | cred->uid.val;
}

/* nul_bits: in the eight bytes of a string in w (the first in the low
 * byte), the top bit of each byte that may be a NUL; the lowest one set is
 * the first NUL's (a borrow can set the bits of later bytes only). */
static __always_inline __u64 nul_bits(__u64 w)
{
	return (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
}

/* below_first: the mask of the bytes before the first NUL that z
 * (nul_bits) marks; all of them when none. */
static __always_inline __u64 below_first(__u64 z)
{
	return ((z & -z) >> 7) - 1;
}

/*
 * task_comm fills comm (8-byte aligned: a stack slot or map memory) with
 * the task t's name, NUL-padded as bpf_get_current_comm leaves it: two
 * 8-byte loads of t->comm, not a helper call.
 */
static __always_inline void task_comm(struct task_struct *t, char *comm)
{
	__u64 *name = (__u64 *)t->comm;
	__u64 w0 = name[0], w1 = name[1];
	__u64 z0 = nul_bits(w0);
	/* without branches: fewer states for the verifier at every caller */
	w0 &= below_first(z0);
	w1 &= below_first(nul_bits(w1)) & (((z0 | -z0) >> 63) - 1); /* none after a NUL in w0 */
	/* byte 15 a NUL whatever t->comm holds there, as the helper's copy
	 * (strscpy_pad to 16 bytes) ends: a comm without one (a longer comm
	 * array, a torn read) is cut to 15 bytes, not carried as 16 */
	w1 &= 0x00ffffffffffffffULL;
	((__u64 *)comm)[0] = w0;
	((__u64 *)comm)[1] = w1;
}

/*
 * current_comm fills comm (as task_comm) with the current task t's name;
 * for io_uring workers ("iou-wrk-N", "iou-sqp-N") it takes the group
 * leader's, and sets EVENT_F_IO_URING, so the sample names the submitting
 * program. Both are the same two loads: a name written two ways (a helper's
 * copy, a register's store) leaves stack slots that 6.1's verifier cannot
 * prune against each other, and every path after it was walked twice
 * (tp_sys_exit 815k instructions on 6.1 against 699k).
 */
static __always_inline __u8 current_comm(struct task_struct *t, char *comm)
{
	bool worker = t->flags & PF_IO_WORKER;
	task_comm(worker ? t->group_leader : t, comm);
	return worker ? EVENT_F_IO_URING : 0;
}

#endif /* KERNELEVENTS_IDENTITY_H */
