/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * io_uring renames and links, for the tracepoint hook set: the names kept
 * from submission (uring_names) to the completion that says they were made.
 */
#ifndef KERNELEVENTS_URNAMES_H
#define KERNELEVENTS_URNAMES_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "iouring.h"
#include "output.h"
#include "scratch.h"
#include "sysexit.h"
#include "tmpfile.h"

/*
 * IORING_OP_RENAMEAT, _SYMLINKAT and _LINKAT pass no syscall. Their prep
 * (io_renameat_prep, io_symlinkat_prep, io_linkat_prep) copies both names into the kernel
 * (struct filename); the op frees them (do_renameat2, do_linkat), so by the
 * completion they are gone. io_uring_submit_req, after the prep, reads them:
 * a rename or link within one directory (same_dir_in) stops there; the
 * others are kept here, by request, until io_uring_complete (or
 * io_uring_cqe_overflow) gives the result. The new name is then reported as
 * the sys_exit hook reports a rename (name_report: its directory from
 * new_dfd or the cwd, which io-wq workers share with the submitter, resolved
 * then). These ops always run in an io-wq worker; a completion posted there
 * follows the op in the same thread. One posted by another task
 * (IORING_SETUP_DEFER_TASKRUN, or an overflowed CQE on 6.18: task work of
 * the submitter, which can chdir(), dup2() over the dfd or unshare its fs
 * between the op and reaping, with no race) cannot know the op's
 * directory: its names are reported unresolved (EVENT_F_UNRESOLVED: never
 * filtered out; NAME_GATE applies), not under a directory the submitter
 * chose. With IOSQE_CQE_SKIP_SUCCESS no completion follows: counted as
 * io_uring_unobserved at submission, as for opens. An io_uring link of an
 * O_TMPFILE file (through /proc/self/fd/N) is reported here as a link, by
 * the submitting process; its entry in the O_TMPFILE registry (tmpfile.h)
 * is dropped then, never credited to the next link(2) of any process.
 */
#define IORING_OP_RENAMEAT 35
#define IORING_OP_SYMLINKAT 38
#define IORING_OP_LINKAT 39

/* Entries in uring_names, so that other requests skip the map when none. */
__u64 uring_name_n = 0;

static __always_inline void uring_name_forget(__u64 req)
{
	if (uring_name_n && !bpf_map_delete_elem(&uring_names, &req))
		__sync_fetch_and_add(&uring_name_n, -1);
}

static __always_inline bool is_name_op(__u8 op)
{
	return op == IORING_OP_RENAMEAT || op == IORING_OP_SYMLINKAT || op == IORING_OP_LINKAT;
}

/* on_uring_name_submit: req is an IORING_OP_RENAMEAT, _SYMLINKAT or _LINKAT
 * after its prep. IORING_OP_SYMLINKAT's command is a struct io_link too
 * (io_uring/fs.c io_symlinkat_prep: oldpath the target, newpath the link,
 * new_dfd), and makes a new name wherever it is: never same_dir. */
static __always_inline int on_uring_name_submit(struct io_kiocb *req, __u8 op)
{
	__u64 key = (__u64)req;
	if (!bpf_core_type_exists(struct io_rename) || !bpf_core_type_exists(struct io_link)) {
		return 0;
	}
	if (!uring_task_wanted()) {
		uring_name_forget(key);
		return 0;
	}
	__u32 rflags = 0;
	bpf_probe_read_kernel(&rflags, sizeof(rflags),
			      (void *)req + bpf_core_field_offset(struct io_kiocb, flags));
	if (rflags & REQ_F_CQE_SKIP) {
		uring_name_forget(key);
		count(COUNTER_IO_URING);
		return 0;
	}
	void *cmd = req_open(req);
	struct filename *oldp, *newp;
	int odfd, ndfd, flags;
	if (op == IORING_OP_RENAMEAT) {
		struct io_rename *r = cmd;
		oldp = BPF_CORE_READ(r, oldpath);
		newp = BPF_CORE_READ(r, newpath);
		odfd = BPF_CORE_READ(r, old_dfd);
		ndfd = BPF_CORE_READ(r, new_dfd);
		flags = BPF_CORE_READ(r, flags);
	} else {
		struct io_link *l = cmd;
		oldp = BPF_CORE_READ(l, oldpath);
		newp = BPF_CORE_READ(l, newpath);
		odfd = BPF_CORE_READ(l, old_dfd);
		ndfd = BPF_CORE_READ(l, new_dfd);
		flags = BPF_CORE_READ(l, flags);
	}
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	long na = bpf_probe_read_kernel_str(s->name, EVENT_PATH_LEN, BPF_CORE_READ(oldp, name));
	long nb = bpf_probe_read_kernel_str(s->buf, EVENT_PATH_LEN, BPF_CORE_READ(newp, name));
	bool empty = op == IORING_OP_LINKAT && (flags & AT_EMPTY_PATH_FLAG);
	bool within = false;
	if (op != IORING_OP_SYMLINKAT && !empty && same_dir_in(s, odfd, ndfd, na, nb)) {
		within = name_prefix_within(s) || watched_name(s) ||
			 (op == IORING_OP_RENAMEAT && (flags & RENAME_EXCHANGE_FLAG) &&
			  watched_old_name(s));
		if (!within) {
			uring_name_forget(key);
			put_scratch(s);
			return 0;
		}
	}
	/* The value is larger than a stack frame: inserted from the scratch
	 * buffer, then filled in place. */
	long err = bpf_map_update_elem(&uring_names, &key, &s->buf[EVENT_PATH_LEN], BPF_NOEXIST);
	if (!err)
		__sync_fetch_and_add(&uring_name_n, 1);
	else if (bpf_map_update_elem(&uring_names, &key, &s->buf[EVENT_PATH_LEN], BPF_EXIST))
		count(COUNTER_INFLIGHT_FULL);
	struct uring_name *v = bpf_map_lookup_elem(&uring_names, &key);
	if (v) {
		v->ctx = (__u64)BPF_CORE_READ(req, ctx);
		v->user_data = BPF_CORE_READ(req, cqe.user_data);
		v->old_dfd = odfd;
		v->new_dfd = ndfd;
		v->flags = flags;
		v->op = op == IORING_OP_RENAMEAT    ? FILE_OP_RENAME
			: op == IORING_OP_SYMLINKAT ? FILE_OP_SYMLINK
						    : FILE_OP_LINK;
		v->within = within;
		bpf_probe_read_kernel(v->old_name, EVENT_PATH_LEN, s->name);
		bpf_probe_read_kernel(v->new_name, EVENT_PATH_LEN, s->buf);
	}
	put_scratch(s);
	return 0;
}

/*
 * uring_name_done reports the names kept for req, whose result is res. A
 * global function (see open_exit_btf): its frame does not add to the
 * io_uring program's.
 */
__noinline int uring_name_done(__u64 req, int res)
{
	struct uring_name *v = bpf_map_lookup_elem(&uring_names, &req);
	if (!v)
		return 0;
	if (res == 0) {
		__u32 type = v->op == FILE_OP_SYMLINK ? FILE_TYPE_SYMLINK : FILE_TYPE_UNKNOWN;
		/* NAME_GATE: see name_report_in */
		__u32 gate = v->within || v->op == FILE_OP_SYMLINK ? NAME_GATE : 0;
		__u32 flags = v->op << OP_SHIFT | type << TYPE_SHIFT |
			      (v->within ? REPORT_WITHIN : 0) | gate;
		/* posted outside the worker that ran the op: see above */
		struct task_struct *task = (void *)bpf_get_current_task();
		if (!(BPF_CORE_READ(task, flags) & PF_IO_WORKER))
			flags |= EVENT_F_UNRESOLVED;
		name_report(v->new_dfd, req, flags | NAME_URING_NEW);
		if (v->op == FILE_OP_RENAME && (v->flags & RENAME_EXCHANGE_FLAG))
			name_report(v->old_dfd, req, flags | NAME_URING_OLD);
		if (v->op == FILE_OP_LINK)
			forget_named_tmpfiles();
	}
	uring_name_forget(req);
	return 0;
}

/* match_name finds the rename or link in flight whose CQE overflowed (see
 * match_open). */
static long match_name(struct bpf_map *map, __u64 *key, struct uring_name *v,
		       struct overflow_match *m)
{
	if (v->ctx != m->ctx || v->user_data != m->user_data)
		return 0;
	struct io_kiocb *req = (void *)*key;
	if (!is_name_op(req_opcode(req)) || BPF_CORE_READ(req, cqe.res) != m->res)
		return 0;
	m->req = *key;
	return 1;
}

#endif /* KERNELEVENTS_URNAMES_H */
