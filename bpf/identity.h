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
 * current_comm fills comm with the current task's name; for io_uring workers
 * ("iou-wrk-N", "iou-sqp-N") it takes the group leader's, and sets
 * EVENT_F_IO_URING, so the sample names the submitting program.
 */
static __always_inline __u8 current_comm(char *comm)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->flags & PF_IO_WORKER) {
		bpf_probe_read_kernel_str(comm, EVENT_COMM_LEN, task->group_leader->comm);
		return EVENT_F_IO_URING;
	}
	bpf_get_current_comm(comm, EVENT_COMM_LEN);
	return 0;
}

#endif /* KERNELEVENTS_IDENTITY_H */
