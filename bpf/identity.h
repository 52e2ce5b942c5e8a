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
 * fill_identity writes what names the creator beyond pid and uid: effective
 * ids (task->cred, the subjective credentials: an io-wq worker runs with the
 * submitter's), the executable mapped at this moment (mm->exe_file: an exec
 * after the creation does not change it) and the process's start time.
 */
static __always_inline void fill_identity(struct event *e, struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	if (bpf_core_field_offset(struct cred, egid) ==
	    bpf_core_field_offset(struct cred, euid) + 4) {
		__u32 ids[2] = {};
		bpf_probe_read_kernel(ids, sizeof(ids),
				      (void *)cred + bpf_core_field_offset(struct cred, euid));
		e->euid = ids[0];
		e->egid = ids[1];
	} else {
		e->euid = BPF_CORE_READ(cred, euid.val);
		e->egid = BPF_CORE_READ(cred, egid.val);
	}
	struct file *exe_file = BPF_CORE_READ(task, mm, exe_file);
	struct inode *exe = exe_file ? BPF_CORE_READ(exe_file, f_inode) : NULL;
	e->exe_ino = 0;
	e->exe_dev = 0;
	if (exe) {
		/* i_sb and i_ino in one read where they are near (6.x: 40 and 64). */
		__u32 osb = bpf_core_field_offset(struct inode, i_sb);
		__u32 oino = bpf_core_field_offset(struct inode, i_ino);
		struct super_block *sb;
		if (oino > osb && oino + 8 - osb <= 32) {
			__u8 w[32] = {};
			bpf_probe_read_kernel(w, sizeof(w), (void *)exe + osb);
			sb = *(struct super_block **)&w[0];
			e->exe_ino = *(__u64 *)&w[(oino - osb) & 31];
		} else {
			sb = BPF_CORE_READ(exe, i_sb);
			e->exe_ino = BPF_CORE_READ(exe, i_ino);
		}
		if (sb)
			e->exe_dev = BPF_CORE_READ(sb, s_dev);
	}
	/* The group leader's start time; most creators are their leader. */
	struct task_struct *leader = e->tid == e->tgid ? task : BPF_CORE_READ(task, group_leader);
	if (bpf_core_field_exists(struct task_struct, start_boottime))
		e->start_ns = BPF_CORE_READ(leader, start_boottime);
	else
		e->start_ns = BPF_CORE_READ((struct task_struct___v54 *)leader, real_start_time);
	exec_check(e, exe_file);
}

/*
 * current_comm fills comm with the task's name; for io_uring workers
 * ("iou-wrk-N", "iou-sqp-N") it takes the group leader's, and sets
 * EVENT_F_IO_URING, so the sample names the submitting program.
 */
static __always_inline __u8 current_comm(struct task_struct *task, char *comm)
{
	if (BPF_CORE_READ(task, flags) & PF_IO_WORKER) {
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);
		bpf_probe_read_kernel_str(comm, EVENT_COMM_LEN,
					  (void *)leader +
						  bpf_core_field_offset(struct task_struct, comm));
		return EVENT_F_IO_URING;
	}
	bpf_get_current_comm(comm, EVENT_COMM_LEN);
	return 0;
}

#endif /* KERNELEVENTS_IDENTITY_H */
