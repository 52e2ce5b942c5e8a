/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * Batched reads of neighbouring kernel fields (CO-RE windows): a dentry's
 * parent and name, its flags, parent and name's hash and length, a
 * super_block's device, magic and root, a mount's parent and root, a
 * struct path, a struct file's mode, flags, inode and path.
 */
#ifndef KERNELEVENTS_WINDOW_H
#define KERNELEVENTS_WINDOW_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "kernel.h"
#include "scratch.h"

/*
 * Reading kernel memory from a tracepoint or kprobe program goes through
 * bpf_probe_read_kernel, and each call costs tens of nanoseconds: more than
 * everything else the programs do. So neighbouring fields are read in one
 * call where the running kernel's layout (CO-RE offsets, constants by load
 * time, so the verifier follows one branch) puts them side by side, as it
 * does in every kernel from 5.x to 6.18; field by field otherwise.
 */

/* struct dentry's d_parent, then d_name (struct qstr: hash, len, name). */
struct dentry_head {
	struct dentry *parent;
	__u32 hash;
	__u32 len;
	const unsigned char *name;
};

/* Before 6.14 the inline name was d_iname[DNAME_INLINE_LEN] (32 on 64-bit). */
struct dentry___v61 {
	unsigned char d_iname[32];
} __attribute__((preserve_access_index));

/*
 * Short names (up to DNAME_INLINE_LEN - 1 bytes: 31, or 39 since 6.14) live
 * in the dentry itself, right after d_parent, d_name and d_inode. One read of
 * DENTRY_WINDOW bytes from DENTRY_LEAD bytes before d_parent then brings the
 * parent, the name's length and pointer, and the name: one probe read per
 * path component instead of two. The name is copied out of the window in
 * NAME_COPY-byte words (see walk), so the window starts at least NAME_COPY
 * bytes before the inline name.
 */

/* inline_name returns the inline name's offset in struct dentry and its
 * size, or 0 when neither field is known. */
static __always_inline __u32 inline_name(__u32 *size)
{
	if (bpf_core_field_exists(struct dentry, d_shortname)) {
		*size = bpf_core_field_size(struct dentry, d_shortname);
		return bpf_core_field_offset(struct dentry, d_shortname);
	}
	if (bpf_core_field_exists(struct dentry___v61, d_iname)) {
		*size = bpf_core_field_size(struct dentry___v61, d_iname);
		return bpf_core_field_offset(struct dentry___v61, d_iname);
	}
	*size = 0;
	return 0;
}

/*
 * read_dentry fills h. It returns the offset in s->dwin of the name's
 * inline storage when the window holds it (h->name then points into the
 * dentry at that place for a short name), else 0.
 */
static __always_inline __u32 read_dentry(struct scratch *s, struct dentry *d, struct dentry_head *h)
{
	__u32 parent = bpf_core_field_offset(struct dentry, d_parent);
	__u32 isize = 0;
	__u32 ioff = inline_name(&isize);
	if (bpf_core_field_offset(struct dentry, d_name) == parent + 8 &&
	    bpf_core_field_offset(struct qstr, len) == 4 &&
	    bpf_core_field_offset(struct qstr, name) == 8) {
		if (parent >= DENTRY_LEAD && ioff >= parent - DENTRY_LEAD + NAME_COPY &&
		    isize > 0 && isize <= NAME_COPY + 1 &&
		    ioff + isize <= parent - DENTRY_LEAD + DENTRY_WINDOW) {
			bpf_probe_read_kernel(s->dwin, DENTRY_WINDOW,
					      (void *)d + parent - DENTRY_LEAD);
			h->parent = *(struct dentry **)&s->dwin[DENTRY_LEAD];
			h->len = *(__u32 *)&s->dwin[DENTRY_LEAD + 12];
			h->name = *(const unsigned char **)&s->dwin[DENTRY_LEAD + 16];
			return ioff - (parent - DENTRY_LEAD);
		}
		bpf_probe_read_kernel(h, sizeof(*h), (void *)d + parent);
		return 0;
	}
	h->parent = BPF_CORE_READ(d, d_parent);
	h->len = BPF_CORE_READ(d, d_name.len);
	h->name = BPF_CORE_READ(d, d_name.name);
	return 0;
}

/*
 * read_dentry_btf is read_dentry for a dentry the program holds as a BTF
 * pointer (fexit's struct file, and the dentries reached from it): the
 * fields by loads the JIT guards (a fault reads 0), no probe read. An
 * inline name is copied into s->dwin at NAME_COPY by 8-byte loads, where
 * walk() finds it as in read_dentry's window (the return value), else 0.
 * On a JIT without guarded loads the verifier refuses the loads: fexit
 * programs, which need a BTF trampoline, are JITed on every kernel that
 * has them.
 */
static __always_inline __u32 read_dentry_btf(struct scratch *s, struct dentry *d,
					     struct dentry_head *h)
{
	h->parent = d->d_parent;
	h->len = d->d_name.len;
	h->name = d->d_name.name;
	const __u64 *w;
	__u32 isize;
	if (bpf_core_field_exists(struct dentry, d_shortname)) {
		w = (const __u64 *)&d->d_shortname;
		isize = bpf_core_field_size(struct dentry, d_shortname);
	} else if (bpf_core_field_exists(struct dentry___v61, d_iname)) {
		w = (const __u64 *)((struct dentry___v61 *)d)->d_iname;
		isize = bpf_core_field_size(struct dentry___v61, d_iname);
	} else {
		return 0;
	}
	if ((void *)h->name != (void *)w || h->len >= isize || isize < 32 || isize > NAME_COPY)
		return 0;
	__u64 *dst = (__u64 *)&s->dwin[NAME_COPY];
	dst[0] = w[0];
	dst[1] = w[1];
	dst[2] = w[2];
	dst[3] = w[3];
	if (isize > 32)
		dst[4] = w[4];
	return NAME_COPY;
}

/* A dentry's d_flags, d_parent and d_name.hash_len (kprobe: from one read
 * of its first 64 bytes where the kernel's layout puts them there, as every
 * kernel from 5.x to 6.18 does; field by field otherwise). */
struct dentry_front {
	__u32 flags;
	struct dentry *parent;
	__u64 hash_len;
};

static __always_inline void read_dentry_front(struct dentry *d, bool btf, struct dentry_front *f)
{
	if (btf) {
		f->flags = d->d_flags;
		f->parent = d->d_parent;
		/* hash_len shares a union with hash: the verifier takes an
		 * 8-byte load there for a read past hash (little endian) */
		f->hash_len = (__u64)d->d_name.len << 32 | d->d_name.hash;
		return;
	}
	__u32 of = bpf_core_field_offset(struct dentry, d_flags);
	__u32 op = bpf_core_field_offset(struct dentry, d_parent);
	__u32 oh = bpf_core_field_offset(struct dentry, d_name.hash_len);
	if (of + 4 <= 64 && op + 8 <= 64 && oh + 8 <= 64 && !(op & 7) && !(oh & 7) && !(of & 3)) {
		__u64 w[8] = {};
		bpf_probe_read_kernel(w, sizeof(w), d);
		f->flags = ((__u32 *)w)[(of / 4) & 15];
		f->parent = (struct dentry *)w[(op / 8) & 7];
		f->hash_len = w[(oh / 8) & 7];
		return;
	}
	f->flags = BPF_CORE_READ(d, d_flags);
	f->parent = BPF_CORE_READ(d, d_parent);
	f->hash_len = BPF_CORE_READ(d, d_name.hash_len);
}

/* A super_block's s_dev, s_magic and s_root (where_of). */
struct super_head {
	__u32 dev;
	unsigned long magic;
	struct dentry *root;
};

/*
 * read_super fills h in one read of DENTRY_WINDOW bytes (into s->dwin,
 * free before walk() uses it) where s_dev, s_magic and s_root lie in that
 * order within it (6.1: 16..112, 6.18 the same), field by field otherwise.
 */
static __always_inline void read_super(struct scratch *s, struct super_block *sb,
				       struct super_head *h)
{
	__u32 od = bpf_core_field_offset(struct super_block, s_dev);
	__u32 om = bpf_core_field_offset(struct super_block, s_magic);
	__u32 ort = bpf_core_field_offset(struct super_block, s_root);
	if (om > od && ort > om && ort + 8 - od <= DENTRY_WINDOW &&
	    bpf_core_field_size(struct super_block, s_dev) == 4 &&
	    bpf_core_field_size(struct super_block, s_magic) == 8) {
		bpf_probe_read_kernel(s->dwin, DENTRY_WINDOW, (void *)sb + od);
		h->dev = *(__u32 *)&s->dwin[0];
		h->magic = *(unsigned long *)&s->dwin[(om - od) & 127];
		h->root = *(struct dentry **)&s->dwin[(ort - od) & 127];
		return;
	}
	h->dev = BPF_CORE_READ(sb, s_dev);
	h->magic = BPF_CORE_READ(sb, s_magic);
	h->root = BPF_CORE_READ(sb, s_root);
}

/* struct mount's mnt_parent, mnt_mountpoint, then mnt (its mnt_root). */
struct mount_head {
	struct mount *parent;
	struct dentry *mountpoint;
	struct dentry *root;
};

static __always_inline void read_mount(struct mount *m, struct mount_head *h)
{
	__u32 parent = bpf_core_field_offset(struct mount, mnt_parent);
	if (bpf_core_field_offset(struct mount, mnt_mountpoint) == parent + 8 &&
	    bpf_core_field_offset(struct mount, mnt) +
			    bpf_core_field_offset(struct vfsmount, mnt_root) ==
		    parent + 16) {
		bpf_probe_read_kernel(h, sizeof(*h), (void *)m + parent);
		return;
	}
	h->parent = BPF_CORE_READ(m, mnt_parent);
	h->mountpoint = BPF_CORE_READ(m, mnt_mountpoint);
	h->root = BPF_CORE_READ(m, mnt.mnt_root);
}

/* A struct path (mnt, dentry: the same order in every kernel) in one read. */
static __always_inline void read_path(struct path *p, void *addr)
{
	if (bpf_core_field_offset(struct path, dentry) == 8 &&
	    bpf_core_field_offset(struct path, mnt) == 0) {
		bpf_probe_read_kernel(p, 16, addr);
		return;
	}
	struct path *src = addr;
	p->mnt = BPF_CORE_READ(src, mnt);
	p->dentry = BPF_CORE_READ(src, dentry);
}

/*
 * read_file reads f->f_mode and f->f_path in one call where they lie within
 * FILE_WINDOW bytes of each other (6.1: 16..72, 6.18: 12..88).
 */
#define FILE_WINDOW 128

static __always_inline void read_file(struct file *f, __u32 *mode, struct path *p)
{
	__u32 om = bpf_core_field_offset(struct file, f_mode);
	__u32 op = bpf_core_field_offset(struct file, f_path);
	__u32 lo = om < op ? om : op;
	if (om + 4 - lo <= FILE_WINDOW && op + 16 - lo <= FILE_WINDOW &&
	    bpf_core_field_offset(struct path, dentry) == 8) {
		__u8 w[FILE_WINDOW] = {};
		bpf_probe_read_kernel(w, sizeof(w), (void *)f + lo);
		*mode = *(__u32 *)&w[om - lo];
		p->mnt = *(struct vfsmount **)&w[op - lo];
		p->dentry = *(struct dentry **)&w[op - lo + 8];
		return;
	}
	*mode = BPF_CORE_READ(f, f_mode);
	if (*mode & FMODE_CREATED)
		read_path(p, (void *)f + op);
}

/*
 * read_file_all reads f_mode, f_flags, f_inode and f_path in one call where
 * they lie within FILE_WINDOW bytes (6.1: 16..72, 6.18: 4..80).
 */
static __always_inline void read_file_all(struct file *f, __u32 *mode, __u32 *fflags,
					  struct inode **inode, struct path *p)
{
	__u32 om = bpf_core_field_offset(struct file, f_mode);
	__u32 ofl = bpf_core_field_offset(struct file, f_flags);
	__u32 oi = bpf_core_field_offset(struct file, f_inode);
	__u32 op = bpf_core_field_offset(struct file, f_path);
	__u32 lo = om < op ? om : op;
	lo = lo < ofl ? lo : ofl;
	lo = lo < oi ? lo : oi;
	if (om + 4 - lo <= FILE_WINDOW && ofl + 4 - lo <= FILE_WINDOW &&
	    oi + 8 - lo <= FILE_WINDOW && op + 16 - lo <= FILE_WINDOW &&
	    bpf_core_field_offset(struct path, dentry) == 8 &&
	    bpf_core_field_offset(struct path, mnt) == 0) {
		__u8 w[FILE_WINDOW] = {};
		bpf_probe_read_kernel(w, sizeof(w), (void *)f + lo);
		*mode = *(__u32 *)&w[(om - lo) & (FILE_WINDOW - 1)];
		*fflags = *(__u32 *)&w[(ofl - lo) & (FILE_WINDOW - 1)];
		*inode = *(struct inode **)&w[(oi - lo) & (FILE_WINDOW - 1)];
		p->mnt = *(struct vfsmount **)&w[(op - lo) & (FILE_WINDOW - 1)];
		p->dentry = *(struct dentry **)&w[(op - lo + 8) & (FILE_WINDOW - 1)];
		return;
	}
	*mode = BPF_CORE_READ(f, f_mode);
	*fflags = BPF_CORE_READ(f, f_flags);
	*inode = BPF_CORE_READ(f, f_inode);
	read_path(p, (void *)f + op);
}

#endif /* KERNELEVENTS_WINDOW_H */
