/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The path walk: a file's path from its dentry up to its filesystem's own
 * root, never crossing a mount (the same path in every mount namespace),
 * built backwards in a scratch buffer (walk), with the root side recovered
 * when the walk was cut (root_side).
 */
#ifndef KERNELEVENTS_PATH_H
#define KERNELEVENTS_PATH_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "scratch.h"
#include "window.h"

/* include/uapi/linux/magic.h */
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
/* include/linux/proc_ns.h: init_user_ns's inode number, on every kernel */
#define PROC_USER_INIT_INO 0xEFFFFFFDU

/*
 * where_of starts a walk: the filesystem the file is in (its super_block's
 * s_dev and s_root into s, read with s_magic in one call: read_super),
 * following an overlayfs file to its upper layer (fs/overlayfs:
 * ovl_inode's __upperdentry, beside the inode it embeds), so that a file
 * made through an overlay is found where it really is. Returns the dentry
 * to walk from and sets mroot to the root of the creator's mount (NULL
 * when that mount is not on the way: overlay followed).
 */
static __always_inline struct dentry *where_of(struct scratch *s, struct dentry *dentry,
					       struct vfsmount *vfsmnt, struct dentry **mroot)
{
	struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	s->mnt_id = BPF_CORE_READ(mnt, mnt_id);
	*mroot = BPF_CORE_READ(vfsmnt, mnt_root);
	struct super_block *sb = BPF_CORE_READ(dentry, d_sb);
	struct super_head sh = {};
	read_super(s, sb, &sh);
	if (sh.magic == OVERLAYFS_SUPER_MAGIC) {
		if (bpf_core_type_exists(struct ovl_inode)) {
			struct inode *inode = BPF_CORE_READ(dentry, d_inode);
			struct dentry *upper = NULL;
			if (inode)
				bpf_probe_read_kernel(
					&upper, sizeof(upper),
					(void *)inode -
						bpf_core_field_offset(struct ovl_inode, vfs_inode) +
						bpf_core_field_offset(struct ovl_inode,
								      __upperdentry));
			if (upper) {
				dentry = upper;
				sb = BPF_CORE_READ(upper, d_sb);
				read_super(s, sb, &sh);
				*mroot = NULL;
				s->where |= WHERE_OVERLAY_UPPER | WHERE_NO_MNT_PATH;
			} else {
				s->where |= WHERE_OVERLAY_UNFOLLOWED;
			}
		} else {
			s->where |= WHERE_OVERLAY_UNFOLLOWED;
		}
	}
	s->dev = sh.dev;
	s->sb_root = (__u64)sh.root;
	/* A filesystem mounted from a user namespace (tmpfs, overlay, FUSE as
	 * that namespace's root) is never one the node's table vouches for,
	 * even when its device number was a node mount's (anonymous numbers
	 * are reused as soon as an unmount frees them). */
	if (BPF_CORE_READ(sb, s_user_ns, ns.inum) != PROC_USER_INIT_INO)
		s->where |= WHERE_USERNS_FS;
	return dentry;
}

/*
 * walk writes "/name" for each component from dentry up to its
 * filesystem's own root (the dentry that is its own parent), backwards,
 * ending at s->off. It never crosses a mount: the path is the file's place
 * inside its filesystem, which no mount namespace, chroot, bind or detached
 * mount changes (user space maps it to the node's mount table). Passing the
 * root of the creator's mount it notes where the part below it starts
 * (s->mnt_off). It returns true when the path was cut (too deep or too
 * long).
 *
 * The write offset lives in the map value, not in a register: the verifier
 * then sees an unknown (masked) scalar at each iteration and can prune the
 * loop's states instead of exploring every branch combination (with the
 * offset in a register, the 1M-instruction limit was hit at 48 levels).
 */
static __always_inline bool walk(struct scratch *s, struct dentry *dentry, struct dentry *mroot,
				 bool btf)
{
	struct dentry_head d = {};

	for (int i = 0; i < MAX_DEPTH; i++) {
		if (dentry == mroot)
			s->mnt_off = s->off;
		__u32 win = btf ? read_dentry_btf(s, dentry, &d) : read_dentry(s, dentry, &d);
		if (dentry == d.parent) {
			if ((__u64)dentry != s->sb_root)
				s->where |= WHERE_DISCONNECTED;
			return false;
		}
		__u32 len = d.len;
		__u32 off = *(volatile __u32 *)&s->off;
		if (len > NAME_MASK || len + 1 > off || off > PATH_BUF) {
			s->stop_dentry = (__u64)dentry;
			return true;
		}
		/* the name is the inline one, in the window (read_dentry_btf
		 * returns win only then) */
		if (win && len < NAME_COPY && off >= NAME_COPY &&
		    (btf ||
		     (void *)d.name == (void *)dentry + win +
					       bpf_core_field_offset(struct dentry, d_parent) -
					       DENTRY_LEAD)) {
			/* The name is in the window at [win, win + len): copy the
			 * NAME_COPY bytes that end with it to buf[off - NAME_COPY, off).
			 * The bytes before the name land below off, where the
			 * parents' names are written next. */
			__u64 *dst = (void *)&s->buf[(off - NAME_COPY) & (PATH_BUF - 1)];
			__u64 *src = (void *)&s->dwin[(win + len - NAME_COPY) & 127];
			dst[0] = src[0];
			dst[1] = src[1];
			dst[2] = src[2];
			dst[3] = src[3];
			dst[4] = src[4];
			off -= len;
		} else {
			off -= len;
			/* btf: opaque to clang, which would drop the mask as
			 * implied by the test above on another copy of len; 6.1's
			 * verifier needs it on this one */
			__u32 n = len;
			if (btf)
				asm volatile("" : "+r"(n));
			bpf_probe_read_kernel(&s->buf[off & (PATH_BUF - 1)], n & NAME_MASK, d.name);
		}
		off -= 1;
		s->buf[off & (PATH_BUF - 1)] = '/';
		s->off = off;
		dentry = d.parent;
	}
	s->stop_dentry = (__u64)dentry;
	return true;
}

/* What root_side() found. */
#define PATH_WHOLE 0	 /* nothing was left above the cut: buf holds the whole path */
#define PATH_ROOT_SIDE 1 /* buf holds the root side, the leaf side was cut */
#define PATH_ROOTLESS 2	 /* deeper than DEEP_MAX: buf keeps the leaf side */

/*
 * root_side runs after walk() cut a path (rare: more than MAX_DEPTH
 * components or PATH_BUF bytes; the common short path never comes here). It
 * goes on from where walk() stopped to the root, without copying names (one
 * probe read per component), keeping the ROOT_RING root-most components in a
 * ring, then rewrites buf with as many of those as fit: the root side, which
 * is what the prefix filter and file.directory need. Without it a file 60
 * directories under /tmp/ had a path starting with some inner directory:
 * dropped by a /tmp/ filter, or counted under a wrong top directory.
 */
static __noinline int root_side(struct scratch *s)
{
	if (!s)
		return PATH_ROOTLESS;
	struct dentry *dentry = (void *)s->stop_dentry;
	struct dentry_head d = {};
	bool found = false;
	s->n = 0;

	for (int i = 0; i < DEEP_MAX; i++) {
		/* Parent and name length only, in one read where they are
		 * neighbours: the names are read later, for the kept ones. */
		if (bpf_core_field_offset(struct dentry, d_name) ==
			    bpf_core_field_offset(struct dentry, d_parent) + 8 &&
		    bpf_core_field_offset(struct qstr, len) == 4 &&
		    bpf_core_field_offset(struct qstr, name) == 8) {
			bpf_probe_read_kernel(
				&d, sizeof(d),
				(void *)dentry + bpf_core_field_offset(struct dentry, d_parent));
		} else {
			d.parent = BPF_CORE_READ(dentry, d_parent);
			d.len = BPF_CORE_READ(dentry, d_name.len);
			d.name = BPF_CORE_READ(dentry, d_name.name);
		}
		if (dentry == d.parent) {
			found = (__u64)dentry == s->sb_root;
			break;
		}
		__u32 k = *(volatile __u32 *)&s->n;
		s->ring_dentry[k & (ROOT_RING - 1)] = (__u64)dentry;
		s->ring_name[k & (ROOT_RING - 1)] = (__u64)d.name;
		s->ring_len[k & (ROOT_RING - 1)] = d.len;
		s->n = k + 1;
		dentry = d.parent;
	}
	if (!found)
		return PATH_ROOTLESS;
	__u32 n = s->n;
	if (n == 0)
		return PATH_WHOLE;

	/* above: the length of every component above the cut (known when the
	 * ring holds them all); first: the deepest of the root-most components
	 * that fit alone. */
	__u32 above = 0, acc = 0, first = n - 1;
	bool fits = true;
	for (__u32 j = 0; j < ROOT_RING; j++) {
		if (j >= *(volatile __u32 *)&s->n)
			break;
		__u32 len = *(volatile __u32 *)&s->ring_len[(n - 1 - j) & (ROOT_RING - 1)];
		if (len > NAME_MASK)
			return PATH_ROOTLESS;
		above += len + 1;
		if (fits && acc + len + 1 <= PATH_BUF - 1) {
			acc += len + 1;
			first = n - 1 - j;
		} else {
			fits = false;
		}
	}

	/* The whole root side when it fits in front of the head (up to a
	 * sample's worth) of what walk() wrote: the path from the root, cut on
	 * the leaf side only if that head is not all walk() wrote. Else only
	 * the root-most components that fit. */
	__u32 off = s->off;
	__u32 head = off < PATH_BUF ? PATH_BUF - off : 0;
	bool whole = head <= EVENT_PATH_LEN;
	if (head > EVENT_PATH_LEN)
		head = EVENT_PATH_LEN;
	if (n <= ROOT_RING && above + head <= PATH_BUF - 1) {
		if (head > 0 && head <= EVENT_PATH_LEN) {
			bpf_probe_read_kernel(s->name, EVENT_PATH_LEN,
					      &s->buf[off & (PATH_BUF - 1)]);
			bpf_probe_read_kernel(&s->buf[(PATH_BUF - head) & (PATH_BUF - 1)], head,
					      s->name);
		}
		s->off = PATH_BUF - head;
		first = 0;
	} else {
		s->off = PATH_BUF;
		whole = false;
	}
	/* Write components first .. n-1 (leaf-most first), backwards. */
	s->k = first;
	for (__u32 j = 0; j < ROOT_RING; j++) {
		/* k and n from the map value: unknown to the verifier, which can
		 * then prune this loop's states (as in walk). */
		__u32 k = *(volatile __u32 *)&s->k;
		if (k >= *(volatile __u32 *)&s->n)
			break;
		s->k = k + 1;
		__u32 len = s->ring_len[k & (ROOT_RING - 1)];
		__u32 o = *(volatile __u32 *)&s->off;
		if (len > NAME_MASK || len + 1 > o || o > PATH_BUF)
			return PATH_ROOTLESS; /* cannot happen: measured to fit */
		o -= len;
		bpf_probe_read_kernel(&s->buf[o & (PATH_BUF - 1)], len & NAME_MASK,
				      (void *)s->ring_name[k & (ROOT_RING - 1)]);
		o -= 1;
		s->buf[o & (PATH_BUF - 1)] = '/';
		s->off = o;
	}
	return whole ? PATH_WHOLE : PATH_ROOT_SIDE;
}

/*
 * where_of_btf is where_of for a file the program holds as a BTF pointer
 * (fexit): the mount's root, the super_block's fields and its user
 * namespace by guarded loads. It returns false, having read nothing into
 * s, for an overlayfs file: where_of follows that one to its upper layer.
 */
static __always_inline bool where_of_btf(struct scratch *s, struct dentry *dentry,
					 struct vfsmount *vfsmnt, struct dentry **mroot)
{
	struct super_block *sb = dentry->d_sb;
	if (sb->s_magic == OVERLAYFS_SUPER_MAGIC)
		return false;
	/* struct mount's mnt_id, beside the vfsmount it embeds */
	bpf_probe_read_kernel(&s->mnt_id, sizeof(s->mnt_id),
			      (void *)vfsmnt + (bpf_core_field_offset(struct mount, mnt_id) -
						bpf_core_field_offset(struct mount, mnt)));
	*mroot = vfsmnt->mnt_root;
	s->dev = sb->s_dev;
	s->sb_root = (__u64)sb->s_root;
	if (sb->s_user_ns->ns.inum != PROC_USER_INIT_INO)
		s->where |= WHERE_USERNS_FS;
	return true;
}

/*
 * resolve builds the path of dentry inside its filesystem into s->buf (see
 * walk), with the filesystem (s->dev) and the where bits (s->where), and
 * returns the EVENT_F_* flags it earned: 0 for a whole path. s->where and
 * s->mnt_off must have been reset (start_path). btf (a constant): dentry
 * and vfsmnt are BTF pointers (fexit), read by loads (where_of_btf,
 * read_dentry_btf); an overlayfs file is then walked by probe reads from
 * its upper layer.
 */
static __always_inline __u8 resolve(struct scratch *s, struct dentry *dentry,
				    struct vfsmount *vfsmnt, bool btf)
{
	struct dentry *mroot = NULL;
	bool cut;
	if (btf && where_of_btf(s, dentry, vfsmnt, &mroot)) {
		cut = walk(s, dentry, mroot, true);
	} else {
		dentry = where_of(s, dentry, vfsmnt, &mroot);
		cut = walk(s, dentry, mroot, false);
	}
	if (!cut)
		return 0;
	s->where |= WHERE_NO_MNT_PATH;
	switch (root_side(s)) {
	case PATH_WHOLE:
		return 0;
	case PATH_ROOT_SIDE:
		return EVENT_F_TRUNCATED;
	}
	return EVENT_F_TRUNCATED | EVENT_F_ROOTLESS;
}

#endif /* KERNELEVENTS_PATH_H */
