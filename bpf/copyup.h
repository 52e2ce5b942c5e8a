/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * overlayfs copy-up, for the kretprobe and fexit hook sets: a file of a
 * lower layer that is opened for write, truncated, chmod'ed, chown'ed,
 * given an xattr, renamed or linked is first copied into the upper layer by
 * the kernel (fs/overlayfs/copy_up.c), and there it is a new name in the
 * upper directory, made without any security_path_* call.
 */
#ifndef KERNELEVENTS_COPYUP_H
#define KERNELEVENTS_COPYUP_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "kernel.h"
#include "report.h"
#include "upper.h"

/*
 * ovl_copy_up_one(struct dentry *parent, struct dentry *dentry, int flags)
 * copies one overlay dentry up (6.1 to 6.18 at least; ovl_copy_up_flags
 * calls it for the file and each ancestor not yet up). The new name comes
 * from ovl_copy_up_workdir (made in the work directory, then vfs_rename
 * into the upper one), ovl_copy_up_tmpfile (vfs_tmpfile, then vfs_link into
 * the upper directory) or ovl_link_up (vfs_link of an index entry): each a
 * vfs_rename or vfs_link of this thread that returned 0, inside the call.
 *
 * Counted (FILE_OP_COPY_UP) at the call's return when: the dentry is a
 * regular file whose overlay inode had no upper dentry at entry and has one
 * now (ovl_inode's __upperdentry, as where_of follows it), the call returned
 * 0, and this thread made the name (a vfs_rename or vfs_link returned 0 in
 * between: a second thread that waited for the first one's copy-up of the
 * same file made no name and is not counted). Directories copied up on the
 * way are not counted (the files they hold keep their names). The sample's
 * path is the file's place in the upper layer (WHERE_OVERLAY_UPPER), its
 * creator the task that triggered the copy-up.
 *
 * Where struct ovl_inode is in no BTF the kernel has (overlay a module not
 * loaded when the programs loaded) the programs are not loaded (the loader
 * says so).
 */
struct copyup_pending {
	__u64 dentry; /* the overlay dentry (u64: no pointers in map values) */
	__u8 named;   /* a vfs_rename or vfs_link of this thread returned 0 */
	__u8 _pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct copyup_pending);
} copyup_pending SEC(".maps");

static __always_inline int on_copy_up_enter(struct dentry *dentry)
{
	struct inode *inode = BPF_CORE_READ(dentry, d_inode);
	if (!inode || (BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFREG || ovl_upper(dentry))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct copyup_pending v = {.dentry = (__u64)dentry};
	if (bpf_map_update_elem(&copyup_pending, &tid, &v, BPF_ANY))
		count(COUNTER_INFLIGHT_FULL);
	return 0;
}

/* copyup_named notes a name this thread made (vfs_rename or vfs_link
 * returned 0) while a copy-up of it is under way. */
static __always_inline void copyup_named(long ret)
{
	if (ret != 0)
		return;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct copyup_pending *p = bpf_map_lookup_elem(&copyup_pending, &tid);
	if (p)
		p->named = 1;
}

static __always_inline int on_copy_up_exit(long ret, __u8 hook)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct copyup_pending *p = bpf_map_lookup_elem(&copyup_pending, &tid);
	if (!p)
		return 0;
	struct copyup_pending v = *p;
	bpf_map_delete_elem(&copyup_pending, &tid);
	struct dentry *dentry = (void *)v.dentry;
	if (ret != 0 || !v.named || !ovl_upper(dentry))
		return 0;
	/* No mount: the upper layer's is private to the overlay; where_of
	 * follows the overlay dentry to the upper one. */
	report_dentry(dentry, NULL, hook, FILE_OP_COPY_UP << OP_SHIFT);
	return 0;
}

/*
 * The tracepoint hook's copy-up (6.13+). No tracepoint is on the copy-up
 * path itself, but every filesystem stamps a new inode's ctime as it makes
 * it (inode_set_ctime_current: the timestamp tracepoints
 * inode_set_ctime_to_ts, ctime_ns_xchg or ctime_xchg_skip, added in 6.13),
 * in the thread that triggered the copy-up, under the credentials overlayfs
 * puts in place of the thread's own (override_creds: the task's cred is
 * then not its real_cred). So a new regular file's inode, still without a
 * name, seen there under overridden credentials (on_ctime) is kept for the
 * thread (upper_new; an io_uring thread's for its process, upper_wq, and
 * for itself, upper_inodes); at the thread's
 * syscall exit (or, for an io_uring worker, at its next completion or its
 * exit) each kept inode that now has a name and was not reported by the
 * call's own creation (an open that created the file through the overlay,
 * on_file; a mknod, on_mknod_exit) is reported as FILE_OP_COPY_UP, under
 * its name's node path: the file's place in the upper layer, whatever
 * namespace the overlay is mounted in. The same holds for any file the
 * kernel makes for a thread under other credentials (fscache's cache
 * files), reported the same way; a core dump's file is the dumping
 * thread's and is counted as core_dump_unobserved (sched_process_exit).
 * A name is read when the call returns: a copy-up that made a file and
 * then failed is counted; a file unlinked before the call returned is not
 * (it is gone). Kept inodes are compared by address and super_block
 * before they are read.
 */
#define PF_KTHREAD_ 0x00200000 /* include/linux/sched.h PF_KTHREAD */

/* upper_wq_keep keeps inode ip (of super_block sb) for the current
 * process's io_uring threads (upper_wq). */
static __always_inline int upper_wq_keep(__u64 ip, __u64 sb)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct upper_wq *q = bpf_map_lookup_elem(&upper_wq, &tgid);
	if (!q) {
		struct upper_wq z = {};
		if (!bpf_map_update_elem(&upper_wq, &tgid, &z, BPF_NOEXIST))
			__sync_fetch_and_add(&upper_wq_procs, 1);
		q = bpf_map_lookup_elem(&upper_wq, &tgid);
		if (!q) {
			count(COUNTER_INFLIGHT_FULL);
			return 0;
		}
	}
	if (bpf_map_update_elem(&upper_inodes, &ip, &sb, BPF_NOEXIST))
		return 0; /* another thread keeps it (or the table is full) */
	for (int i = 0; i < UPPER_WQ_MAX; i++) {
		if (__sync_val_compare_and_swap(&q->inode[i], 0, ip) == 0) {
			__sync_fetch_and_add(&upper_wq_n, 1);
			return 0;
		}
	}
	bpf_map_delete_elem(&upper_inodes, &ip);
	count(COUNTER_INFLIGHT_FULL);
	return 0;
}

/* upper_note keeps inode for the current thread (on_ctime's rare path). */
static __always_inline int upper_note(struct task_struct *t, struct inode *inode)
{
	if (t->flags & PF_KTHREAD_)
		return 0;
	/* a regular file's inode without a name yet, not overlayfs' own (the
	 * overlay's inode of a file, whose upper inode is the one kept) */
	if ((inode->i_mode & S_IFMT) != S_IFREG || inode->i_dentry.first ||
	    inode->i_sb->s_magic == OVERLAYFS_SUPER_MAGIC)
		return 0;
	__u64 ip = (__u64)inode;
	__u64 sb = (__u64)inode->i_sb;
	if (t->flags & PF_IO_WORKER) {
		if (bpf_map_lookup_elem(&upper_inodes, &ip))
			return 0;
		return upper_wq_keep(ip, sb);
	}
	/* A thread's own: in its entry alone (upper_inodes is the io_uring
	 * threads' sets', which other threads take): a creation through an
	 * overlay (every file a container makes) pays three map operations
	 * here and two at its exit. */
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct upper_new *u = bpf_map_lookup_elem(&upper_new, &tid);
	if (!u) {
		struct upper_new z = {};
		if (bpf_map_update_elem(&upper_new, &tid, &z, BPF_NOEXIST)) {
			count(COUNTER_INFLIGHT_FULL);
			return 0;
		}
		__sync_fetch_and_add(&upper_waiting, 1);
		u = bpf_map_lookup_elem(&upper_new, &tid);
		if (!u)
			return 0;
	}
	__u32 n = u->n;
	/* the same inode again (its other timestamps, before its name) */
	for (int i = 0; i < UPPER_NEW_MAX; i++)
		if (i < n && u->inode[i] == ip)
			return 0;
	if (n >= UPPER_NEW_MAX) {
		u->over++;
		return 0;
	}
	u->inode[n] = ip;
	u->sb[n] = sb;
	u->n = n + 1;
	return 0;
}

/* on_ctime: a timestamp tracepoint's inode (tp_btf: a plain load each). */
static __always_inline int on_ctime(struct inode *inode)
{
	struct task_struct *t = bpf_get_current_task_btf();
	if (t->cred == t->real_cred)
		return 0;
	return upper_note(t, inode);
}

/*
 * upper_name reports a kept inode that has a name now: its oldest hashed
 * alias (a link made in the same call is reported by the call; an
 * O_TMPFILE's own dentry, which overlayfs' copy-up links into the upper
 * directory and drops only after the syscall returns, is never hashed)
 * outside a directory of mode 0: overlayfs makes its work directory's
 * "index" and "work" so (ovl_workdir_create), and with index=on the
 * copy-up of a lower file with other links names the file in the index
 * before the upper directory (the work directory may be out of the watched
 * ones: the file would go unreported). Where every hashed alias is in such
 * a directory, the newest. Returns 1 when reported, 0 when the file has
 * no name yet, -1 when it is gone. Tentative (an io_uring thread's inode
 * taken by another thread, its copy-up maybe under way): a file without a
 * link yet that has an alias (the copy-up's O_TMPFILE), or named only in a
 * directory of mode 0 (the copy-up's temporary name in the work directory,
 * or its index name), is not named yet. A global function: the verifier
 * checks it once, not once per kept inode.
 */
static __always_inline int upper_name(__u64 ip, __u64 sb, const bool tentative)
{
	struct inode *inode = (void *)ip;
	if ((__u64)BPF_CORE_READ(inode, i_sb) != sb ||
	    (BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFREG)
		return -1; /* gone */
	struct hlist_node *node = BPF_CORE_READ(inode, i_dentry.first), *last = NULL;
	/* no link: gone, or (with an alias, its dentry) the O_TMPFILE of a
	 * copy-up still under way */
	if (!BPF_CORE_READ(inode, i_nlink))
		return tentative && node ? 0 : -1;
	__u32 alias = bpf_core_field_offset(struct dentry, d_u.d_alias);
	__u32 good = 0;
	/* newest first: the first hashed one, replaced by each older one
	 * outside a directory of mode 0 */
	for (int i = 0; i < 8 && node; i++) {
		struct dentry *d = (void *)node - alias;
		if (BPF_CORE_READ(d, d_hash.pprev)) {
			__u32 m = BPF_CORE_READ(d, d_parent, d_inode, i_mode) & 07777;
			if (!last || m) {
				last = node;
				good = m;
			}
		}
		node = BPF_CORE_READ(node, next);
	}
	/* tentative: named in overlayfs' work directory alone, the copy-up
	 * is still under way */
	if (!last || (tentative && !good))
		return 0;
	/* No mount: the upper layer's is private to the overlay. */
	report_dentry_tp((__u64)((void *)last - alias), 0, FILE_OP_COPY_UP << OP_SHIFT,
			 WHERE_OVERLAY_UPPER | WHERE_NO_MNT_PATH);
	return 1;
}

/* upper_report and upper_report_tentative: upper_name, each a global
 * function (the first is tp_sys_exit's: tentative's code is not in it). */
__noinline int upper_report(__u64 ip, __u64 sb)
{
	return upper_name(ip, sb, false);
}

__noinline int upper_report_tentative(__u64 ip, __u64 sb)
{
	return upper_name(ip, sb, true);
}

/*
 * upper_exit takes the current thread's kept inodes; with report, it
 * reports those still kept (a core dump's, without). A global function
 * (checked once per program); the sys_exit programs call it only when
 * upper_waiting is set.
 */
__noinline int upper_exit(int do_report)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct upper_new *p = bpf_map_lookup_elem(&upper_new, &tid);
	if (!p)
		return 0;
	/* read in place (a copy would add 72 bytes to a chain of calls whose
	 * stacks 6.1 adds up to at most 512), deleted after */
	__u32 n = p->n;
	if (p->made)
		do_report = 0; /* a mknod: the call made its own file */
	for (int i = 0; i < UPPER_NEW_MAX; i++) {
		if (i >= n)
			break;
		__u64 ip = p->inode[i], sb = p->sb[i];
		if (ip && do_report) /* 0: reported by the call's own creation */
			upper_report(ip, sb);
	}
	if (p->over && do_report)
		count(COUNTER_INFLIGHT_FULL);
	if (!bpf_map_delete_elem(&upper_new, &tid))
		__sync_fetch_and_add(&upper_waiting, -1);
	return 0;
}

/*
 * upper_wq_take takes the current process's io_uring threads' kept inodes
 * (upper_wq) and reports each that has a name now (with report); one
 * without a name yet (a worker's copy-up still under way) is kept, unless
 * final (the process is dead: its entry goes too). A global function.
 */
__noinline int upper_wq_take(int final, int do_report)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct upper_wq *q = bpf_map_lookup_elem(&upper_wq, &tgid);
	if (!q)
		return 0;
	for (int i = 0; i < UPPER_WQ_MAX; i++) {
		__u64 ip = __sync_lock_test_and_set(&q->inode[i], 0);
		if (!ip)
			continue;
		__u64 *sbp = bpf_map_lookup_elem(&upper_inodes, &ip);
		int named = -1;
		if (sbp && do_report)
			named = final ? upper_report(ip, *sbp) : upper_report_tentative(ip, *sbp);
		if (named == 0 && !final && __sync_val_compare_and_swap(&q->inode[i], 0, ip) == 0)
			continue; /* not named yet: kept */
		if (named == 0 && !final)
			count(COUNTER_INFLIGHT_FULL); /* its slot was taken meanwhile */
		/* (no entry: reported by its call's own creation) */
		bpf_map_delete_elem(&upper_inodes, &ip);
		__sync_fetch_and_add(&upper_wq_n, -1);
	}
	if (final && !bpf_map_delete_elem(&upper_wq, &tgid))
		__sync_fetch_and_add(&upper_wq_procs, -1);
	return 0;
}

#endif /* KERNELEVENTS_COPYUP_H */
