/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * io_uring opens, for the tracepoint hook set: the requests in flight
 * (uring_opens), the fixed file table, and reporting the file an open
 * left at its fd or slot.
 */
#ifndef KERNELEVENTS_IOURING_H
#define KERNELEVENTS_IOURING_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "fd.h"
#include "filter.h"
#include "identity.h"
#include "kernel.h"
#include "output.h"
#include "report.h"
#include "upper.h"
#include "window.h"

/*
 * io_uring opens never pass the syscall tracepoints. io_uring_complete
 * (include/trace/events/io_uring.h; fields ctx, req, res stable since 5.5)
 * sees their completion: req is a struct io_kiocb whose opcode says
 * OPENAT/OPENAT2 and whose command area holds a struct io_open
 * (io_uring/openclose.c). res is the new fd in the submitter's fd table,
 * shared with the io-wq and SQPOLL threads that may post the completion; with
 * a direct descriptor (file_slot set) the file is in the ring's fixed file
 * table instead. Only the tracepoint hook set attaches this program: the
 * do_filp_open hooks already see io_uring opens.
 */

/* include/uapi/linux/io_uring.h */
#define IORING_OP_OPENAT 18
#define IORING_OP_OPENAT2 28
/* io_uring/io_uring.h: REQ_F_CQE_SKIP_BIT mirrors IOSQE_CQE_SKIP_SUCCESS_BIT (6). */
#define REQ_F_CQE_SKIP (1U << 6)

/* io_uring/rsrc.h before 6.4 (6.1: file_table.files[i].file_ptr). */
struct io_fixed_file___v61 {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));

struct io_file_table___v61 {
	struct io_fixed_file___v61 *files;
} __attribute__((preserve_access_index));

struct io_ring_ctx___v61 {
	struct io_file_table___v61 file_table;
} __attribute__((preserve_access_index));

/* Low bits of file_ptr are flags (FFS_NOWAIT, FFS_ISREG, FFS_SCM). */
#define FFS_MASK (~7UL)
#define IORING_FILE_INDEX_ALLOC (~0U)

static __always_inline struct file *io_fixed_file(void *ring, __u32 idx)
{
	unsigned long ptr = 0;
	if (bpf_core_field_exists(((struct io_ring_ctx___v61 *)0)->file_table.files)) {
		struct io_ring_ctx___v61 *c = ring;
		struct io_fixed_file___v61 *files = BPF_CORE_READ(c, file_table.files);
		bpf_probe_read_kernel(&ptr, sizeof(ptr), &files[idx & 0xffff]);
	} else if (bpf_core_field_exists(((struct io_ring_ctx *)0)->file_table.data.nodes)) {
		struct io_ring_ctx *c = ring;
		if (idx >= BPF_CORE_READ(c, file_table.data.nr))
			return NULL;
		struct io_rsrc_node **nodes = BPF_CORE_READ(c, file_table.data.nodes);
		struct io_rsrc_node *node = NULL;
		bpf_probe_read_kernel(&node, sizeof(node), &nodes[idx & 0xffff]);
		if (!node)
			return NULL;
		ptr = BPF_CORE_READ(node, file_ptr);
	}
	return (struct file *)(ptr & FFS_MASK);
}

/*
 * io_uring opens in flight, by request (struct io_kiocb pointer): each
 * OPENAT/OPENAT2 with O_CREAT is recorded at io_uring_submit_req and removed
 * at io_uring_complete. On 6.18 a completion that finds the CQ ring full
 * fires io_uring_cqe_overflow (ring, user_data, result: no request) instead
 * of io_uring_complete; the request is found here by its ring and user_data.
 * A request reused for another operation drops its stale entry (a CQE the
 * kernel never posted, for example a linked request cancelled in silence).
 */
struct uring_open {
	__u64 ctx;
	__u64 user_data;
	__u32 slot; /* io_open.file_slot: a direct descriptor when non-zero */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct uring_open);
} uring_opens SEC(".maps");

/* Entries in uring_opens, so that other operations skip the map when none. */
__u64 uring_open_n = 0;

/* io_uring renames and links in flight, by request: see urnames.h. */
struct uring_name {
	__u64 ctx;
	__u64 user_data;
	__s32 old_dfd;
	__s32 new_dfd;
	__u32 flags;  /* renameat2's flags (RENAME_EXCHANGE); linkat's */
	__u32 op;     /* FILE_OP_RENAME, FILE_OP_SYMLINK or FILE_OP_LINK */
	__u32 within; /* a rename within one directory (REPORT_WITHIN) */
	__u32 _pad;
	char old_name[EVENT_PATH_LEN];
	char new_name[EVENT_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct uring_name);
} uring_names SEC(".maps");

static __always_inline void uring_forget(__u64 req)
{
	if (uring_open_n && !bpf_map_delete_elem(&uring_opens, &req))
		__sync_fetch_and_add(&uring_open_n, -1);
}

static __always_inline __u8 req_opcode(struct io_kiocb *req)
{
	return BPF_CORE_READ(req, opcode);
}

static __always_inline struct io_open *req_open(struct io_kiocb *req)
{
	return (void *)req + bpf_core_field_offset(struct io_kiocb, cmd);
}

/* uring_task_wanted applies the task filters to the current task, named
 * after its group leader when it is an io_uring worker. */
static __always_inline bool uring_task_wanted(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	char comm[EVENT_COMM_LEN] __attribute__((aligned(8)));
	current_comm(t, comm);
	return task_wanted(task_pid_tgid(t), task_uid_gid(t), comm);
}

/*
 * io_uring_submit_req fires for every request after its prep ran (io_init_req:
 * the io_open holds how.flags and file_slot), in the submitter or the SQPOLL
 * thread. An open with IOSQE_CQE_SKIP_SUCCESS posts no completion when it
 * succeeds, and nothing else in the kernel's tracepoints follows it, so it is
 * counted here as io_uring_unobserved: whether or not it then creates a file
 * (an upper bound). The others are recorded for the overflow path.
 */
static __always_inline int on_uring_submit(struct io_kiocb *req)
{
	if (!bpf_core_type_exists(struct io_kiocb) || !bpf_core_type_exists(struct io_open))
		return 0;
	__u64 key = (__u64)req;
	__u8 op = req_opcode(req);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2) {
		uring_forget(key);
		return 0;
	}
	struct io_open *open = req_open(req);
	__u64 how = BPF_CORE_READ(open, how.flags);
	if (!(how & O_CREAT) || !uring_task_wanted()) {
		uring_forget(key);
		return 0;
	}
	__u32 rflags = 0; /* io_req_flags_t: u32 before 6.10, u64 since; bit 6 is in the low word */
	bpf_probe_read_kernel(&rflags, sizeof(rflags),
			      (void *)req + bpf_core_field_offset(struct io_kiocb, flags));
	if (rflags & REQ_F_CQE_SKIP) {
		uring_forget(key);
		count(COUNTER_IO_URING);
		return 0;
	}
	struct uring_open v = {
		.ctx = (__u64)BPF_CORE_READ(req, ctx),
		.user_data = BPF_CORE_READ(req, cqe.user_data),
		.slot = BPF_CORE_READ(open, file_slot),
	};
	long err = bpf_map_update_elem(&uring_opens, &key, &v, BPF_NOEXIST);
	if (!err) {
		__sync_fetch_and_add(&uring_open_n, 1);
		return 0;
	}
	if (bpf_map_update_elem(&uring_opens, &key, &v, BPF_EXIST))
		/* full: an overflowed CQE of this open would go unseen */
		count(COUNTER_INFLIGHT_FULL);
	return 0;
}

/*
 * on_uring_file reports f, the file an io_uring open of how (its flags) left
 * at its fd or slot, read when its completion is posted. A completion posted
 * by an io-wq worker follows the fd install in the same thread. One posted
 * later from the submitter (IORING_SETUP_DEFER_TASKRUN, or an overflowed
 * CQE on 6.18, both run as task work) leaves the submitter time to close or
 * dup2 the fd first: then an empty slot, or an O_CREAT open whose slot holds
 * a file this open did not create, is counted as fd_race (an O_CREAT open of
 * an existing file, completed late, is counted so too: an upper bound).
 */
static __always_inline int on_uring_file(struct file *f, __u64 how)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	bool deferred = !(BPF_CORE_READ(task, flags) & PF_IO_WORKER);
	__u32 mode = 0;
	struct path fp = {};
	if (f)
		read_file(f, &mode, &fp);
	if (mode & FMODE_CREATED) {
		if (upper_waiting || upper_wq_n)
			upper_forget_file(fp.dentry); /* made by this open: not a copy-up */
		return on_file(f, HOOK_IO_URING, EVENT_F_IO_URING, true);
	}
	if ((how & O_CREAT) && (!f || deferred) && uring_task_wanted())
		count(COUNTER_FD_RACE);
	return 0;
}

static __always_inline struct file *uring_result_file(void *ring, __u32 slot, int res)
{
	if (!slot)
		return fd_file((void *)bpf_get_current_task(), res);
	return io_fixed_file(ring, slot == IORING_FILE_INDEX_ALLOC ? (__u32)res : slot - 1);
}

struct overflow_match {
	__u64 ctx;
	__u64 user_data;
	__u64 req;
	__s32 res;
	__u32 slot;
};

/* match_open finds the open in flight whose CQE overflowed: same ring and
 * user_data, and the request holds the same result (so another request
 * posting the same user_data is not taken for it). */
static long match_open(struct bpf_map *map, __u64 *key, struct uring_open *v,
		       struct overflow_match *m)
{
	if (v->ctx != m->ctx || v->user_data != m->user_data)
		return 0;
	struct io_kiocb *req = (void *)*key;
	__u8 op = req_opcode(req);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2)
		return 0;
	if (BPF_CORE_READ(req, cqe.res) != m->res)
		return 0;
	m->req = *key;
	m->slot = v->slot;
	return 1;
}

#endif /* KERNELEVENTS_IOURING_H */
