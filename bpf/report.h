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
static __always_inline void report(struct scratch *s, __u64 pid_tgid, __u64 uid_gid, char *comm,
				   __u8 pflags, __u8 hook, __u32 flags)
{
	bool truncated = pflags & EVENT_F_TRUNCATED;
	__u32 off = s->off;
	if (off >= PATH_BUF) {
		off = PATH_BUF - 1;
		s->buf[PATH_BUF - 1] = '/';
		s->off = off; /* where copy_key and copy_path start */
	}
	__u32 len = PATH_BUF - off;
	if (len > EVENT_PATH_LEN - 1) {
		len = EVENT_PATH_LEN - 1; /* keep the root side: directories matter most */
		truncated = true;
	}
	/*
	 * The filter is keyed by the filesystem and the path inside it (see
	 * path_prefixes), so every mount of a watched directory matches,
	 * whatever mount namespace, chroot or detached mount the creator used.
	 * Never dropped: a name not resolved in the kernel, a rootless or
	 * disconnected path (no top directory to match), a filesystem mounted
	 * from a user namespace, and one the node's mount table does not have
	 * (mounted only in a private namespace, or since the loader last read
	 * it): user space decides those.
	 */
	__u32 dev = s->dev;
	__u32 where = s->where;
	__u8 type = flags >> TYPE_SHIFT;
	if ((flags & REPORT_WITHIN) && !filter_prefixes)
		return;
	/* a gated name (sysexit.h: name_report_in) on a filesystem the node
	 * does not mount */
	if (filter_prefixes && *(volatile __u32 *)&s->lk_gate &&
	    !bpf_map_lookup_elem(&node_devs, &dev))
		return;
	if (filter_prefixes && !(flags & EVENT_F_UNRESOLVED) && !(pflags & EVENT_F_ROOTLESS) &&
	    !(where & (WHERE_DISCONNECTED | WHERE_USERNS_FS))) {
		__u32 klen = len < PREFIX_LEN ? len : PREFIX_LEN;
		/*
		 * A directory (or a name of unknown type) brings what it holds,
		 * and a symbolic link what it points to (ln -s /tmp/evil ~/.ssh):
		 * it passes when it is inside a watched directory, is one, or
		 * is an ancestor of one. Looked up as "path/" (a watched prefix
		 * is a prefix of it: inside or the watched directory itself)
		 * then a NUL, which matches only an exact key ("dir/" and a
		 * NUL, see prefix_key), whole. A path shorter than the key ends
		 * at buf[PATH_BUF]: the two bytes go there, at constant offsets
		 * (a store at a variable offset into the key was refused by the
		 * 6.1 verifier).
		 */
		if ((type == FILE_TYPE_DIR || type == FILE_TYPE_UNKNOWN ||
		     type == FILE_TYPE_SYMLINK) &&
		    klen < PREFIX_LEN) {
			s->buf[PATH_BUF] = '/';
			s->buf[PATH_BUF + 1] = 0;
			klen = klen + 2 <= PREFIX_LEN ? klen + 2 : klen + 1;
		}
		copy_key(s);
		s->key.dev = dev;
		s->key.prefixlen = 32 + klen * 8;
		__u8 *hit = bpf_map_lookup_elem(&path_prefixes, &s->key);
		/* Dropped only on a filesystem of the node's mount table (the
		 * table looked up after the trie: a watched file, the common
		 * sample, pays one lookup). Within one directory: only onto a
		 * watched directory or an ancestor (the longest match is then
		 * the exact key), or a name that a name prefix matches. */
		if ((!hit ||
		     ((flags & REPORT_WITHIN) && *hit != PREFIX_EXACT && *hit != PREFIX_NAME)) &&
		    bpf_map_lookup_elem(&node_devs, &dev))
			return;
	}
	/* The part of the path below the creator's mount's root. */
	__u32 mnt_off = s->mnt_off;
	__u16 mnt_path_off = 0;
	if (mnt_off >= off && mnt_off - off <= len && !truncated)
		mnt_path_off = mnt_off - off;
	else
		where |= WHERE_NO_MNT_PATH;

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_LOST);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	/* bpf_get_current_cgroup_id's answer (the task's cgroup v2 id), by loads */
	e->cgroup_id = bpf_get_current_task_btf()->cgroups->dfl_cgrp->kn->id;
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->ruid = (__u32)uid_gid;
	e->rgid = uid_gid >> 32;
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
	e->type = type;
	__builtin_memcpy(e->comm, comm, EVENT_COMM_LEN);
	copy_path(e->path, s);
	fill_identity(e);
	e->fs_dev = dev;
	e->mnt_id = s->mnt_id;
	e->mnt_path_off = mnt_path_off;
	e->where = where;
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
	/* fexit's f is the kernel's own (a BTF pointer): its fields and the
	 * walk from its dentry are loads (resolve's btf), not probe reads */
	bool btf = hook == HOOK_FEXIT;
	if (btf) {
		mode = f->f_mode;
		fp.mnt = f->f_path.mnt;
		fp.dentry = f->f_path.dentry;
	} else {
		read_file(f, &mode, &fp);
	}
	if (!(mode & FMODE_CREATED))
		return 0;

	struct task_struct *t = bpf_get_current_task_btf();
	__u64 pid_tgid = task_pid_tgid(t);
	__u64 uid_gid = task_uid_gid(t);
	char comm[EVENT_COMM_LEN] __attribute__((aligned(8)));
	if (maybe_io_worker)
		flags |= current_comm(t, comm);
	else
		task_comm(t, comm);
	if (!task_wanted(pid_tgid, uid_gid, comm))
		return 0;

	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	start_path(s);
	__u8 pflags = resolve(s, fp.dentry, fp.mnt, btf);
	report(s, pid_tgid, uid_gid, comm, pflags, hook, flags);
	put_scratch(s);
	return 0;
}

/* report_dentry reports the file at dentry on mnt, made by the current task
 * (flags: EVENT_F_* bits, an enum file_op above OP_SHIFT and an enum
 * file_type above TYPE_SHIFT). */
static __always_inline void report_dentry(struct dentry *dentry, struct vfsmount *mnt, __u8 hook,
					  __u32 flags)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 pid_tgid = task_pid_tgid(t);
	__u64 uid_gid = task_uid_gid(t);
	char comm[EVENT_COMM_LEN] __attribute__((aligned(8)));
	flags |= current_comm(t, comm);
	if (!task_wanted(pid_tgid, uid_gid, comm))
		return;
	struct scratch *s = get_scratch();
	if (!s)
		return;
	start_path(s);
	__u8 pflags = resolve(s, dentry, mnt, false);
	report(s, pid_tgid, uid_gid, comm, pflags, hook, flags);
	put_scratch(s);
}

/*
 * report_dentry_tp is report_dentry for the tracepoint hook's copy-ups
 * (copyup.h), as a global function: the verifier checks its walk once per
 * program, not once per kept inode. (The opens keep report_dentry inline:
 * through this function their chain of calls would take 544 bytes of stack
 * on 6.1, past the 512 it allows.) flags: an op (above
 * OP_SHIFT), of a regular file; where: WHERE_OVERLAY_UPPER and
 * WHERE_NO_MNT_PATH, added to what the walk finds.
 */
__noinline int report_dentry_tp(__u64 dentry, __u64 mnt, __u32 flags, __u32 where)
{
	/* the op alone, a regular file's: the verifier then knows the type
	 * and filter bits are clear (one walk, not one per value) */
	flags &= 0xffU << OP_SHIFT;
	/* the name in map memory, not the stack (a frame on a chain of calls
	 * whose stacks 6.1 adds up to at most 512 bytes) */
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 pid_tgid = task_pid_tgid(t);
	__u64 uid_gid = task_uid_gid(t);
	char *comm = s->comm;
	flags |= current_comm(t, comm);
	if (!task_wanted(pid_tgid, uid_gid, comm)) {
		put_scratch(s);
		return 0;
	}
	start_path(s);
	__u8 pflags = resolve(s, (struct dentry *)dentry, (struct vfsmount *)mnt, false);
	s->where |= where & (WHERE_OVERLAY_UPPER | WHERE_NO_MNT_PATH);
	report(s, pid_tgid, uid_gid, comm, pflags, HOOK_TRACEPOINT, flags);
	put_scratch(s);
	return 0;
}

#endif /* KERNELEVENTS_REPORT_H */
