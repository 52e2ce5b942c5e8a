/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * lookup_dir: the directory that a name written with a '/' names, found in
 * the kernel's dentry cache at sys_exit (the tracepoint hook), so that the
 * name's path is the kernel's and the prefix filter can match it exactly.
 *
 * At a syscall's exit the new dentry of a mknod, symlink, rename or link is
 * out of reach; its name as written is not. A name without '/' is the last
 * component below the cwd or dfd, which the hook walks as any directory. A
 * name with one ("/home/alice/.ssh/k", "sub/k", "../x/k") went through a
 * path lookup: it is repeated here, component by component, from where the
 * kernel started (the task's root for an absolute name, else the cwd or
 * dfd), in the task's own mounts:
 * - "." stays, ".." goes up as the kernel's does (not above the task's root,
 *   and from a mount's root to its mountpoint in the parent mount), then
 *   enters the mounts on the directory reached, as the kernel's does (a
 *   mount on the parent made after the cwd was taken, one on the root);
 * - a name is looked for among its directory's children (d_children, or
 *   d_subdirs before 6.8): a hashed, positive dentry with those bytes;
 * - a directory with a mount on it (DCACHE_MOUNTED) is entered through the
 *   topmost mount of the task's namespace on it (the mount's child mounts),
 *   up to LOOKUP_STACK stacked mounts;
 * - a symbolic link on the way is followed (LOOKUP_LINKS of them, those
 *   whose target the inode holds: i_link, which tmpfs and ext4 set for
 *   short targets); the last component, the new name, never is.
 * Whatever it cannot repeat exactly (a directory with more than
 * LOOKUP_CHILDREN cached children before the one sought, or all of the
 * name's directories with more than LOOKUP_BUDGET, a mount with more than
 * LOOKUP_MOUNTS mounts on it before the one on the directory, more than
 * LOOKUP_STACK mounts stacked on a directory or climbed by a "..", a link whose
 * target is not in the inode, a name longer than the buffer, more than
 * LOOKUP_COMPONENTS components, a component that is not a directory or not
 * cached) fails the lookup, and the caller reports the name unresolved or
 * counts it as lost (name_report_in), never under a guess.
 *
 * The lookup runs after the syscall: a sibling thread that renames a
 * directory on the way, or swaps a symbolic link, between the kernel's
 * lookup and this one changes the directory found (README, "What remains").
 *
 * The steps are global functions (verified once each, apart from their
 * callers) that take their scratch slot's index, the only way 6.1's
 * verifier lets a global function reach map memory; each bounds its own
 * loop, so no loop nests another in one function.
 */
#ifndef KERNELEVENTS_LOOKUP_H
#define KERNELEVENTS_LOOKUP_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "kernel.h"
#include "scratch.h"

/* Components of a name looked up (".", ".." and links' targets included). */
#define LOOKUP_COMPONENTS 32
/* Children of one directory looked at, LOOKUP_CHUNK per call of scan_children,
 * and of all the name's directories together (LOOKUP_BUDGET): what one
 * syscall can make the hook do is bounded (about 2,048 children, a few tens
 * of microseconds), whatever the directories hold. */
#define LOOKUP_CHUNK 64
#define LOOKUP_CHUNKS 16
#define LOOKUP_CHILDREN (LOOKUP_CHUNK * LOOKUP_CHUNKS)
#define LOOKUP_BUDGET (2 * LOOKUP_CHILDREN)
/* Mounts on one mount looked at for the one on a directory (a node with a
 * few hundred pods has as many tmpfs volumes on its root mount); they
 * count against LOOKUP_BUDGET too. */
#define LOOKUP_MOUNTS 1024
/* Mounts stacked on one directory entered. */
#define LOOKUP_STACK 4
/* Symbolic links followed (the kernel follows 40). */
#define LOOKUP_LINKS 8

/* lookup_step's results. */
#define LK_FAIL 0
#define LK_NEXT 1
#define LK_LAST 2
#define LK_SCAN 3
#define LK_ENTER 4 /* a directory reached (s->lk_found): its mounts next */

/* Before 6.8 a dentry's children were a list (d_subdirs, each in d_child). */
struct dentry___pre68 {
	struct list_head d_child;
	struct list_head d_subdirs;
} __attribute__((preserve_access_index));

static __always_inline struct scratch *slot_scratch(__u32 slot)
{
	return bpf_map_lookup_elem(&scratch_map, &slot);
}

/* name_eq: is the name of dentry d the cl bytes of s->name at cur? */
__noinline int name_eq(__u32 slot, __u64 d, __u32 cur, __u32 cl)
{
	struct scratch *s = slot_scratch(slot);
	if (!s || cl == 0 || cl > NAME_MASK)
		return 0;
	const unsigned char *name = BPF_CORE_READ((struct dentry *)d, d_name.name);
	/* bounded where the verifier sees it (clang folded the mask into the
	 * test above, in a form the verifier does not follow) */
	__u32 n = cl;
	asm volatile("%0 &= 255" : "+r"(n));
	if (bpf_probe_read_kernel(s->cand, n, name))
		return 0;
	for (__u32 i = 0; i < NAME_MASK; i++) {
		if (i >= cl)
			break;
		if (s->cand[i & NAME_MASK] != s->name[(cur + i) & (EVENT_PATH_LEN - 1)])
			return 0;
	}
	return 1;
}

/* children_of readies scan_children to look at dir's children. */
static __always_inline void children_of(struct scratch *s, struct dentry *dir)
{
	if (bpf_core_field_exists(struct dentry, d_children)) {
		s->lk_node = (__u64)BPF_CORE_READ(dir, d_children.first);
		s->lk_head = 0;
	} else {
		struct dentry___pre68 *old = (void *)dir;
		s->lk_node = (__u64)BPF_CORE_READ(old, d_subdirs.next);
		s->lk_head = (__u64)dir + bpf_core_field_offset(struct dentry___pre68, d_subdirs);
	}
	s->lk_found = 0;
}

/*
 * scan_children looks at up to LOOKUP_CHUNK children of the directory from
 * s->lk_node on, for the component at (cur, cl): 1 when found (s->lk_found),
 * 2 to go on, 0 at the end of the children.
 */
__noinline int scan_children(__u32 slot, __u32 cur, __u32 cl)
{
	struct scratch *s = slot_scratch(slot);
	if (!s)
		return 0;
	__u32 sib = bpf_core_field_exists(struct dentry, d_sib)
			    ? bpf_core_field_offset(struct dentry, d_sib)
			    : bpf_core_field_offset(struct dentry___pre68, d_child);
	/* reads go to map memory, not the stack: this frame is on a call
	 * chain whose stacks 6.1 adds up to at most 512 bytes */
	for (int i = 0; i < LOOKUP_CHUNK; i++) {
		__u64 node = s->lk_node;
		if (!node || node == s->lk_head || s->lk_budget == 0)
			return 0;
		s->lk_budget--;
		/* hlist_node and list_head: next first */
		if (bpf_probe_read_kernel(&s->lk_node, sizeof(s->lk_node), (void *)node))
			s->lk_node = 0;
		struct dentry *d = (void *)(node - sib);
		s->lk_tmp = 0;
		bpf_core_read(&s->lk_tmp, sizeof(__u32), &d->d_name.len);
		if ((__u32)s->lk_tmp != cl)
			continue;
		/* hashed (not being killed) and positive */
		s->lk_tmp = 0;
		bpf_core_read(&s->lk_tmp, sizeof(__u64), &d->d_hash.pprev);
		if (!s->lk_tmp)
			continue;
		s->lk_tmp = 0;
		bpf_core_read(&s->lk_tmp, sizeof(__u64), &d->d_inode);
		if (!s->lk_tmp)
			continue;
		if (name_eq(slot, (__u64)d, cur, cl)) {
			s->lk_found = (__u64)d;
			return 1;
		}
	}
	return 2;
}

/*
 * mount_on: the topmost mount of the task's namespace on the directory
 * s->lk_found (inside mount s->lk_mnt), entered: s->lk_mnt and s->lk_found
 * become that mount and its root. 1 when one was entered, 0 when the task's
 * namespace has none there, -1 when the mount has more than LOOKUP_MOUNTS
 * mounts on it before that one, or the lookup's budget runs out (not known:
 * the lookup fails, never goes on in the directory under the mount).
 */
__noinline int mount_on(__u32 slot)
{
	struct scratch *s = slot_scratch(slot);
	if (!s)
		return 0;
	struct mount *mnt = (void *)s->lk_mnt;
	__u64 head = (__u64)mnt + bpf_core_field_offset(struct mount, mnt_mounts);
	__u64 node = (__u64)BPF_CORE_READ(mnt, mnt_mounts.next);
	__u32 child_off = bpf_core_field_offset(struct mount, mnt_child);
	for (int i = 0; i < LOOKUP_MOUNTS; i++) {
		if (!node || node == head)
			return 0;
		if (s->lk_budget == 0)
			return -1;
		s->lk_budget--;
		struct mount *m = (void *)(node - child_off);
		if ((__u64)BPF_CORE_READ(m, mnt_mountpoint) == s->lk_found) {
			s->lk_mnt = (__u64)m;
			s->lk_found = (__u64)BPF_CORE_READ(m, mnt.mnt_root);
			return 1;
		}
		bpf_probe_read_kernel(&node, sizeof(node), (void *)node);
	}
	return -1;
}

/*
 * follow_mounts enters the mounts on the directory s->lk_found (in mount
 * s->lk_mnt), the topmost last, as the kernel's walk does after a name and
 * after "..": s->lk_dentry and s->lk_mnt become where it ends. 0 when that
 * is not known exactly (more than LOOKUP_STACK stacked, or mount_on could
 * not tell): never the directory under a mount.
 */
__noinline int follow_mounts(__u32 slot)
{
	struct scratch *s = slot_scratch(slot);
	if (!s)
		return 0;
	for (int i = 0; i < LOOKUP_STACK + 1; i++) {
		struct dentry *d = (void *)s->lk_found;
		if (!(BPF_CORE_READ(d, d_flags) & DENTRY_FLAG(DCACHE_MOUNTED, 0x10000))) {
			s->lk_dentry = s->lk_found;
			return 1;
		}
		int r = mount_on(slot);
		if (r == 0) {
			s->lk_dentry = s->lk_found;
			return 1;
		}
		if (r < 0)
			return 0;
	}
	return 0; /* more than LOOKUP_STACK stacked */
}

/* dotdot: ".." from s->lk_dentry in s->lk_mnt, as follow_dotdot does (the
 * mounts on where it ends are the caller's: follow_mounts). 0 when it
 * climbs more than LOOKUP_STACK + 4 stacked mounts (not known). */
static __always_inline int dotdot(struct scratch *s)
{
	for (int i = 0; i < LOOKUP_STACK + 4; i++) {
		if (s->lk_dentry == s->lk_root_dentry && s->lk_mnt == s->lk_root_mnt)
			return 1; /* not above the task's root */
		struct mount *mnt = (void *)s->lk_mnt;
		/* a local first: BPF_CORE_READ of an expression reading s would
		 * relocate s's field too, against a kernel without the type */
		struct dentry *d = (void *)s->lk_dentry;
		if ((__u64)d != (__u64)BPF_CORE_READ(mnt, mnt.mnt_root)) {
			s->lk_dentry = (__u64)BPF_CORE_READ(d, d_parent);
			return 1;
		}
		struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
		if (!parent || parent == mnt)
			return 1; /* the namespace's root */
		s->lk_dentry = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
		s->lk_mnt = (__u64)parent;
	}
	return 0;
}

/*
 * follow_link replaces the components up to end (s->name[0:end), the last
 * one a symbolic link, dentry link) with the link's target: s->name becomes
 * target + s->name[end:], looked up from the task's root for an absolute
 * target, else from the link's directory (where the lookup is). 1 when done.
 */
__noinline int follow_link(__u32 slot, __u64 link, __u32 end)
{
	struct scratch *s = slot_scratch(slot);
	if (!s || s->lk_links >= LOOKUP_LINKS)
		return 0;
	s->lk_links++;
	const char *target = BPF_CORE_READ((struct dentry *)link, d_inode, i_link);
	if (!target)
		return 0; /* the target is not in the inode (a page, or ->get_link) */
	long tl = bpf_probe_read_kernel_str(s->cand, EVENT_PATH_LEN, target);
	if (tl <= 1)
		return 0;
	tl -= 1;
	__u32 len = s->lk_len;
	if (end > len || len > EVENT_PATH_LEN - 1)
		return 0;
	__u32 rest = len - end; /* starts with the '/' after the link */
	if (tl + rest > EVENT_PATH_LEN - 1)
		return 0;
	if (rest)
		bpf_probe_read_kernel(s->buf, rest & (EVENT_PATH_LEN - 1),
				      &s->name[end & (EVENT_PATH_LEN - 1)]);
	bpf_probe_read_kernel(s->name, tl & (EVENT_PATH_LEN - 1), s->cand);
	if (rest)
		bpf_probe_read_kernel(&s->name[tl & (EVENT_PATH_LEN - 1)],
				      rest & (EVENT_PATH_LEN - 1), s->buf);
	s->name[(tl + rest) & (EVENT_PATH_LEN - 1)] = 0;
	s->lk_len = tl + rest;
	s->lk_cur = 0;
	if (s->cand[0] == '/') {
		s->lk_dentry = s->lk_root_dentry;
		s->lk_mnt = s->lk_root_mnt;
	}
	return 1;
}

/*
 * skip_slashes moves s->lk_cur past the '/'s there, component_end sets
 * s->lk_end where the component from s->lk_cur ends. Functions of their
 * own: a loop's every exit is verified on with what follows it, which two
 * such loops in one function multiplied past the 1M instructions allowed.
 * The positions are kept in map memory, where the verifier sees an unknown
 * value at each step and prunes the loop's states (as in dir_part).
 */
__noinline int skip_slashes(__u32 slot)
{
	struct scratch *s = slot_scratch(slot);
	if (!s)
		return 0;
	__u32 len = s->lk_len;
	for (int i = 0; i < EVENT_PATH_LEN; i++) {
		__u32 c = *(volatile __u32 *)&s->lk_cur;
		if (c >= len || s->name[c & (EVENT_PATH_LEN - 1)] != '/')
			break;
		*(volatile __u32 *)&s->lk_cur = c + 1;
	}
	return 0;
}

__noinline int component_end(__u32 slot)
{
	struct scratch *s = slot_scratch(slot);
	if (!s)
		return 0;
	__u32 len = s->lk_len;
	*(volatile __u32 *)&s->lk_end = *(volatile __u32 *)&s->lk_cur;
	for (int i = 0; i < EVENT_PATH_LEN; i++) {
		__u32 e = *(volatile __u32 *)&s->lk_end;
		if (e >= len || s->name[e & (EVENT_PATH_LEN - 1)] == '/')
			break;
		*(volatile __u32 *)&s->lk_end = e + 1;
	}
	return 0;
}

/*
 * lookup_step takes the next component of s->name from s->lk_cur: LK_NEXT
 * after ".", LK_ENTER after ".." (its mounts next), LK_SCAN for a name,
 * LK_LAST when it is the last one (the new name, at s->lk_cur), LK_FAIL
 * when it cannot be repeated exactly.
 */
__noinline int lookup_step(__u32 slot)
{
	struct scratch *s = slot_scratch(slot);
	if (!s)
		return LK_FAIL;
	__u32 len = s->lk_len;
	if (len > EVENT_PATH_LEN - 1)
		return LK_FAIL;
	/* the component: [cur, end) */
	skip_slashes(slot);
	component_end(slot);
	__u32 cur = *(volatile __u32 *)&s->lk_cur;
	__u32 end = *(volatile __u32 *)&s->lk_end;
	if (cur >= len)
		return LK_FAIL; /* ends with '/' */
	if (end >= len)
		return LK_LAST;
	if (end <= cur || end > EVENT_PATH_LEN)
		return LK_FAIL;
	__u32 cl = end - cur;
	s->lk_cur = end;
	if (cl == 1 && s->name[cur & (EVENT_PATH_LEN - 1)] == '.')
		return LK_NEXT;
	if (cl == 2 && s->name[cur & (EVENT_PATH_LEN - 1)] == '.' &&
	    s->name[(cur + 1) & (EVENT_PATH_LEN - 1)] == '.') {
		if (!dotdot(s))
			return LK_FAIL;
		s->lk_found = s->lk_dentry;
		return LK_ENTER;
	}
	s->lk_cur = cur; /* for the scan; lookup_enter moves past */
	children_of(s, (struct dentry *)s->lk_dentry);
	return LK_SCAN;
}

/*
 * lookup_enter takes the child that scan_children found for the component
 * ending at s->lk_end: a directory is entered (LK_ENTER: its mounts next),
 * a symbolic link followed (LK_NEXT); LK_FAIL for anything else.
 */
__noinline int lookup_enter(__u32 slot)
{
	struct scratch *s = slot_scratch(slot);
	if (!s)
		return LK_FAIL;
	struct dentry *d = (void *)s->lk_found;
	umode_t mode = BPF_CORE_READ(d, d_inode, i_mode);
	if ((mode & S_IFMT) == S_IFLNK)
		return follow_link(slot, (__u64)d, s->lk_end) ? LK_NEXT : LK_FAIL;
	if ((mode & S_IFMT) != S_IFDIR)
		return LK_FAIL;
	s->lk_cur = s->lk_end;
	return LK_ENTER;
}

/*
 * lookup_dir looks up the directory of the name in s->name (s->lk_len
 * bytes, no NUL) from s->lk_dentry in mount s->lk_mnt, with the task's root
 * (see above). On success s->lk_dentry and s->lk_mnt are that directory and
 * the return value is where the last component starts in s->name (which a
 * followed link may have rewritten; it ends at s->lk_len); on failure -1.
 * A global function: its loop's exits would each verify the caller's path
 * walk again.
 */
__noinline int lookup_dir(__u32 slot)
{
	struct scratch *s = slot_scratch(slot);
	if (!s)
		return -1;
	struct task_struct *task = (void *)bpf_get_current_task();
	/* read into map memory, not the stack (this frame is on the chain
	 * whose stacks 6.1 adds up to 512 bytes) */
	struct path *root =
		(void *)BPF_CORE_READ(task, fs) + bpf_core_field_offset(struct fs_struct, root);
	s->lk_root_dentry = 0;
	s->lk_root_mnt = 0;
	bpf_core_read(&s->lk_root_dentry, sizeof(s->lk_root_dentry), &root->dentry);
	bpf_core_read(&s->lk_root_mnt, sizeof(s->lk_root_mnt), &root->mnt);
	s->lk_root_mnt -= bpf_core_field_offset(struct mount, mnt);
	s->lk_cur = 0;
	s->lk_links = 0;
	s->lk_budget = LOOKUP_BUDGET;
	/* lookup_step, scan_children, lookup_enter and follow_mounts are
	 * called from here, one level deep each: 6.1 adds the stacks of a call
	 * chain up to 512 bytes, and this one starts deep (sys_exit,
	 * name_report). One latch, at the bottom: the kernel's CFG check
	 * (before 6.x) refuses a loop entered again by falling through into
	 * its header, the layout clang gave a loop with a "continue" here. */
	__u32 i = 0;
	int r;
	do {
		r = lookup_step(slot);
		if (r == LK_SCAN) {
			__u32 cur = s->lk_cur, cl = s->lk_end - s->lk_cur;
			int f = 0;
			for (int j = 0; j < LOOKUP_CHUNKS; j++) {
				f = scan_children(slot, cur, cl);
				if (f != 2)
					break;
			}
			/* not cached, or past LOOKUP_CHILDREN: fails */
			r = f == 1 ? lookup_enter(slot) : LK_FAIL;
		}
		if (r == LK_ENTER)
			r = follow_mounts(slot) ? LK_NEXT : LK_FAIL;
		i++;
	} while (r == LK_NEXT && i < LOOKUP_COMPONENTS);
	if (r == LK_LAST)
		return s->lk_cur;
	return -1;
}

/*
 * child_mode: the i_mode of the child of directory s->lk_dentry named by the
 * cl bytes of s->name at cur (a hashed, positive dentry), 0 when it is not
 * among the first LOOKUP_CHILDREN cached children. A new name's dentry was
 * just added (d_alloc, or a rename's d_move, put it first in the list), so
 * this stops at once unless children were added since.
 */
__noinline int child_mode(__u32 slot, __u32 cur, __u32 cl)
{
	struct scratch *s = slot_scratch(slot);
	if (!s)
		return 0;
	children_of(s, (struct dentry *)s->lk_dentry);
	s->lk_budget = LOOKUP_CHILDREN;
	int r = 0;
	for (int i = 0; i < LOOKUP_CHUNKS; i++) {
		r = scan_children(slot, cur, cl);
		if (r != 2)
			break;
	}
	if (r != 1)
		return 0;
	struct dentry *d = (void *)s->lk_found;
	return BPF_CORE_READ(d, d_inode, i_mode);
}

#endif /* KERNELEVENTS_LOOKUP_H */
