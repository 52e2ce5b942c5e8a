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

#endif /* KERNELEVENTS_COPYUP_H */
