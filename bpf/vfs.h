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
#include "window.h"

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

/*
 * kretprobe and fexit hooks: a file an open's create made, from the
 * filesystem's instantiation of its new name to do_filp_open's return.
 * do_filp_open's return reports a file it made when the open worked
 * (FMODE_CREATED on the file it returns); an open can also fail after its
 * create, with the file made and left: a security module that refuses to
 * open it (security_file_open: Landlock, which needs no privilege, allows
 * making a file in a directory and refuses opening it for writing),
 * fanotify's permission events, IMA. Such an open finds its file here
 * (open_create_done) and reports it with EVENT_F_OPEN_FAILED.
 *
 * The proof of the create is the filesystem's own: its create gives the
 * new name its new inode with d_instantiate or d_instantiate_new (ext4,
 * xfs, btrfs, f2fs, tmpfs, overlayfs, vfat...), which a lookup does not
 * call (d_add, d_splice_alias). security_path_mknod would not do: the open
 * calls it before the lookup, which may find the name on disk, and an
 * O_CREAT|O_EXCL open of a file not in the dentry cache would have been
 * taken for a create. Filesystems that create in atomic_open (NFS, CIFS,
 * FUSE, Ceph) and name the file with d_splice_alias are not seen failing
 * after a create.
 *
 * One slot per thread, in an array indexed by the thread id's low bits
 * (OPEN_CREATE_SLOTS), taken with a compare-and-swap of its owner at the
 * create and given back at the open's return, whatever it returns (fexit:
 * every O_CREAT open's; kretprobe, which has no arguments at return: every
 * open's), or at the thread's exit (on_vfs_task_exit). An open's create
 * costs two array loads, a compare-and-swap and a few stores; an open, one
 * array load. (Task storage, the kernel's per-thread map, cost about 170
 * instructions a lookup in Debian's 6.1, twice per creation.)
 *
 * A slot another thread holds (the same low bits, its own open's create in
 * flight at that instant) is counted as COUNTER_INFLIGHT_FULL: should this
 * open fail after its create, the file goes unseen. An upper bound: the
 * open nearly always works, and its file is then reported. A slot held for
 * over OPEN_CREATE_HOLD jiffies (1 to 10 seconds, by the kernel's HZ; its
 * return missed: a kretprobe out of
 * instances, a program skipped, an open that does not return through
 * do_filp_open) is taken over, and counted the same way.
 *
 * What a failed return reports must be its own open's create: the slot
 * names its thread by id and start time (a reused id is another thread),
 * the walk's struct filename (fexit compares it with do_filp_open's), and
 * the new inode, which the name must still have (the dentry was read with
 * no reference held: one freed and reused since names another inode, or
 * none).
 */
#define OPEN_CREATE_HOLD 1000
#define OPEN_CREATE_SLOTS 16384

struct open_create {
	__u64 owner;  /* OPEN_CREATE_OWNER(tid), or 0: free */
	__u64 start;  /* the thread's start_time */
	__u64 at;     /* bpf_jiffies64() when taken (a cheaper clock) */
	__u64 dentry; /* the new name */
	__u64 mnt;    /* the struct vfsmount the open reached its directory by */
	__u64 inode;  /* the new inode */
	__u64 name;   /* the walk's struct filename (nd->name) */
	__u64 _pad;
};

/* an owner is never 0, a free slot's value, whatever the tid */
#define OPEN_CREATE_OWNER(tid) ((__u64)(tid) | 1ULL << 32)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OPEN_CREATE_SLOTS);
	__type(key, __u32);
	__type(value, struct open_create);
} open_creates SEC(".maps");

static __always_inline struct open_create *open_create_slot(__u32 tid)
{
	__u32 i = tid & (OPEN_CREATE_SLOTS - 1);
	return bpf_map_lookup_elem(&open_creates, &i);
}

/*
 * on_instantiate: fs/dcache.c d_instantiate(dentry, inode) and
 * d_instantiate_new(dentry, inode), every name a filesystem gives a new
 * inode (opens, mknod, mkdir, symlink, link, and a few pseudo-filesystems'
 * lookups). Kept only for an open's create: inside the last step of an
 * O_CREAT open's path walk (the task's nameidata, LOOKUP_CREATE among its
 * flags: open_last_lookups), the new name being the walk's last component
 * (nd->last) in the walk's directory (nd->path: the directory, and the
 * mount it was reached by), and no longer being looked up (lookup_open
 * ends the lookup, d_lookup_done, before it calls the filesystem's create;
 * a lookup that instantiates, configfs', runs with DCACHE_PAR_LOOKUP).
 * mknod, mkdir, symlink and link have put the nameidata back before they
 * create (filename_create); overlayfs' create on its upper layer is in
 * another directory (the upper one), and its own instantiation of the
 * overlay's name comes after it.
 */
static __always_inline int on_instantiate(struct dentry *dentry, struct inode *inode, bool btf)
{
	struct task_struct *t = bpf_get_current_task_btf();
	/* the task's, and the walk's, by loads through BTF pointers */
	struct nameidata *nd = t->nameidata;
	if (!nd || !(nd->flags & LOOKUP_CREATE))
		return 0;
	/* fentry's dentry is a BTF pointer too; kprobe's is a number */
	struct dentry_front f;
	read_dentry_front(dentry, btf, &f);
	if (f.parent != nd->path.dentry ||
	    f.hash_len != ((__u64)nd->last.len << 32 | nd->last.hash) ||
	    (f.flags & DENTRY_FLAG(DCACHE_PAR_LOOKUP, 0x10000000)))
		return 0;
	__u32 tid = t->pid;
	struct open_create *oc = open_create_slot(tid);
	if (!oc)
		return 0;
	__u64 me = OPEN_CREATE_OWNER(tid);
	__u64 owner = __sync_val_compare_and_swap(&oc->owner, 0, me);
	__u64 now = bpf_jiffies64();
	if (owner && owner != me) {
		/* another thread's open's create holds the slot: this one's
		 * goes unkept, or the other's, when its return was missed */
		count(COUNTER_INFLIGHT_FULL);
		if (now - oc->at < OPEN_CREATE_HOLD ||
		    __sync_val_compare_and_swap(&oc->owner, owner, me) != owner)
			return 0;
	}
	oc->start = t->start_time;
	oc->at = now;
	oc->dentry = (__u64)dentry;
	oc->mnt = (__u64)nd->path.mnt;
	oc->inode = (__u64)inode;
	oc->name = (__u64)nd->name;
	return 0;
}

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

/*
 * open_create_done, at do_filp_open's return: takes this thread's open's
 * create out of open_creates (on_instantiate) and, when the open failed,
 * reports the file it made, with EVENT_F_OPEN_FAILED: no descriptor was
 * returned. Called by a created file's open (failed false: clears) and by
 * failed opens that may have created.
 */
static __always_inline void open_create_done(bool failed, struct filename *name, __u8 hook)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct open_create *oc = open_create_slot(tid);
	__u64 me = OPEN_CREATE_OWNER(tid);
	if (!oc || oc->owner != me)
		return;
	/* only this thread writes a slot it owns: read, then give it back
	 * (a compare-and-swap, ordered after the reads) */
	struct open_create v = *oc;
	__sync_val_compare_and_swap(&oc->owner, me, 0);
	if (!failed || v.start != bpf_get_current_task_btf()->start_time ||
	    (name && v.name != (__u64)name))
		return;
	struct dentry *d = (void *)v.dentry;
	if ((__u64)BPF_CORE_READ(d, d_inode) != v.inode)
		return;
	report_dentry(d, (void *)v.mnt, hook, EVENT_F_OPEN_FAILED);
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
	/* an open's create whose open did not return through do_filp_open
	 * (a core dump's file) */
	struct open_create *oc = open_create_slot(tid);
	if (oc && oc->owner == OPEN_CREATE_OWNER(tid))
		__sync_val_compare_and_swap(&oc->owner, OPEN_CREATE_OWNER(tid), 0);
	return 0;
}

#endif /* KERNELEVENTS_VFS_H */
