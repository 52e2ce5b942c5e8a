/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * mknod of a regular file and the first link of an O_TMPFILE file at the
 * VFS, for the kretprobe and fexit hook sets: the security_path_* call is
 * kept per thread until the vfs_create/vfs_link return says it worked.
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
	__u64 inode;  /* link: the O_TMPFILE inode getting its first name */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vfs_pending);
} mknod_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vfs_pending);
} link_pending SEC(".maps");

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
 * follows) until the thread's next mknod or link; a full table is counted
 * (COUNTER_INFLIGHT_FULL).
 *
 * A link is a creation only when the inode had no name: i_nlink == 0, which
 * vfs_link allows only for an O_TMPFILE file opened without O_EXCL
 * (I_LINKABLE). Hard links of existing files are not creations.
 */
static __always_inline void pend(void *map, struct dentry *dentry, struct vfsmount *mnt,
				 struct inode *inode)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vfs_pending v = {.dentry = (__u64)dentry, .mnt = (__u64)mnt, .inode = (__u64)inode};
	if (bpf_map_update_elem(map, &tid, &v, BPF_ANY))
		count(COUNTER_INFLIGHT_FULL);
}

static __always_inline int on_path_mknod(const struct path *dir, struct dentry *dentry, __u32 mode)
{
	if ((mode & S_IFMT) != 0 && (mode & S_IFMT) != S_IFREG)
		return 0;
	pend(&mknod_pending, dentry, BPF_CORE_READ(dir, mnt), NULL);
	return 0;
}

static __always_inline int on_path_link(struct dentry *old, const struct path *new_dir,
					struct dentry *new)
{
	struct inode *inode = BPF_CORE_READ(old, d_inode);
	if (!inode || BPF_CORE_READ(inode, __i_nlink) != 0)
		return 0;
	pend(&link_pending, new, BPF_CORE_READ(new_dir, mnt), inode);
	return 0;
}

/* dentry: the vfs_* call's dentry (fexit), or NULL when unknown (kretprobe). */
static __always_inline int on_vfs_done(void *map, struct dentry *dentry, long ret, __u8 hook,
				       __u8 flags)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vfs_pending *p = bpf_map_lookup_elem(map, &tid);
	if (!p)
		return 0;
	struct vfs_pending v = *p;
	if (dentry) {
		if ((__u64)dentry != v.dentry)
			return 0; /* nested (overlayfs upper layer) */
	} else if (ret == 0) {
		struct dentry *d = (void *)v.dentry;
		if (!BPF_CORE_READ(d, d_inode))
			return 0; /* nested: the outer call has not given it its inode yet */
	}
	bpf_map_delete_elem(map, &tid);
	if (ret != 0)
		return 0;
	report_dentry((void *)v.dentry, (void *)v.mnt, hook, flags);
	return 0;
}

#endif /* KERNELEVENTS_VFS_H */
