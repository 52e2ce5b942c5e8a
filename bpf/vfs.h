/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * mknod of a regular file, symlinks, links and renames at the VFS, for the
 * kretprobe and fexit hook sets: the security_path_* call is kept per
 * thread until the vfs_create/vfs_symlink/vfs_link/vfs_rename return says
 * it worked.
 */
#ifndef KERNELEVENTS_VFS_H
#define KERNELEVENTS_VFS_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "kernel.h"
#include "output.h"
#include "report.h"

/*
 * kretprobe and fexit hooks: a mknod or a link of an O_TMPFILE file is kept
 * from its security_path_mknod/security_path_link call, which knows the
 * mount, to the return of vfs_create/vfs_link, which says whether it worked.
 * Per thread; one map each so that a stale mknod entry can never answer for
 * a link.
 */
struct vfs_pending {
	__u64 dentry; /* the new name (u64: no pointers in map values) */
	__u64 mnt;    /* the struct vfsmount it is on */
	__u64 inode;  /* link: the inode getting a name */
	__u64 start;  /* the thread's start_time: an entry a dead thread left
		       * under a tid now reused is not the new thread's */
	__u32 flags;  /* what to report (EVENT_F_*, op and type above OP_SHIFT) */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vfs_pending);
} mknod_pending SEC(".maps");

/*
 * mknod_pending's entries: +1 at each insert, -1 at each delete, so never
 * below their number (a thread sees its own insert). An open's create
 * looks for a stale entry of its thread only when there is an entry at all:
 * one load on nearly every creation instead of a hash lookup (about 120
 * instructions in Debian 6.1).
 */
__u64 mknod_pending_n = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vfs_pending);
} link_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vfs_pending);
} symlink_pending SEC(".maps");

/* The enum file_type of the inode at d that a link or rename may bring
 * in (a regular file, a directory, a symbolic link), else -1. */
static __always_inline int counted_type(struct dentry *d)
{
	struct inode *inode = BPF_CORE_READ(d, d_inode);
	if (!inode)
		return -1;
	switch (BPF_CORE_READ(inode, i_mode) & S_IFMT) {
	case S_IFREG:
		return FILE_TYPE_REGULAR;
	case S_IFDIR:
		return FILE_TYPE_DIR;
	case S_IFLNK:
		return FILE_TYPE_SYMLINK;
	}
	return -1;
}

/*
 * mknod(2) of a regular file and the first name of an O_TMPFILE file, at the
 * VFS (kretprobe and fexit hooks; 32-bit and io_uring callers included).
 *
 * fs/namei.c do_mknodat calls security_path_mknod(&path, dentry, mode, dev)
 * and then, for S_IFREG or 0, vfs_create(idmap, dir, dentry, ...); the open
 * path calls i_op->create itself, so opens are not counted twice here.
 * do_linkat calls security_path_link(old_dentry, &new_path, new_dentry) and
 * then vfs_link(old_dentry, idmap, dir, new_dentry, ...). The security_path_*
 * call is the one that knows the mount (it needs CONFIG_SECURITY_PATH, which
 * every distribution kernel with AppArmor or TOMOYO has); the vfs_* return
 * says whether the name was made. overlayfs calls vfs_create and vfs_link
 * again on its upper layer, nested, with another dentry: only the call on
 * the dentry kept at security_path_* reports (fexit compares the dentry;
 * kretprobe, which has no arguments at return, waits until the kept dentry
 * has its inode, which the outer call gives it last).
 *
 * An LSM that refuses at security_path_* leaves the entry (no vfs_* call
 * follows) until the thread's next call of the same kind (a mknod's also
 * until its next creating open) or its exit (on_vfs_task_exit); one whose
 * thread's exit went unseen is dropped when its tid is reused (start_time
 * differs); a full table is counted (COUNTER_INFLIGHT_FULL).
 *
 * A link of an inode without a name (i_nlink == 0, which vfs_link allows
 * only for an O_TMPFILE file opened without O_EXCL: I_LINKABLE) is that
 * file's creation (FILE_OP_TMPFILE_LINK). A link of a regular file or a
 * symbolic link that has a name is a new name (FILE_OP_LINK) when it is
 * made in another directory than the one the caller named the file by
 * (old_dentry's parent): a second name in the same directory brings nothing
 * in from outside it, and is not counted, but where a name prefix
 * (filter_name_prefixes) can start to match it: then report() decides. Links of other file types
 * (device nodes, fifos, sockets) are not counted; directories cannot be
 * linked.
 *
 * symlink(2) the same way: do_symlinkat calls security_path_symlink(&path,
 * dentry, from) and then vfs_symlink(idmap, dir, dentry, from); every
 * symbolic link made is counted (FILE_OP_SYMLINK), natively, 32-bit and
 * from io_uring (IORING_OP_SYMLINKAT goes through do_symlinkat too).
 */
static __always_inline void pend(void *map, struct dentry *dentry, struct vfsmount *mnt,
				 struct inode *inode, __u32 flags)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 tid = t->pid;
	struct vfs_pending v = {.dentry = (__u64)dentry,
				.mnt = (__u64)mnt,
				.inode = (__u64)inode,
				.start = t->start_time,
				.flags = flags};
	if (bpf_map_update_elem(map, &tid, &v, BPF_ANY))
		count(COUNTER_INFLIGHT_FULL);
}

static __always_inline int on_path_mknod(const struct path *dir, struct dentry *dentry, __u32 mode)
{
	if ((mode & S_IFMT) != 0 && (mode & S_IFMT) != S_IFREG)
		return 0;
	/*
	 * An open that creates comes here too (fs/namei.c lookup_open ->
	 * may_o_create), inside do_filp_open, whose walk is the task's
	 * nameidata; do_filp_open's own hook reports it. mknod comes after
	 * filename_create has put the task's nameidata back (NULL: no walk is
	 * under way). An open no longer writes an entry (a map update here was
	 * about 600 of a creation's instructions in Debian 6.1, issue 28); it
	 * takes out one a mknod left without reaching vfs_create (refused by
	 * a security module, or bpf_obj_do_pin, which makes its file with
	 * vfs_mkobj), which a later nested vfs_create of the thread (overlayfs'
	 * upper layer) could otherwise take for its own (kretprobe: no
	 * arguments at return). Only when the table holds an entry at all
	 * (mknod_pending_n).
	 */
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 tid = t->pid;
	if (t->nameidata) {
		/* a lookup first: a delete takes the bucket's lock */
		if (mknod_pending_n && bpf_map_lookup_elem(&mknod_pending, &tid) &&
		    !bpf_map_delete_elem(&mknod_pending, &tid))
			__sync_fetch_and_add(&mknod_pending_n, -1);
		return 0;
	}
	struct vfs_pending v = {.dentry = (__u64)dentry,
				.mnt = (__u64)BPF_CORE_READ(dir, mnt),
				.start = t->start_time,
				.flags = EVENT_F_MKNOD};
	if (!bpf_map_update_elem(&mknod_pending, &tid, &v, BPF_NOEXIST))
		__sync_fetch_and_add(&mknod_pending_n, 1);
	else if (bpf_map_update_elem(&mknod_pending, &tid, &v, BPF_EXIST))
		count(COUNTER_INFLIGHT_FULL);
	return 0;
}

static __always_inline int on_path_symlink(const struct path *dir, struct dentry *dentry)
{
	pend(&symlink_pending, dentry, BPF_CORE_READ(dir, mnt), NULL,
	     FILE_OP_SYMLINK << OP_SHIFT | FILE_TYPE_SYMLINK << TYPE_SHIFT);
	return 0;
}

static __always_inline int on_path_link(struct dentry *old, const struct path *new_dir,
					struct dentry *new)
{
	struct inode *inode = BPF_CORE_READ(old, d_inode);
	if (!inode)
		return 0;
	if (BPF_CORE_READ(inode, __i_nlink) == 0) {
		pend(&link_pending, new, BPF_CORE_READ(new_dir, mnt), inode, EVENT_F_TMPFILE_LINK);
		return 0;
	}
	bool within = BPF_CORE_READ(old, d_parent) == BPF_CORE_READ(new_dir, dentry);
	if (within && !filter_prefixes)
		return 0;
	int type = counted_type(old);
	if (type != FILE_TYPE_REGULAR && type != FILE_TYPE_SYMLINK)
		return 0;
	/* within one directory: a symbolic link may land on a watched
	 * directory's name (ln -s /tmp/evil x; ln x ~/.ssh: report()) */
	if (within && !filter_name_prefixes && type != FILE_TYPE_SYMLINK)
		return 0;
	pend(&link_pending, new, BPF_CORE_READ(new_dir, mnt), inode,
	     FILE_OP_LINK << OP_SHIFT | (__u32)type << TYPE_SHIFT | (within ? REPORT_WITHIN : 0));
	return 0;
}

/* dentry: the vfs_* call's dentry (fexit), or NULL when unknown (kretprobe).
 * What is reported (flags, op) was kept with the entry. n: the map's count
 * of entries (mknod_pending_n), or NULL. */
static __always_inline int on_vfs_done(void *map, __u64 *n, struct dentry *dentry, long ret,
				       __u8 hook)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 tid = t->pid;
	struct vfs_pending *p = bpf_map_lookup_elem(map, &tid);
	if (!p)
		return 0;
	struct vfs_pending v = *p;
	if (v.start != t->start_time) {
		/* a dead thread's, under its tid reused (a call it made that
		 * never reached vfs_*: refused by a security module) */
		if (!bpf_map_delete_elem(map, &tid) && n)
			__sync_fetch_and_add(n, -1);
		return 0;
	}
	if (dentry) {
		if ((__u64)dentry != v.dentry)
			return 0; /* nested (overlayfs upper layer) */
	} else if (ret == 0) {
		struct dentry *d = (void *)v.dentry;
		if (!BPF_CORE_READ(d, d_inode))
			return 0; /* nested: the outer call has not given it its inode yet */
	}
	if (!bpf_map_delete_elem(map, &tid) && n)
		__sync_fetch_and_add(n, -1);
	if (ret != 0)
		return 0;
	report_dentry((void *)v.dentry, (void *)v.mnt, hook, v.flags);
	return 0;
}

/*
 * Renames, for the kretprobe and fexit hooks (32-bit and io_uring callers
 * included: all go through do_renameat2). fs/namei.c do_renameat2 checks
 * that both names are on one mount (EXDEV), then calls
 * security_path_rename(&old_path, old_dentry, &new_path, new_dentry, flags)
 * and vfs_rename(&rd). When vfs_rename returns 0 the file that was at
 * old_dentry is at the new name, and old_dentry is its dentry there
 * (d_move; with RENAME_EXCHANGE d_exchange also moves new_dentry's file to
 * the old name).
 *
 * A rename is counted (FILE_OP_RENAME) when it brings a regular file, a
 * directory or a symbolic link into another directory: old and new parent
 * directories are different dentries. With RENAME_EXCHANGE each of the two
 * is new in the other's directory, so each is counted. A rename within one
 * directory (an editor's or sed -i's temporary file renamed over the
 * original, a package manager's) stops after the parents' comparison and
 * the file's type, before any map update: four reads, no series. A
 * directory or symbolic link renamed within one directory is kept only with a prefix filter,
 * and reported only when it lands on a watched directory or an ancestor of
 * one (mv ~/staged ~/.ssh: REPORT_WITHIN); with a name prefix, every file
 * too, reported only where the name prefix matches the new name. RENAME_NOREPLACE
 * and RENAME_WHITEOUT are renames like the others (the whiteout left at the
 * old name is a device node, not counted). A directory is one sample with
 * FILE_TYPE_DIR: the files it holds arrive with it and are not enumerated
 * (the prefix filter passes it inside a watched directory, as one, or as an
 * ancestor of one: report()).
 *
 * overlayfs renames again on its upper layer, nested: fexit compares
 * rd->old_dentry with the kept one; kretprobe, which has no arguments at
 * return, waits until the kept dentry has moved under the new directory
 * (within one directory: has taken the new name), which the outer call
 * does last.
 */
struct rename_pending {
	__u64 old_dentry; /* the file's dentry: at the new name after the rename */
	__u64 new_dentry; /* RENAME_EXCHANGE: the other file's, at the old name after */
	__u64 new_dir;	  /* the new name's directory (dentry) */
	__u64 mnt;
	__u64 new_name;	 /* within one directory: the new name's d_name.hash_len */
	__u64 start;	 /* the thread's start_time (struct vfs_pending) */
	__u8 report_old; /* the file at old_dentry is counted: its file_type + 1 */
	__u8 report_new; /* RENAME_EXCHANGE and the other is counted: its type + 1 */
	__u8 within;	 /* old and new directory are one: REPORT_WITHIN */
	__u8 _pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct rename_pending);
} rename_pending SEC(".maps");

/* include/uapi/linux/fs.h */
#define RENAME_EXCHANGE (1 << 1)

static __always_inline int on_path_rename(const struct path *old_dir, struct dentry *old,
					  const struct path *new_dir, struct dentry *new,
					  unsigned int flags)
{
	struct dentry *nd = BPF_CORE_READ(new_dir, dentry);
	bool within = BPF_CORE_READ(old_dir, dentry) == nd;
	/* Within one directory: only a directory or a symbolic link, onto a
	 * watched directory or an ancestor of one (report()), and only with a
	 * prefix filter. */
	if (within && !filter_prefixes)
		return 0;
	int to = counted_type(old);
	int tn = (flags & RENAME_EXCHANGE) ? counted_type(new) : -1;
	if (within && !filter_name_prefixes) {
		if (to != FILE_TYPE_DIR && to != FILE_TYPE_SYMLINK)
			to = -1;
		if (tn != FILE_TYPE_DIR && tn != FILE_TYPE_SYMLINK)
			tn = -1;
	}
	if (to < 0 && tn < 0)
		return 0;
	struct rename_pending v = {
		.old_dentry = (__u64)old,
		.new_dentry = (__u64) new,
		.new_dir = (__u64)nd,
		.mnt = (__u64)BPF_CORE_READ(new_dir, mnt),
		.report_old = to + 1,
		.report_new = tn + 1,
		.within = within,
		.new_name = within ? BPF_CORE_READ(new, d_name.hash_len) : 0,
	};
	struct task_struct *t = bpf_get_current_task_btf();
	v.start = t->start_time;
	__u32 tid = t->pid;
	if (bpf_map_update_elem(&rename_pending, &tid, &v, BPF_ANY))
		count(COUNTER_INFLIGHT_FULL);
	return 0;
}

/* old: vfs_rename's rd->old_dentry (fexit), or NULL (kretprobe). */
static __always_inline int on_rename_done(struct dentry *old, long ret, __u8 hook)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 tid = t->pid;
	struct rename_pending *p = bpf_map_lookup_elem(&rename_pending, &tid);
	if (!p)
		return 0;
	struct rename_pending v = *p;
	if (v.start != t->start_time) {
		bpf_map_delete_elem(&rename_pending, &tid); /* a dead thread's */
		return 0;
	}
	if (old) {
		if ((__u64)old != v.old_dentry)
			return 0; /* nested (overlayfs upper layer) */
	} else if (ret == 0) {
		struct dentry *d = (void *)v.old_dentry;
		if (v.within ? BPF_CORE_READ(d, d_name.hash_len) != v.new_name
			     : (__u64)BPF_CORE_READ(d, d_parent) != v.new_dir)
			return 0; /* nested: the outer call has not moved it yet */
	}
	bpf_map_delete_elem(&rename_pending, &tid);
	if (ret != 0)
		return 0;
	__u32 f = FILE_OP_RENAME << OP_SHIFT | (v.within ? REPORT_WITHIN : 0);
	if (v.report_old)
		report_dentry((void *)v.old_dentry, (void *)v.mnt, hook,
			      f | (__u32)(v.report_old - 1) << TYPE_SHIFT);
	if (v.report_new)
		report_dentry((void *)v.new_dentry, (void *)v.mnt, hook,
			      f | (__u32)(v.report_new - 1) << TYPE_SHIFT);
	return 0;
}

/*
 * A thread's exit takes out the entries it kept (kretprobe and fexit hooks:
 * raw_tp/sched_process_exit, which runs in the exiting thread; a raw
 * tracepoint, which needs no BTF of the kernel's: kretprobe also loads
 * with a BTF file, btf_path). A call that
 * never reached its vfs_* (refused by a security module after
 * security_path_*: Landlock needs no privilege) leaves its entry; without
 * this, 16,384 threads that each left one and exited would fill the table,
 * and every later call of that kind would be counted as
 * COUNTER_INFLIGHT_FULL instead of reported. A lookup first: a delete takes
 * the bucket's lock; mknod's only when its table holds an entry at all.
 */
static __always_inline int on_vfs_task_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(); /* the exiting thread */
	if (mknod_pending_n && bpf_map_lookup_elem(&mknod_pending, &tid) &&
	    !bpf_map_delete_elem(&mknod_pending, &tid))
		__sync_fetch_and_add(&mknod_pending_n, -1);
	if (bpf_map_lookup_elem(&symlink_pending, &tid))
		bpf_map_delete_elem(&symlink_pending, &tid);
	if (bpf_map_lookup_elem(&link_pending, &tid))
		bpf_map_delete_elem(&link_pending, &tid);
	if (bpf_map_lookup_elem(&rename_pending, &tid))
		bpf_map_delete_elem(&rename_pending, &tid);
	return 0;
}

#endif /* KERNELEVENTS_VFS_H */
