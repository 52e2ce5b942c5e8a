/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * Turning a created file into a sample: the prefix filter and the ring
 * buffer reservation (report), and the common entry points that resolve
 * a file (on_file) or a dentry (report_dentry) first.
 */
#ifndef KERNELEVENTS_REPORT_H
#define KERNELEVENTS_REPORT_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "filter.h"
#include "identity.h"
#include "output.h"
#include "path.h"
#include "scratch.h"
#include "window.h"

/*
 * report applies the path-prefix filter to the path in s->buf[s->off:PATH_BUF]
 * and submits the sample. Filtering happens before the reservation so
 * filtered files cost no ring-buffer space.
 */
static __always_inline void report(struct scratch *s, struct task_struct *task, __u64 pid_tgid,
				   __u64 uid_gid, char *comm, __u8 pflags, __u8 hook, __u32 flags)
{
	bool truncated = pflags & EVENT_F_TRUNCATED;
	__u32 off = s->off;
	if (off >= PATH_BUF) {
		off = PATH_BUF - 1;
		s->buf[PATH_BUF - 1] = '/';
	}
	__u32 len = PATH_BUF - off;
	if (len > EVENT_PATH_LEN - 1) {
		len = EVENT_PATH_LEN - 1; /* keep the root side: directories matter most */
		truncated = true;
	}
	/* A name not resolved in the kernel is filtered in user space; a
	 * rootless path names no top directory: it cannot be matched, so it is
	 * never filtered out (user space labels it unresolved). */
	if (filter_prefixes && !(flags & EVENT_F_UNRESOLVED) && !(pflags & EVENT_F_ROOTLESS)) {
		bpf_probe_read_kernel(s->key.data, PREFIX_LEN, &s->buf[off & (PATH_BUF - 1)]);
		s->key.prefixlen = (len < PREFIX_LEN ? len : PREFIX_LEN) * 8;
		if (!bpf_map_lookup_elem(&path_prefixes, &s->key))
			return;
	}

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_LOST);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->path_len = len;
	e->hook = hook;
	e->flags = (__u8)flags | pflags | (truncated ? EVENT_F_TRUNCATED : 0);
	/* The op: the caller's (bits above the flags), else the flags say it. */
	__u8 op = flags >> OP_SHIFT;
	if (!op && (flags & EVENT_F_MKNOD))
		op = FILE_OP_MKNOD;
	if (!op && (flags & EVENT_F_TMPFILE_LINK))
		op = FILE_OP_TMPFILE_LINK;
	e->op = op;
	__builtin_memset(e->_op_pad, 0, sizeof(e->_op_pad));
	__builtin_memcpy(e->comm, comm, EVENT_COMM_LEN);
	bpf_probe_read_kernel(e->path, EVENT_PATH_LEN, &s->buf[off & (PATH_BUF - 1)]);
	fill_identity(e, task);
	bpf_ringbuf_submit(e, wakeup_flags());
}

/*
 * on_file reports f when this open created it. maybe_io_worker: the hook
 * may run in an io_uring worker thread (not the syscall tracepoints).
 */
static __always_inline int on_file(struct file *f, __u8 hook, __u8 flags, bool maybe_io_worker)
{
	if (!f)
		return 0;
	__u32 mode = 0;
	struct path fp = {};
	read_file(f, &mode, &fp);
	if (!(mode & FMODE_CREATED))
		return 0;

	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	char comm[EVENT_COMM_LEN] = {};
	if (maybe_io_worker)
		flags |= current_comm(task, comm);
	else
		bpf_get_current_comm(comm, EVENT_COMM_LEN);
	if (!task_wanted(pid_tgid, uid_gid, comm))
		return 0;

	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	s->off = PATH_BUF;
	__u8 pflags = resolve(s, task, fp.dentry, fp.mnt);
	report(s, task, pid_tgid, uid_gid, comm, pflags, hook, flags);
	put_scratch(s);
	return 0;
}

/* report_dentry reports the file at dentry on mnt, made by the current task
 * (flags: EVENT_F_* bits, and an enum file_op above OP_SHIFT). */
static __always_inline void report_dentry(struct dentry *dentry, struct vfsmount *mnt, __u8 hook,
					  __u32 flags)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	char comm[EVENT_COMM_LEN] = {};
	flags |= current_comm(task, comm);
	if (!task_wanted(pid_tgid, uid_gid, comm))
		return;
	struct scratch *s = get_scratch();
	if (!s)
		return;
	s->off = PATH_BUF;
	__u8 pflags = resolve(s, task, dentry, mnt);
	report(s, task, pid_tgid, uid_gid, comm, pflags, hook, flags);
	put_scratch(s);
}

#endif /* KERNELEVENTS_REPORT_H */
