/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The inodes the tracepoint hook keeps while a thread's call may copy a file
 * up (copyup.h, on_ctime), and what the creations of that call take back
 * from them: shared by report.h (on_file) and sysexit.h (mknod), which
 * copyup.h builds on.
 */
#ifndef KERNELEVENTS_UPPER_H
#define KERNELEVENTS_UPPER_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"

#define UPPER_NEW_MAX 4

struct upper_new {
	__u64 inode[UPPER_NEW_MAX]; /* struct inode *, as u64 */
	__u64 sb[UPPER_NEW_MAX];    /* its super_block, compared before it is read */
	__u32 n;
	__u16 over; /* more than UPPER_NEW_MAX in one call: counted lost */
	__u16 made; /* the call made a file itself (upper_made) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* thread id */
	__type(value, struct upper_new);
} upper_new SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);   /* struct inode * */
	__type(value, __u64); /* its super_block */
} upper_inodes SEC(".maps");

/* Threads in upper_new: every syscall exit of the machine tests this one
 * word and goes on only when a thread has a kept inode. */
__u32 upper_waiting = 0;

/*
 * The inodes io_uring's threads (io-wq workers, SQPOLL) keep, one set per
 * process: a worker's request may complete in the submitter (a
 * DEFER_TASKRUN ring's task work) or in no CQE at all, so they are taken at
 * any completion of the process (and at its threads' exits), not at the
 * worker's. Slots are claimed and taken with atomic exchanges (workers and
 * submitters run at once); an entry lives until its process is dead.
 */
#define UPPER_WQ_MAX 8

struct upper_wq {
	__u64 inode[UPPER_WQ_MAX]; /* struct inode *, 0 for a free slot */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* process id (tgid) */
	__type(value, struct upper_wq);
} upper_wq SEC(".maps");

/* upper_wq_n: inodes in upper_wq's slots (every io_uring completion tests
 * it); upper_wq_procs: entries in upper_wq (a process's exit tests it). */
__u32 upper_wq_n = 0;
__u32 upper_wq_procs = 0;

/* ovl_upper returns the upper dentry of an overlay dentry's inode, or NULL. */
static __always_inline struct dentry *ovl_upper(struct dentry *dentry)
{
	struct dentry *upper = NULL;
	if (!bpf_core_type_exists(struct ovl_inode))
		return NULL;
	struct inode *inode = BPF_CORE_READ(dentry, d_inode);
	if (!inode)
		return NULL;
	bpf_probe_read_kernel(&upper, sizeof(upper),
			      (void *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode) +
				      bpf_core_field_offset(struct ovl_inode, __upperdentry));
	return upper;
}

/* upper_forget: inode was reported by the call's own creation: out of the
 * current thread's entry (a slot of 0) and of the io_uring threads' sets. */
static __always_inline void upper_forget(struct inode *inode)
{
	__u64 ip = (__u64)inode;
	if (upper_wq_n)
		bpf_map_delete_elem(&upper_inodes, &ip);
	if (!upper_waiting)
		return;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct upper_new *u = bpf_map_lookup_elem(&upper_new, &tid);
	if (!u)
		return;
	for (int i = 0; i < UPPER_NEW_MAX; i++)
		if (u->inode[i] == ip)
			u->inode[i] = 0;
}

/* upper_forget_file: as upper_forget, for a file made by an open (through
 * an overlay: its upper inode). */
static __always_inline void upper_forget_file(struct dentry *dentry)
{
	struct dentry *upper = ovl_upper(dentry);
	upper_forget(BPF_CORE_READ(upper ? upper : dentry, d_inode));
}

/* upper_made: the current call made a file itself (a mknod through an
 * overlay): its kept inode is that file, not a copy-up. */
static __always_inline void upper_made(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct upper_new *u = bpf_map_lookup_elem(&upper_new, &tid);
	if (u)
		u->made = 1;
}

#endif /* KERNELEVENTS_UPPER_H */
