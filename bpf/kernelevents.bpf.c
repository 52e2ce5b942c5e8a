//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * kernelevents: one sample per file created in the kernel.
 *
 * Hooks (the Go loader picks one set at start, see internal/probe):
 *   kretprobe/do_filp_open   kprobes (any kernel with BTF, 5.8+ for the ring buffer),
 *                            with kprobe/security_path_{mknod,link} and
 *                            kretprobe/vfs_{create,link} for mknod and O_TMPFILE links
 *   fexit/do_filp_open       BPF trampolines (5.8+ with BTF), with
 *                            fentry/security_path_{mknod,link} and fexit/vfs_{create,link}
 *   tp_btf/sys_exit          every syscall's exit, native and 32-bit (5.5+ with
 *                            BTF, no tracefs): open, openat, openat2, creat,
 *                            mknod, mknodat, link, linkat
 *   tracepoint/io_uring/io_uring_{complete,submit_req,cqe_overflow}, beside
 *                            sys_exit, for IORING_OP_OPENAT{,2} (io_uring 5.6+;
 *                            submit_req was submit_sqe before 6.3)
 *
 * "Created" means the open made a new name: the returned struct file has
 * FMODE_CREATED (fs/namei.c, open_last_lookups/lookup_open sets it only when
 * this call created the inode). mknod/mknodat of a regular file count when
 * they return 0, and an O_TMPFILE file counts when linkat gives it its first
 * name. The path is resolved in the kernel from the file's dentry
 * chain, crossing mounts up to the task's root as d_path() does.
 *
 * The sample layout is in event.h. Every sample the ring buffer cannot take
 * is counted in counters[COUNTER_LOST].
 */
#include "vmlinux.h"
#include "arch.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_tracing.h"
#include "bpf/bpf_core_read.h"
#include "event.h"

char __license[] SEC("license") = "Dual MIT/GPL";

/* include/linux/fs.h; a macro, so not in BTF. Stable since 4.19. */
#define FMODE_CREATED 0x100000
/* include/linux/sched.h: io-wq workers and the SQPOLL thread. */
#define PF_IO_WORKER 0x00000010
#define S_IFMT 00170000
#define S_IFREG 0100000
#define AT_FDCWD -100
/* include/linux/err.h: IS_ERR_VALUE */
#define MAX_ERRNO 4095
/* include/uapi/linux/io_uring.h */
#define IORING_OP_OPENAT 18
#define IORING_OP_OPENAT2 28
/* io_uring/io_uring.h: REQ_F_CQE_SKIP_BIT mirrors IOSQE_CQE_SKIP_SUCCESS_BIT (6). */
#define REQ_F_CQE_SKIP (1U << 6)

/*
 * The path is built backwards into a per-CPU scratch buffer, leaf last, the
 * way d_path() does. PATH_BUF bounds the whole path, MAX_DEPTH the number of
 * components walked (the verifier needs both bounded). Names are at most
 * NAME_MAX (255) bytes.
 */
#define PATH_BUF 1024
#define NAME_MASK 255
#define MAX_DEPTH 48
/*
 * A path cut by walk() (deeper than MAX_DEPTH or longer than PATH_BUF) is
 * walked on to the root by root_side(), up to DEEP_MAX more components, keeping
 * the ROOT_RING root-most ones; those are then written as the path. Deeper
 * than DEEP_MAX the sample keeps the leaf side with EVENT_F_ROOTLESS.
 */
#define DEEP_MAX 64
#define ROOT_RING 32
#define PREFIX_LEN 128
/* The dentry window of read_dentry(): see there. */
#define DENTRY_LEAD 16
#define DENTRY_WINDOW 96
#define NAME_COPY 40

/* Set by the loader before load (spec.Variables). */
/*
 * The collector's tgid as its own pid namespace numbers it, and that
 * namespace (st_dev as the kernel's dev_t, st_ino of /proc/self/ns/pid):
 * bpf_get_ns_current_pid_tgid numbers the current task in the same
 * namespace, so the comparison holds in a container without host PID.
 */
const volatile __u32 self_tgid = 0;
const volatile __u64 self_pidns_dev = 0;
const volatile __u64 self_pidns_ino = 0;
const volatile __u64 wakeup_bytes = 0;
const volatile bool filter_uids = false;
const volatile bool filter_comms = false;
const volatile bool filter_cgroups = false;
const volatile bool filter_prefixes = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by the loader */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} uid_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[EVENT_COMM_LEN]);
	__type(value, __u8);
} comm_exclude SEC(".maps");

/* cgroup v2 ids (bpf_get_current_cgroup_id) whose tasks are excluded: a
 * task cannot leave its cgroup for one it has no write access to, unlike its
 * comm, which it sets at will. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u8);
} cgroup_exclude SEC(".maps");

struct prefix_key {
	__u32 prefixlen; /* in bits, as BPF_MAP_TYPE_LPM_TRIE wants */
	__u8 data[PREFIX_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__type(key, struct prefix_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} path_prefixes SEC(".maps");

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
 * Tracepoint hook: O_TMPFILE files that have no name yet, by struct inode
 * address, from the open that made them to the link that names them. ino
 * tells a live entry from one whose inode was freed and reused.
 */
struct tmpfile_info {
	__u64 mnt;
	__u64 ino;
	__u32 tgid; /* the process that opened it */
	__u32 _pad;
};

#define TMPFILES_MAX 1024

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TMPFILES_MAX);
	__type(key, __u64);
	__type(value, struct tmpfile_info);
} tmpfiles SEC(".maps");

struct scratch {
	__u64 busy; /* claimed by a program: see get_scratch() */
	__u32 off;  /* where the path built in buf starts; see walk() */
	__u32 n;   /* components in ring_*; see root_side() */
	__u32 k;   /* the next of them to write */
	__u32 _pad;
	__u64 stop_dentry; /* where walk() stopped when it cut the path */
	__u64 stop_mnt;
	__u64 ring_dentry[ROOT_RING];
	__u64 ring_name[ROOT_RING];
	__u32 ring_len[ROOT_RING];
	char buf[PATH_BUF + NAME_MASK + 1];
	char dwin[2 * DENTRY_WINDOW]; /* a dentry window (read_dentry), and room for masked copies */
	struct prefix_key key;
	char name[EVENT_PATH_LEN];
};

/*
 * SCRATCH_SLOTS scratch buffers per CPU, each claimed by one program run at a
 * time (get_scratch). One is not enough where a program can be preempted:
 * fentry/fexit programs run under migrate_disable(), not preempt_disable(),
 * on PREEMPT_RT and with preempt=full (and PREEMPT_RT 6.12+ runs tracepoint
 * programs so too), so another task on the same CPU can run another of these
 * programs (or, without the kernel's per-program recursion guard, the same
 * one) in the middle of a path walk. With one shared buffer its walk wrote
 * into the first one's: samples with spliced paths, and with an offset reset
 * under it, paths that no longer matched the prefix filter (lost unseen).
 * A hook set has three programs that build paths (the open, the mknod and
 * the link hooks; sys_exit and the two io_uring completions), each kept from
 * re-entering on a CPU by the kernel for trampoline programs; the fourth slot
 * is for a program without that guard. When all are busy the sample is
 * counted as scratch_busy (COUNTER_SCRATCH_BUSY), never lost unseen.
 */
#define SCRATCH_SLOTS 4

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* Makes bpf2go emit the Go type (-type event). */
struct event *unused_event __attribute__((unused));

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	/* Atomic: a preempted read-modify-write (see scratch_map) would lose
	 * the increments of the programs that ran in between. */
	if (v)
		__sync_fetch_and_add(v, 1);
}

/*
 * Cheap per-task filters, before any path work: the collector itself,
 * effective uids not asked for, excluded comms and cgroups.
 */
static __always_inline bool task_wanted(__u64 pid_tgid, __u64 uid_gid, char *comm)
{
	if (self_tgid) {
		/* Fails (-EINVAL, -ENOENT) for every task outside the collector's
		 * pid namespace: those are not the collector. */
		struct bpf_pidns_info ns = {};
		if (!bpf_get_ns_current_pid_tgid(self_pidns_dev, self_pidns_ino, &ns, sizeof(ns)) &&
		    ns.tgid == self_tgid)
			return false;
	}
	if (filter_uids) {
		/* The effective uid: whose authority the file is created with. */
		struct task_struct *task = (void *)bpf_get_current_task();
		__u32 euid = BPF_CORE_READ(task, cred, euid.val);
		if (!bpf_map_lookup_elem(&uid_filter, &euid))
			return false;
	}
	if (filter_comms && bpf_map_lookup_elem(&comm_exclude, comm))
		return false;
	if (filter_cgroups) {
		__u64 cg = bpf_get_current_cgroup_id();
		if (bpf_map_lookup_elem(&cgroup_exclude, &cg))
			return false;
	}
	return true;
}

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
	    bpf_core_field_offset(struct qstr, len) == 4 && bpf_core_field_offset(struct qstr, name) == 8) {
		if (parent >= DENTRY_LEAD && ioff >= parent - DENTRY_LEAD + NAME_COPY && isize > 0 && isize <= NAME_COPY + 1 &&
		    ioff + isize <= parent - DENTRY_LEAD + DENTRY_WINDOW) {
			bpf_probe_read_kernel(s->dwin, DENTRY_WINDOW, (void *)d + parent - DENTRY_LEAD);
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
	    bpf_core_field_offset(struct mount, mnt) + bpf_core_field_offset(struct vfsmount, mnt_root) == parent + 16) {
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
	if (bpf_core_field_offset(struct path, dentry) == 8 && bpf_core_field_offset(struct path, mnt) == 0) {
		bpf_probe_read_kernel(p, 16, addr);
		return;
	}
	struct path *src = addr;
	p->mnt = BPF_CORE_READ(src, mnt);
	p->dentry = BPF_CORE_READ(src, dentry);
}

/*
 * walk writes "/name" for each component from dentry up to the task's root
 * (or the global root), backwards, ending at s->off. It crosses mount points
 * through struct mount as prepend_path() in fs/d_path.c does. It returns true
 * when the path was cut (too deep or too long).
 *
 * The write offset lives in the map value, not in a register: the verifier
 * then sees an unknown (masked) scalar at each iteration and can prune the
 * loop's states instead of exploring every branch combination (with the
 * offset in a register, the 1M-instruction limit was hit at 48 levels).
 */
static __always_inline bool walk(struct scratch *s, struct task_struct *task, struct dentry *dentry,
				 struct vfsmount *vfsmnt)
{
	struct path root = {};
	read_path(&root, (void *)BPF_CORE_READ(task, fs) + bpf_core_field_offset(struct fs_struct, root));
	struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	struct mount_head m = {};
	read_mount(mnt, &m);
	struct dentry_head d = {};

	for (int i = 0; i < MAX_DEPTH; i++) {
		if (dentry == root.dentry && vfsmnt == root.mnt)
			return false;
		__u32 win = read_dentry(s, dentry, &d);
		if (dentry == m.root || dentry == d.parent) {
			if (m.parent == mnt)
				return false; /* the global root */
			dentry = m.mountpoint;
			mnt = m.parent;
			vfsmnt = (void *)mnt + bpf_core_field_offset(struct mount, mnt);
			read_mount(mnt, &m);
			continue;
		}
		__u32 len = d.len;
		__u32 off = *(volatile __u32 *)&s->off;
		if (len > NAME_MASK || len + 1 > off || off > PATH_BUF) {
			s->stop_dentry = (__u64)dentry;
			s->stop_mnt = (__u64)vfsmnt;
			return true;
		}
		if (win && len < NAME_COPY && off >= NAME_COPY &&
		    (void *)d.name == (void *)dentry + win + bpf_core_field_offset(struct dentry, d_parent) - DENTRY_LEAD) {
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
			bpf_probe_read_kernel(&s->buf[off & (PATH_BUF - 1)], len & NAME_MASK, d.name);
		}
		off -= 1;
		s->buf[off & (PATH_BUF - 1)] = '/';
		s->off = off;
		dentry = d.parent;
	}
	s->stop_dentry = (__u64)dentry;
	s->stop_mnt = (__u64)vfsmnt;
	return true;
}

/* struct task_struct's start time: start_boottime since 5.5, real_start_time before. */
struct task_struct___v54 {
	__u64 real_start_time;
} __attribute__((preserve_access_index));

/*
 * fill_identity writes what names the creator beyond pid and uid: effective
 * ids (task->cred, the subjective credentials: an io-wq worker runs with the
 * submitter's), the executable mapped at this moment (mm->exe_file: an exec
 * after the creation does not change it) and the process's start time.
 */
static __always_inline void fill_identity(struct event *e, struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	if (bpf_core_field_offset(struct cred, egid) == bpf_core_field_offset(struct cred, euid) + 4) {
		__u32 ids[2] = {};
		bpf_probe_read_kernel(ids, sizeof(ids), (void *)cred + bpf_core_field_offset(struct cred, euid));
		e->euid = ids[0];
		e->egid = ids[1];
	} else {
		e->euid = BPF_CORE_READ(cred, euid.val);
		e->egid = BPF_CORE_READ(cred, egid.val);
	}
	struct inode *exe = BPF_CORE_READ(task, mm, exe_file, f_inode);
	e->exe_ino = 0;
	e->exe_dev = 0;
	if (exe) {
		/* i_sb and i_ino in one read where they are near (6.x: 40 and 64). */
		__u32 osb = bpf_core_field_offset(struct inode, i_sb);
		__u32 oino = bpf_core_field_offset(struct inode, i_ino);
		struct super_block *sb;
		if (oino > osb && oino + 8 - osb <= 32) {
			__u8 w[32] = {};
			bpf_probe_read_kernel(w, sizeof(w), (void *)exe + osb);
			sb = *(struct super_block **)&w[0];
			e->exe_ino = *(__u64 *)&w[(oino - osb) & 31];
		} else {
			sb = BPF_CORE_READ(exe, i_sb);
			e->exe_ino = BPF_CORE_READ(exe, i_ino);
		}
		if (sb)
			e->exe_dev = BPF_CORE_READ(sb, s_dev);
	}
	/* The group leader's start time; most creators are their leader. */
	struct task_struct *leader = e->tid == e->tgid ? task : BPF_CORE_READ(task, group_leader);
	if (bpf_core_field_exists(struct task_struct, start_boottime))
		e->start_ns = BPF_CORE_READ(leader, start_boottime);
	else
		e->start_ns = BPF_CORE_READ((struct task_struct___v54 *)leader, real_start_time);
}

/* What root_side() found. */
#define PATH_WHOLE 0    /* nothing was left above the cut: buf holds the whole path */
#define PATH_ROOT_SIDE 1 /* buf holds the root side, the leaf side was cut */
#define PATH_ROOTLESS 2 /* deeper than DEEP_MAX: buf keeps the leaf side */

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
static __noinline int root_side(struct scratch *s, struct task_struct *task)
{
	if (!s)
		return PATH_ROOTLESS;
	struct path root = {};
	read_path(&root, (void *)BPF_CORE_READ(task, fs) + bpf_core_field_offset(struct fs_struct, root));
	struct dentry *dentry = (void *)s->stop_dentry;
	struct vfsmount *vfsmnt = (void *)s->stop_mnt;
	struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	struct mount_head m = {};
	read_mount(mnt, &m);
	struct dentry_head d = {};
	bool found = false;
	s->n = 0;

	for (int i = 0; i < DEEP_MAX; i++) {
		if (dentry == root.dentry && vfsmnt == root.mnt) {
			found = true;
			break;
		}
		/* Parent and name length only, in one read where they are
		 * neighbours: the names are read later, for the kept ones. */
		if (bpf_core_field_offset(struct dentry, d_name) == bpf_core_field_offset(struct dentry, d_parent) + 8 &&
		    bpf_core_field_offset(struct qstr, len) == 4 && bpf_core_field_offset(struct qstr, name) == 8) {
			bpf_probe_read_kernel(&d, sizeof(d), (void *)dentry + bpf_core_field_offset(struct dentry, d_parent));
		} else {
			d.parent = BPF_CORE_READ(dentry, d_parent);
			d.len = BPF_CORE_READ(dentry, d_name.len);
			d.name = BPF_CORE_READ(dentry, d_name.name);
		}
		if (dentry == m.root || dentry == d.parent) {
			if (m.parent == mnt) {
				found = true;
				break;
			}
			dentry = m.mountpoint;
			mnt = m.parent;
			vfsmnt = (void *)mnt + bpf_core_field_offset(struct mount, mnt);
			read_mount(mnt, &m);
			continue;
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
			bpf_probe_read_kernel(s->name, EVENT_PATH_LEN, &s->buf[off & (PATH_BUF - 1)]);
			bpf_probe_read_kernel(&s->buf[(PATH_BUF - head) & (PATH_BUF - 1)], head, s->name);
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
		bpf_probe_read_kernel(&s->buf[o & (PATH_BUF - 1)], len & NAME_MASK, (void *)s->ring_name[k & (ROOT_RING - 1)]);
		o -= 1;
		s->buf[o & (PATH_BUF - 1)] = '/';
		s->off = o;
	}
	return whole ? PATH_WHOLE : PATH_ROOT_SIDE;
}

/*
 * resolve builds the path of dentry into s->buf (see walk) and returns the
 * EVENT_F_* flags it earned: 0 for a whole path.
 */
static __always_inline __u8 resolve(struct scratch *s, struct task_struct *task, struct dentry *dentry,
				    struct vfsmount *vfsmnt)
{
	if (!walk(s, task, dentry, vfsmnt))
		return 0;
	switch (root_side(s, task)) {
	case PATH_WHOLE:
		return 0;
	case PATH_ROOT_SIDE:
		return EVENT_F_TRUNCATED;
	}
	return EVENT_F_TRUNCATED | EVENT_F_ROOTLESS;
}

static __always_inline __u64 wakeup_flags(void)
{
	/* 0: per-event wakeup (the kernel wakes the reader when it has caught up). */
	if (!wakeup_bytes)
		return 0;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/*
 * report applies the path-prefix filter to the path in s->buf[s->off:PATH_BUF]
 * and submits the sample. Filtering happens before the reservation so
 * filtered files cost no ring-buffer space.
 */
static __always_inline void report(struct scratch *s, struct task_struct *task, __u64 pid_tgid, __u64 uid_gid,
				   char *comm, __u8 pflags, __u8 hook, __u8 flags)
{
	bool truncated = pflags & EVENT_F_TRUNCATED;
	__u32 off = s->off;
	if (off >= PATH_BUF) {
		off = PATH_BUF - 1;
		s->buf[PATH_BUF - 1] = '/';
	}
	__u32 len = PATH_BUF - off;
	if (len > EVENT_PATH_LEN - 1) {
		len = EVENT_PATH_LEN - 1; /* keep the root side: directories matter most */
		truncated = true;
	}
	/* A name not resolved in the kernel is filtered in user space; a
	 * rootless path names no top directory: it cannot be matched, so it is
	 * never filtered out (user space labels it unresolved). */
	if (filter_prefixes && !(flags & EVENT_F_UNRESOLVED) && !(pflags & EVENT_F_ROOTLESS)) {
		bpf_probe_read_kernel(s->key.data, PREFIX_LEN, &s->buf[off & (PATH_BUF - 1)]);
		s->key.prefixlen = (len < PREFIX_LEN ? len : PREFIX_LEN) * 8;
		if (!bpf_map_lookup_elem(&path_prefixes, &s->key))
			return;
	}

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_LOST);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->path_len = len;
	e->hook = hook;
	e->flags = flags | pflags | (truncated ? EVENT_F_TRUNCATED : 0);
	__builtin_memcpy(e->comm, comm, EVENT_COMM_LEN);
	bpf_probe_read_kernel(e->path, EVENT_PATH_LEN, &s->buf[off & (PATH_BUF - 1)]);
	fill_identity(e, task);
	bpf_ringbuf_submit(e, wakeup_flags());
}

/*
 * get_scratch claims a free scratch slot of this CPU (see scratch_map) with a
 * compare-and-swap of its busy word: atomic against a program that preempts
 * this one between the test and the set (the slots are per CPU and these
 * programs never migrate, so only programs on this CPU compete). None free:
 * the sample is counted as COUNTER_SCRATCH_BUSY. Every claimed slot is
 * released by put_scratch on every path.
 */
static __always_inline struct scratch *get_scratch(void)
{
	for (__u32 i = 0; i < SCRATCH_SLOTS; i++) {
		__u32 key = i;
		struct scratch *s = bpf_map_lookup_elem(&scratch_map, &key);
		if (s && __sync_val_compare_and_swap(&s->busy, 0, 1) == 0)
			return s;
	}
	count(COUNTER_SCRATCH_BUSY);
	return NULL;
}

static __always_inline void put_scratch(struct scratch *s)
{
	/* Every use of the slot comes before the release: a compiler barrier
	 * (the CPU keeps its own program order for a program that preempts it
	 * on the same CPU). */
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&s->busy = 0;
}

/*
 * current_comm fills comm with the task's name; for io_uring workers
 * ("iou-wrk-N", "iou-sqp-N") it takes the group leader's, and sets
 * EVENT_F_IO_URING, so the sample names the submitting program.
 */
static __always_inline __u8 current_comm(struct task_struct *task, char *comm)
{
	if (BPF_CORE_READ(task, flags) & PF_IO_WORKER) {
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);
		bpf_probe_read_kernel_str(comm, EVENT_COMM_LEN, (void *)leader + bpf_core_field_offset(struct task_struct, comm));
		return EVENT_F_IO_URING;
	}
	bpf_get_current_comm(comm, EVENT_COMM_LEN);
	return 0;
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
	if (om + 4 - lo <= FILE_WINDOW && op + 16 - lo <= FILE_WINDOW && bpf_core_field_offset(struct path, dentry) == 8) {
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
 * on_file reports f when this open created it. maybe_io_worker: the hook
 * may run in an io_uring worker thread (not the syscall tracepoints).
 */
static __always_inline int on_file(struct file *f, __u8 hook, __u8 flags, bool maybe_io_worker)
{
	if (!f)
		return 0;
	__u32 mode = 0;
	struct path fp = {};
	read_file(f, &mode, &fp);
	if (!(mode & FMODE_CREATED))
		return 0;

	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	char comm[EVENT_COMM_LEN] = {};
	if (maybe_io_worker)
		flags |= current_comm(task, comm);
	else
		bpf_get_current_comm(comm, EVENT_COMM_LEN);
	if (!task_wanted(pid_tgid, uid_gid, comm))
		return 0;

	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	s->off = PATH_BUF;
	__u8 pflags = resolve(s, task, fp.dentry, fp.mnt);
	report(s, task, pid_tgid, uid_gid, comm, pflags, hook, flags);
	put_scratch(s);
	return 0;
}

SEC("kretprobe/do_filp_open")
int BPF_KRETPROBE(kretprobe_do_filp_open, struct file *f)
{
	if ((unsigned long)f >= (unsigned long)-MAX_ERRNO)
		return 0;
	return on_file(f, HOOK_KRETPROBE, 0, true);
}

/* fs/namei.c: struct file *do_filp_open(int dfd, struct filename *pathname, const struct open_flags *op) */
SEC("fexit/do_filp_open")
int BPF_PROG(fexit_do_filp_open, int dfd, struct filename *pathname, const struct open_flags *op, struct file *f)
{
	if ((unsigned long)f >= (unsigned long)-MAX_ERRNO)
		return 0;
	return on_file(f, HOOK_FEXIT, 0, true);
}

/* struct fdtable's max_fds, then fd. */
struct fdtable_head {
	unsigned int max_fds;
	unsigned int _pad;
	struct file **fd;
};

/* fd_file returns current->files->fdt->fd[fd], as fs/file.c:files_lookup_fd_raw. */
static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct fdtable_head h = {};
	if (bpf_core_field_offset(struct fdtable, max_fds) == 0 && bpf_core_field_offset(struct fdtable, fd) == 8) {
		bpf_probe_read_kernel(&h, sizeof(h), fdt);
	} else {
		h.max_fds = BPF_CORE_READ(fdt, max_fds);
		h.fd = BPF_CORE_READ(fdt, fd);
	}
	if (fd < 0 || fd >= h.max_fds)
		return NULL;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &h.fd[fd]);
	return f;
}

/* include/uapi/asm-generic/fcntl.h; the same bits on x86 and arm (32 and 64).
 * Defined before the io_uring programs, which use O_CREAT too. */
#define O_WRONLY 01
#define O_CREAT 0100
#define O_EXCL 0200
#define O_TRUNC 01000
#define __O_TMPFILE 020000000
/* openat2's flags (in user memory, not trusted): no open that succeeds has
 * them all, which holds O_CREAT with O_TMPFILE (EINVAL in build_open_flags). */
#define OPEN_FLAGS_UNKNOWN 0xffffffffU

/*
 * read_file_all reads f_mode, f_flags, f_inode and f_path in one call where
 * they lie within FILE_WINDOW bytes (6.1: 16..72, 6.18: 4..80).
 */
static __always_inline void read_file_all(struct file *f, __u32 *mode, __u32 *fflags, struct inode **inode,
					  struct path *p)
{
	__u32 om = bpf_core_field_offset(struct file, f_mode);
	__u32 ofl = bpf_core_field_offset(struct file, f_flags);
	__u32 oi = bpf_core_field_offset(struct file, f_inode);
	__u32 op = bpf_core_field_offset(struct file, f_path);
	__u32 lo = om < op ? om : op;
	lo = lo < ofl ? lo : ofl;
	lo = lo < oi ? lo : oi;
	if (om + 4 - lo <= FILE_WINDOW && ofl + 4 - lo <= FILE_WINDOW && oi + 8 - lo <= FILE_WINDOW &&
	    op + 16 - lo <= FILE_WINDOW && bpf_core_field_offset(struct path, dentry) == 8 &&
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

/* report_dentry reports the file at dentry on mnt, made by the current task. */
static __always_inline void report_dentry(struct dentry *dentry, struct vfsmount *mnt, __u8 hook, __u8 flags)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	char comm[EVENT_COMM_LEN] = {};
	flags |= current_comm(task, comm);
	if (!task_wanted(pid_tgid, uid_gid, comm))
		return;
	struct scratch *s = get_scratch();
	if (!s)
		return;
	s->off = PATH_BUF;
	__u8 pflags = resolve(s, task, dentry, mnt);
	report(s, task, pid_tgid, uid_gid, comm, pflags, hook, flags);
	put_scratch(s);
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
 * follows) until the thread's next mknod or link; a full table is counted
 * (COUNTER_INFLIGHT_FULL).
 *
 * A link is a creation only when the inode had no name: i_nlink == 0, which
 * vfs_link allows only for an O_TMPFILE file opened without O_EXCL
 * (I_LINKABLE). Hard links of existing files are not creations.
 */
static __always_inline void pend(void *map, struct dentry *dentry, struct vfsmount *mnt, struct inode *inode)
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

static __always_inline int on_path_link(struct dentry *old, const struct path *new_dir, struct dentry *new)
{
	struct inode *inode = BPF_CORE_READ(old, d_inode);
	if (!inode || BPF_CORE_READ(inode, __i_nlink) != 0)
		return 0;
	pend(&link_pending, new, BPF_CORE_READ(new_dir, mnt), inode);
	return 0;
}

/* dentry: the vfs_* call's dentry (fexit), or NULL when unknown (kretprobe). */
static __always_inline int on_vfs_done(void *map, struct dentry *dentry, long ret, __u8 hook, __u8 flags)
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

SEC("kprobe/security_path_mknod")
int BPF_KPROBE(kprobe_security_path_mknod, const struct path *dir, struct dentry *dentry, umode_t mode)
{
	return on_path_mknod(dir, dentry, mode);
}

SEC("kretprobe/vfs_create")
int BPF_KRETPROBE(kretprobe_vfs_create, int ret)
{
	return on_vfs_done(&mknod_pending, NULL, ret, HOOK_KRETPROBE, EVENT_F_MKNOD);
}

SEC("kprobe/security_path_link")
int BPF_KPROBE(kprobe_security_path_link, struct dentry *old, const struct path *new_dir, struct dentry *new)
{
	return on_path_link(old, new_dir, new);
}

SEC("kretprobe/vfs_link")
int BPF_KRETPROBE(kretprobe_vfs_link, int ret)
{
	return on_vfs_done(&link_pending, NULL, ret, HOOK_KRETPROBE, EVENT_F_TMPFILE_LINK);
}

/* security/security.c: int security_path_mknod(const struct path *dir, struct dentry *dentry, umode_t mode, unsigned int dev) */
SEC("fentry/security_path_mknod")
int BPF_PROG(fentry_security_path_mknod, const struct path *dir, struct dentry *dentry, umode_t mode)
{
	return on_path_mknod(dir, dentry, mode);
}

/* fs/namei.c: int vfs_create(idmap (5.12-6.2: mnt_userns), struct inode *dir, struct dentry *dentry, umode_t mode, bool want_excl) */
SEC("fexit/vfs_create")
int BPF_PROG(fexit_vfs_create, void *idmap, struct inode *dir, struct dentry *dentry, umode_t mode, bool want_excl,
	     int ret)
{
	return on_vfs_done(&mknod_pending, dentry, ret, HOOK_FEXIT, EVENT_F_MKNOD);
}

/* security/security.c: int security_path_link(struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry) */
SEC("fentry/security_path_link")
int BPF_PROG(fentry_security_path_link, struct dentry *old, const struct path *new_dir, struct dentry *new)
{
	return on_path_link(old, new_dir, new);
}

/* fs/namei.c: int vfs_link(struct dentry *old_dentry, idmap, struct inode *dir, struct dentry *new_dentry, struct inode **delegated_inode) */
SEC("fexit/vfs_link")
int BPF_PROG(fexit_vfs_link, struct dentry *old, void *idmap, struct inode *dir, struct dentry *new, void *delegated,
	     int ret)
{
	return on_vfs_done(&link_pending, new, ret, HOOK_FEXIT, EVENT_F_TMPFILE_LINK);
}

/*
 * The tracepoint hook: one tp_btf program on the raw sys_exit tracepoint.
 *
 * The per-syscall tracepoints (syscalls/sys_exit_openat, ...) skip every
 * 32-bit syscall (ia32 on x86_64, AArch32 on arm64: kernel/trace/
 * trace_syscalls.c drops them through arch_trace_is_compat_syscall), so a
 * creat(2) through int $0x80 passed them unseen. sys_exit sees every
 * syscall, native and compat, and a tp_btf program attaches without tracefs.
 * It reads the syscall number and arguments from the saved registers: the
 * kernel has used them and does not change them (only ax/x0 now holds the
 * return value; arm64 keeps the first argument in orig_x0).
 *
 * Cost: it runs on every syscall of the machine. Enabling any syscall
 * tracepoint already sends every syscall through the slow path, and the
 * per-syscall tracepoints are themselves a handler on sys_exit (perf_syscall_exit
 * and a bitmap test), so the choice is between that handler and this
 * program. An unrelated syscall costs the program's call, one load and a
 * switch here (the 32-bit numbers add one load of thread_info). Measured on
 * the 6.18 VM (thread CPU time per call, medians of 5 interleaved rounds,
 * two runs): getpid 125-136 ns without any probe, +6-8 ns with the
 * per-syscall tracepoints this replaced, +10-13 ns with this tp_btf
 * program, +15-17 ns with the raw_tp fallback. Every open is cheaper: a
 * read-only open+close +15 ns here against +208 ns before (which read the fd
 * table and the file of every open), an O_CREAT re-open +79 ns against +212.
 * The 4-5 ns per unrelated syscall buys 32-bit syscalls and no tracefs.
 *
 * Opens without O_CREAT or O_TMPFILE (the flags are in the registers) stop
 * in the syscall-number switch, before the compat check's helper call and
 * any fd-table or file read (x86 open/openat, arm64 openat: 18 instructions
 * from the program's start); an O_CREAT open of an existing file stops at
 * f_mode (one 4-byte read), before any path work.
 */
#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h */
#define TIF_32BIT 22     /* arch/arm64/include/asm/thread_info.h */
#define X32_SYSCALL_BIT 0x40000000

enum {
	SC_OPEN = 1,
	SC_OPENAT,
	SC_CREAT,
	SC_OPENAT2,
	SC_MKNOD,
	SC_MKNODAT,
	SC_LINK,
};

struct syscall_args {
	int kind;
	unsigned long a[3];
};

#if defined(__TARGET_ARCH_arm64)
struct pt_regs___kearm64 {
	__u64 regs[31];
	__u64 orig_x0;
	__s32 syscallno;
} __attribute__((preserve_access_index));
#endif

/*
 * REG reads a field of a BTF-typed pointer: a plain load where the program
 * is tp_btf (typed is a constant: the other branch is compiled out), a
 * probe read in the raw_tp fallback.
 */
#define REG(typed, p, field) ((typed) ? (p)->field : BPF_CORE_READ(p, field))

/* syscall_of classifies the syscall that is returning; false: not one of ours. */
static __always_inline bool syscall_of(struct pt_regs *regs, struct syscall_args *sc, bool typed)
{
	struct task_struct *task;
#if defined(__TARGET_ARCH_x86)
	/* arch/x86/entry/syscalls/syscall_{64,32}.tbl; x32 shares the 64-bit numbers */
	long nr = REG(typed, regs, orig_ax) & ~(long)X32_SYSCALL_BIT;
	int kind = 0;
	switch (nr) {
	/*
	 * open and openat: the flags decide first. Without O_CREAT or O_TMPFILE
	 * a native open creates nothing, and ia32's 2 and 257 (fork,
	 * remap_file_pages) are none of ours, so most opens return here without
	 * the compat check's helper call.
	 */
	case 2:
		if (!(REG(typed, regs, si) & (O_CREAT | __O_TMPFILE)))
			return false;
		kind = SC_OPEN;
		break;
	case 257:
		if (!(REG(typed, regs, dx) & (O_CREAT | __O_TMPFILE)))
			return false;
		kind = SC_OPENAT;
		break;
	case 85: kind = SC_CREAT; break;
	case 86: kind = SC_LINK; break;
	case 133: kind = SC_MKNOD; break;
	case 259: kind = SC_MKNODAT; break;
	case 265: kind = SC_LINK; break; /* linkat */
	case 437: kind = SC_OPENAT2; break;
	case 5: case 8: case 9: case 14: case 295: case 297: case 303:
		break; /* only as ia32 syscalls */
	default:
		return false;
	}
	task = typed ? bpf_get_current_task_btf() : (void *)bpf_get_current_task();
	if (REG(typed, task, thread_info.status) & TS_COMPAT) {
		switch (nr) {
		case 5: kind = SC_OPEN; break;
		case 8: kind = SC_CREAT; break;
		case 9: kind = SC_LINK; break;
		case 14: kind = SC_MKNOD; break;
		case 295: kind = SC_OPENAT; break;
		case 297: kind = SC_MKNODAT; break;
		case 303: kind = SC_LINK; break;
		case 437: kind = SC_OPENAT2; break;
		default: return false;
		}
		sc->a[0] = (__u32)REG(typed, regs, bx);
		sc->a[1] = (__u32)REG(typed, regs, cx);
		sc->a[2] = (__u32)REG(typed, regs, dx);
	} else {
		if (!kind)
			return false;
		sc->a[0] = REG(typed, regs, di);
		sc->a[1] = REG(typed, regs, si);
		sc->a[2] = REG(typed, regs, dx);
	}
	sc->kind = kind;
	return true;
#elif defined(__TARGET_ARCH_arm64)
	/* include/uapi/asm-generic/unistd.h; AArch32: arch/arm/tools/syscall.tbl */
	struct pt_regs___kearm64 *r = (void *)regs;
	long nr = REG(typed, r, syscallno);
	int kind = 0;
	switch (nr) {
	case 56:
		/* openat without O_CREAT or O_TMPFILE: nothing (AArch32's 56 is none of ours) */
		if (!(REG(typed, r, regs[2]) & (O_CREAT | __O_TMPFILE)))
			return false;
		kind = SC_OPENAT;
		break;
	case 33: kind = SC_MKNODAT; break;
	case 37: kind = SC_LINK; break; /* linkat */
	case 437: kind = SC_OPENAT2; break;
	case 5: case 8: case 9: case 14: case 322: case 324: case 330:
		break; /* only as AArch32 syscalls */
	default:
		return false;
	}
	task = typed ? bpf_get_current_task_btf() : (void *)bpf_get_current_task();
	bool compat = REG(typed, task, thread_info.flags) & (1UL << TIF_32BIT);
	if (compat) {
		switch (nr) {
		case 5: kind = SC_OPEN; break;
		case 8: kind = SC_CREAT; break;
		case 9: kind = SC_LINK; break;
		case 14: kind = SC_MKNOD; break;
		case 322: kind = SC_OPENAT; break;
		case 324: kind = SC_MKNODAT; break;
		case 330: kind = SC_LINK; break;
		case 437: kind = SC_OPENAT2; break;
		default: return false;
		}
	} else if (!kind) {
		return false;
	}
	sc->a[0] = REG(typed, r, orig_x0);
	sc->a[1] = REG(typed, r, regs[1]);
	sc->a[2] = REG(typed, r, regs[2]);
	if (compat) {
		sc->a[0] = (__u32)sc->a[0];
		sc->a[1] = (__u32)sc->a[1];
		sc->a[2] = (__u32)sc->a[2];
	}
	sc->kind = kind;
	return true;
#else
#error "the tracepoint hook reads syscall registers for x86 and arm64 only"
#endif
}

/* fd_file_btf is fd_file with the task's pointers loaded directly (BTF). */
static __always_inline struct file *fd_file_btf(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	unsigned int max = fdt->max_fds;
	struct file **arr = fdt->fd;
	if (fd < 0 || fd >= max)
		return NULL;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]);
	return f;
}

/*
 * The O_TMPFILE registry of the tracepoint hook. An O_TMPFILE open is no
 * creation yet: its file is registered by inode; a successful link or
 * linkat scans the registry for the inode that now has a name and reports
 * its newest alias (inode->i_dentry is in newest-first order: d_instantiate
 * adds at the head), on the file's mount (linkat refuses to cross mounts,
 * EXDEV). Scanning finds the inode whatever name the caller used for it
 * (AT_EMPTY_PATH, /proc/self/fd/N, a symlink to it).
 */
struct tmpfile_scan {
	__u32 tgid;
	bool purge_only;
	__u64 inode, mnt;       /* linked, registered by this process */
	__u64 other, other_mnt; /* linked, registered by another process */
};

static long scan_tmpfile(struct bpf_map *map, __u64 *key, struct tmpfile_info *v, struct tmpfile_scan *c)
{
	struct inode *inode = (void *)*key;
	if (BPF_CORE_READ(inode, i_ino) != v->ino || BPF_CORE_READ(inode, i_count.counter) == 0) {
		bpf_map_delete_elem(map, key); /* freed (and maybe reused): the file was closed unnamed */
		return 0;
	}
	if (c->purge_only || BPF_CORE_READ(inode, __i_nlink) == 0)
		return 0;
	if (v->tgid == c->tgid) {
		c->inode = *key;
		c->mnt = v->mnt;
		return 1;
	}
	if (!c->other) {
		c->other = *key;
		c->other_mnt = v->mnt;
	}
	return 0;
}

static __always_inline void register_tmpfile(struct inode *inode, struct vfsmount *mnt)
{
	__u64 key = (__u64)inode;
	struct tmpfile_info v = {
		.mnt = (__u64)mnt,
		.ino = BPF_CORE_READ(inode, i_ino),
		.tgid = bpf_get_current_pid_tgid() >> 32,
	};
	if (!bpf_map_update_elem(&tmpfiles, &key, &v, BPF_ANY))
		return;
	/* Full: drop the entries of files closed without a name, then retry. */
	struct tmpfile_scan c = {.purge_only = true};
	bpf_for_each_map_elem(&tmpfiles, scan_tmpfile, &c, 0);
	if (bpf_map_update_elem(&tmpfiles, &key, &v, BPF_ANY))
		count(COUNTER_INFLIGHT_FULL);
}

/*
 * on_open_exit: fd was returned by an open with flags (from the registers;
 * OPEN_FLAGS_UNKNOWN for openat2, which keeps them in user memory that
 * another thread may rewrite: not trusted, the file decides).
 *
 * The fd race: between the syscall installing the file at fd and this
 * program, a sibling thread sharing the fd table can close(fd) or dup2()
 * another file onto it. An empty slot after an O_CREAT open, or an
 * O_CREAT|O_EXCL open (which created the file if it succeeded) whose slot now
 * holds a file without FMODE_CREATED, is counted as COUNTER_FD_RACE. What
 * remains: a file dup2()ed over the slot of a plain O_CREAT open (no O_EXCL)
 * looks like an open of an existing file (the creation is missed), and one
 * that itself carries FMODE_CREATED is reported again (see README).
 */
static __always_inline int on_open_exit(long fd, __u32 flags, bool typed)
{
	bool flags_known = flags != OPEN_FLAGS_UNKNOWN;
	if (flags_known && !(flags & (O_CREAT | __O_TMPFILE)))
		return 0;
	struct file *f = typed ? fd_file_btf(fd) : fd_file((void *)bpf_get_current_task(), fd);
	if (!f) {
		if (!flags_known || (flags & O_CREAT))
			count(COUNTER_FD_RACE);
		return 0;
	}
	__u32 mode = 0, fflags = 0;
	struct inode *inode = NULL;
	struct path fp = {};
	/* An O_CREAT open without O_TMPFILE: f_mode alone (4 bytes, not the
	 * file's window) says whether it created; most such opens find the file. */
	if (flags_known && !(flags & __O_TMPFILE)) {
		mode = BPF_CORE_READ(f, f_mode);
		if (!(mode & FMODE_CREATED)) {
			if (flags & O_EXCL)
				count(COUNTER_FD_RACE);
			return 0;
		}
	}
	read_file_all(f, &mode, &fflags, &inode, &fp);
	if (mode & FMODE_CREATED) {
		report_dentry(fp.dentry, fp.mnt, HOOK_TRACEPOINT, 0);
		return 0;
	}
	if (flags_known && (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
		count(COUNTER_FD_RACE);
		return 0;
	}
	/* f_flags keeps __O_TMPFILE (do_dentry_open clears only O_CREAT, O_EXCL,
	 * O_NOCTTY, O_TRUNC); O_TMPFILE|O_EXCL files can never be linked. */
	if ((fflags & __O_TMPFILE) == __O_TMPFILE && !(flags_known && (flags & O_EXCL)) && inode)
		register_tmpfile(inode, fp.mnt);
	return 0;
}

static __always_inline int on_link_exit(void)
{
	struct tmpfile_scan c = {.tgid = bpf_get_current_pid_tgid() >> 32};
	bpf_for_each_map_elem(&tmpfiles, scan_tmpfile, &c, 0);
	if (!c.inode) {
		c.inode = c.other;
		c.mnt = c.other_mnt;
	}
	if (!c.inode)
		return 0;
	__u64 key = c.inode;
	bpf_map_delete_elem(&tmpfiles, &key);
	struct inode *inode = (void *)c.inode;
	void *first = BPF_CORE_READ(inode, i_dentry.first);
	if (!first)
		return 0;
	struct dentry *d = first - bpf_core_field_offset(struct dentry, d_u.d_alias);
	report_dentry(d, (void *)c.mnt, HOOK_TRACEPOINT, EVENT_F_TMPFILE_LINK);
	return 0;
}

/*
 * mknod at sys_exit: the created dentry is not reachable from the
 * registers. The directory is: the cwd or dfd's file, walked as any file's.
 * A name without '/' (past a leading one) is then the last component and
 * the path is the kernel's. A name with '/' went through a lookup BPF cannot
 * repeat (symlinks, ".", "..", "//"): the sample carries it as written,
 * flagged EVENT_F_UNRESOLVED, bypasses the in-kernel prefix filter, and user
 * space resolves and filters it. Limits (tracepoint hook only; kretprobe and
 * fexit take the dentry): the name is read from user memory after the
 * syscall, so a sibling thread that rewrites the buffer, chdir()s or
 * dup2()s over dfd in that window changes the name or directory reported.
 * A second read at sys_enter would need a program on every syscall's entry
 * too (twice the per-syscall cost) and would still miss a rewrite that is
 * undone between the kernel's copy and either read, so there is none.
 */
static __always_inline void mknod_report(struct scratch *s, struct task_struct *task, __u64 pid_tgid, __u64 uid_gid,
					 char *comm, int dfd, __u64 filename)
{
	__u8 flags = EVENT_F_MKNOD;
	bool truncated = false;
	long n = bpf_probe_read_user_str(s->name, EVENT_PATH_LEN, (const void *)filename);
	if (n <= 1) {
		/* unreadable now (unmapped by another thread): the directory alone */
		s->name[0] = 0;
		n = 1;
		flags |= EVENT_F_UNRESOLVED;
		truncated = true;
	} else if (n == EVENT_PATH_LEN) {
		char c = 0;
		bpf_probe_read_user(&c, 1, (const void *)filename + EVENT_PATH_LEN - 1);
		if (c) {
			flags |= EVENT_F_UNRESOLVED; /* the cut-off rest may hold a '/' */
			truncated = true;
		}
	}
	__u32 len = (n - 1) & NAME_MASK;
	for (__u32 i = 1; i < EVENT_PATH_LEN - 1; i++) {
		if (i >= len)
			break;
		if (s->name[i] == '/') {
			flags |= EVENT_F_UNRESOLVED;
			break;
		}
	}
	__u32 off = PATH_BUF - len;
	bpf_probe_read_kernel(&s->buf[off & (PATH_BUF - 1)], len, s->name);
	s->off = off;
	__u8 pflags = truncated ? EVENT_F_TRUNCATED : 0;
	if (s->name[0] != '/') {
		struct path at = {};
		if (dfd == AT_FDCWD) {
			read_path(&at, (void *)BPF_CORE_READ(task, fs) + bpf_core_field_offset(struct fs_struct, pwd));
		} else {
			struct file *dir = fd_file(task, dfd);
			if (!dir) {
				count(COUNTER_FD_RACE); /* dfd closed by another thread since */
				return;
			}
			read_path(&at, (void *)dir + bpf_core_field_offset(struct file, f_path));
		}
		off -= 1;
		s->buf[off & (PATH_BUF - 1)] = '/';
		s->off = off;
		pflags |= resolve(s, task, at.dentry, at.mnt);
	}
	report(s, task, pid_tgid, uid_gid, comm, pflags, HOOK_TRACEPOINT, flags);
}

static __always_inline int on_mknod_exit(int dfd, __u64 filename, __u32 mode)
{
	if ((mode & S_IFMT) != 0 && (mode & S_IFMT) != S_IFREG)
		return 0;
	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	char comm[EVENT_COMM_LEN] = {};
	bpf_get_current_comm(comm, sizeof(comm));
	if (!task_wanted(pid_tgid, uid_gid, comm))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	mknod_report(s, task, pid_tgid, uid_gid, comm, dfd, filename);
	put_scratch(s);
	return 0;
}

/*
 * Zero, read at run time: or-ed into a constant, it makes a value the
 * verifier does not know (see on_sys_exit).
 */
volatile __u32 unknown_zero = 0;

static __always_inline int on_sys_exit(struct pt_regs *regs, long ret, bool typed)
{
	if (ret < 0)
		return 0;
	struct syscall_args sc = {};
	if (!syscall_of(regs, &sc, typed))
		return 0;
	/*
	 * One call of on_open_exit for the four opens, with flags the verifier
	 * does not know in each (creat's and openat2's constants or-ed with
	 * unknown_zero): it then verifies the open's path walk once, where
	 * four calls with a constant each (creat's flags, openat2's "unknown")
	 * made it walk the whole open path once per syscall: 760k of the 1M
	 * instructions it allows on 6.1. The same for mknod's AT_FDCWD below.
	 */
	__u32 flags;
	switch (sc.kind) {
	case SC_OPEN:
		flags = sc.a[1];
		break;
	case SC_OPENAT:
		flags = sc.a[2];
		break;
	case SC_CREAT:
		flags = unknown_zero | O_CREAT | O_WRONLY | O_TRUNC;
		break;
	case SC_OPENAT2:
		flags = unknown_zero ^ OPEN_FLAGS_UNKNOWN;
		break;
	default:
		flags = 0;
	}
	switch (sc.kind) {
	case SC_OPEN:
	case SC_OPENAT:
	case SC_CREAT:
	case SC_OPENAT2:
		return on_open_exit(ret, flags, typed);
	case SC_MKNOD:
		/* the same for mknod's AT_FDCWD: one call for both */
		sc.a[2] = sc.a[1];
		sc.a[1] = sc.a[0];
		sc.a[0] = (__u32)(unknown_zero ^ (__u32)AT_FDCWD);
		/* fallthrough */
	case SC_MKNODAT:
		return ret == 0 ? on_mknod_exit((int)sc.a[0], sc.a[1], sc.a[2]) : 0;
	case SC_LINK:
		return ret == 0 ? on_link_exit() : 0;
	}
	return 0;
}

/* include/trace/events/syscalls.h: sys_exit(struct pt_regs *regs, long ret) */
SEC("tp_btf/sys_exit")
int BPF_PROG(tp_sys_exit, struct pt_regs *regs, long ret)
{
	return on_sys_exit(regs, ret, true);
}

/*
 * The same on the raw tracepoint, for kernels whose own BTF is missing (the
 * programs relocated against btf_path): every register is a probe read.
 */
SEC("raw_tp/sys_exit")
int BPF_PROG(raw_tp_sys_exit, struct pt_regs *regs, long ret)
{
	return on_sys_exit(regs, ret, false);
}

/*
 * io_uring opens never pass the syscall tracepoints. io_uring_complete
 * (include/trace/events/io_uring.h; fields ctx, req, res stable since 5.5)
 * sees their completion: req is a struct io_kiocb whose opcode says
 * OPENAT/OPENAT2 and whose command area holds a struct io_open
 * (io_uring/openclose.c). res is the new fd in the submitter's fd table,
 * shared with the io-wq and SQPOLL threads that may post the completion; with
 * a direct descriptor (file_slot set) the file is in the ring's fixed file
 * table instead. Only the tracepoint hook set attaches this program: the
 * do_filp_open hooks already see io_uring opens.
 */

/* io_uring/rsrc.h before 6.4 (6.1: file_table.files[i].file_ptr). */
struct io_fixed_file___v61 {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));

struct io_file_table___v61 {
	struct io_fixed_file___v61 *files;
} __attribute__((preserve_access_index));

struct io_ring_ctx___v61 {
	struct io_file_table___v61 file_table;
} __attribute__((preserve_access_index));

/* Low bits of file_ptr are flags (FFS_NOWAIT, FFS_ISREG, FFS_SCM). */
#define FFS_MASK (~7UL)
#define IORING_FILE_INDEX_ALLOC (~0U)

static __always_inline struct file *io_fixed_file(void *ring, __u32 idx)
{
	unsigned long ptr = 0;
	if (bpf_core_field_exists(((struct io_ring_ctx___v61 *)0)->file_table.files)) {
		struct io_ring_ctx___v61 *c = ring;
		struct io_fixed_file___v61 *files = BPF_CORE_READ(c, file_table.files);
		bpf_probe_read_kernel(&ptr, sizeof(ptr), &files[idx & 0xffff]);
	} else if (bpf_core_field_exists(((struct io_ring_ctx *)0)->file_table.data.nodes)) {
		struct io_ring_ctx *c = ring;
		if (idx >= BPF_CORE_READ(c, file_table.data.nr))
			return NULL;
		struct io_rsrc_node **nodes = BPF_CORE_READ(c, file_table.data.nodes);
		struct io_rsrc_node *node = NULL;
		bpf_probe_read_kernel(&node, sizeof(node), &nodes[idx & 0xffff]);
		if (!node)
			return NULL;
		ptr = BPF_CORE_READ(node, file_ptr);
	}
	return (struct file *)(ptr & FFS_MASK);
}

/*
 * io_uring opens in flight, by request (struct io_kiocb pointer): each
 * OPENAT/OPENAT2 with O_CREAT is recorded at io_uring_submit_req and removed
 * at io_uring_complete. On 6.18 a completion that finds the CQ ring full
 * fires io_uring_cqe_overflow (ring, user_data, result: no request) instead
 * of io_uring_complete; the request is found here by its ring and user_data.
 * A request reused for another operation drops its stale entry (a CQE the
 * kernel never posted, for example a linked request cancelled in silence).
 */
struct uring_open {
	__u64 ctx;
	__u64 user_data;
	__u32 slot; /* io_open.file_slot: a direct descriptor when non-zero */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct uring_open);
} uring_opens SEC(".maps");

/* Entries in uring_opens, so that other operations skip the map when none. */
__u64 uring_open_n = 0;

static __always_inline void uring_forget(__u64 req)
{
	if (uring_open_n && !bpf_map_delete_elem(&uring_opens, &req))
		__sync_fetch_and_add(&uring_open_n, -1);
}

static __always_inline __u8 req_opcode(struct io_kiocb *req)
{
	return BPF_CORE_READ(req, opcode);
}

static __always_inline struct io_open *req_open(struct io_kiocb *req)
{
	return (void *)req + bpf_core_field_offset(struct io_kiocb, cmd);
}

/* uring_task_wanted applies the task filters to the current task, named
 * after its group leader when it is an io_uring worker. */
static __always_inline bool uring_task_wanted(void)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	char comm[EVENT_COMM_LEN] = {};
	current_comm(task, comm);
	return task_wanted(bpf_get_current_pid_tgid(), bpf_get_current_uid_gid(), comm);
}

/*
 * io_uring_submit_req fires for every request after its prep ran (io_init_req:
 * the io_open holds how.flags and file_slot), in the submitter or the SQPOLL
 * thread. An open with IOSQE_CQE_SKIP_SUCCESS posts no completion when it
 * succeeds, and nothing else in the kernel's tracepoints follows it, so it is
 * counted here as io_uring_unobserved: whether or not it then creates a file
 * (an upper bound). The others are recorded for the overflow path.
 */
static __always_inline int on_uring_submit(struct io_kiocb *req)
{
	if (!bpf_core_type_exists(struct io_kiocb) || !bpf_core_type_exists(struct io_open))
		return 0;
	__u64 key = (__u64)req;
	__u8 op = req_opcode(req);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2) {
		uring_forget(key);
		return 0;
	}
	struct io_open *open = req_open(req);
	__u64 how = BPF_CORE_READ(open, how.flags);
	if (!(how & O_CREAT) || !uring_task_wanted()) {
		uring_forget(key);
		return 0;
	}
	__u32 rflags = 0; /* io_req_flags_t: u32 before 6.10, u64 since; bit 6 is in the low word */
	bpf_probe_read_kernel(&rflags, sizeof(rflags), (void *)req + bpf_core_field_offset(struct io_kiocb, flags));
	if (rflags & REQ_F_CQE_SKIP) {
		uring_forget(key);
		count(COUNTER_IO_URING);
		return 0;
	}
	struct uring_open v = {
		.ctx = (__u64)BPF_CORE_READ(req, ctx),
		.user_data = BPF_CORE_READ(req, cqe.user_data),
		.slot = BPF_CORE_READ(open, file_slot),
	};
	long err = bpf_map_update_elem(&uring_opens, &key, &v, BPF_NOEXIST);
	if (!err) {
		__sync_fetch_and_add(&uring_open_n, 1);
		return 0;
	}
	if (bpf_map_update_elem(&uring_opens, &key, &v, BPF_EXIST))
		count(COUNTER_INFLIGHT_FULL); /* full: an overflowed CQE of this open would go unseen */
	return 0;
}

SEC("tracepoint/io_uring/io_uring_submit_req")
int tp_io_uring_submit_req(struct trace_event_raw_io_uring_submit_req *ctx)
{
	return on_uring_submit(ctx->req);
}

/* The same tracepoint before 6.3 (6.1 has it), by its old name; the loader
 * keeps the one of the two the kernel's BTF has. */
struct trace_event_raw_io_uring_submit_sqe {
	struct trace_entry ent;
	void *ctx;
	void *req;
} __attribute__((preserve_access_index));

SEC("tracepoint/io_uring/io_uring_submit_sqe")
int tp_io_uring_submit_sqe(struct trace_event_raw_io_uring_submit_sqe *ctx)
{
	return on_uring_submit(ctx->req);
}

/*
 * on_uring_file reports f, the file an io_uring open of how (its flags) left
 * at its fd or slot, read when its completion is posted. A completion posted
 * by an io-wq worker follows the fd install in the same thread. One posted
 * later from the submitter (IORING_SETUP_DEFER_TASKRUN, or an overflowed
 * CQE on 6.18, both run as task work) leaves the submitter time to close or
 * dup2 the fd first: then an empty slot, or an O_CREAT open whose slot holds
 * a file this open did not create, is counted as fd_race (an O_CREAT open of
 * an existing file, completed late, is counted so too: an upper bound).
 */
static __always_inline int on_uring_file(struct file *f, __u64 how)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	bool deferred = !(BPF_CORE_READ(task, flags) & PF_IO_WORKER);
	__u32 mode = 0;
	struct path fp = {};
	if (f)
		read_file(f, &mode, &fp);
	if (mode & FMODE_CREATED)
		return on_file(f, HOOK_IO_URING, EVENT_F_IO_URING, true);
	if ((how & O_CREAT) && (!f || deferred) && uring_task_wanted())
		count(COUNTER_FD_RACE);
	return 0;
}

static __always_inline struct file *uring_result_file(void *ring, __u32 slot, int res)
{
	if (!slot)
		return fd_file((void *)bpf_get_current_task(), res);
	return io_fixed_file(ring, slot == IORING_FILE_INDEX_ALLOC ? (__u32)res : slot - 1);
}

SEC("tracepoint/io_uring/io_uring_complete")
int tp_io_uring_complete(struct trace_event_raw_io_uring_complete *ctx)
{
	if (!bpf_core_type_exists(struct io_kiocb) || !bpf_core_type_exists(struct io_open))
		return 0;
	struct io_kiocb *req = ctx->req;
	__u8 op = req_opcode(req);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2)
		return 0;
	uring_forget((__u64)req);
	int res = ctx->res;
	if (res < 0)
		return 0;
	struct io_open *open = req_open(req);
	__u64 how = BPF_CORE_READ(open, how.flags);
	__u32 slot = BPF_CORE_READ(open, file_slot);
	return on_uring_file(uring_result_file(ctx->ctx, slot, res), how);
}

struct overflow_match {
	__u64 ctx;
	__u64 user_data;
	__u64 req;
	__s32 res;
	__u32 slot;
};

/* match_open finds the open in flight whose CQE overflowed: same ring and
 * user_data, and the request holds the same result (so another request
 * posting the same user_data is not taken for it). */
static long match_open(struct bpf_map *map, __u64 *key, struct uring_open *v, struct overflow_match *m)
{
	if (v->ctx != m->ctx || v->user_data != m->user_data)
		return 0;
	struct io_kiocb *req = (void *)*key;
	__u8 op = req_opcode(req);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2)
		return 0;
	if (BPF_CORE_READ(req, cqe.res) != m->res)
		return 0;
	m->req = *key;
	m->slot = v->slot;
	return 1;
}

/*
 * io_uring_cqe_overflow (5.19+): on 6.18 a completion that finds the CQ ring
 * full goes to the overflow list without io_uring_complete (6.1 fires
 * io_uring_complete first, which removed the entry: no double count).
 */
SEC("tracepoint/io_uring/io_uring_cqe_overflow")
int tp_io_uring_cqe_overflow(struct trace_event_raw_io_uring_cqe_overflow *ctx)
{
	if (!uring_open_n)
		return 0;
	struct overflow_match m = {.ctx = (__u64)ctx->ctx, .user_data = ctx->user_data, .res = ctx->res};
	bpf_for_each_map_elem(&uring_opens, match_open, &m, 0);
	if (!m.req)
		return 0;
	uring_forget(m.req);
	if (m.res < 0)
		return 0;
	struct io_kiocb *req = (void *)m.req;
	__u64 how = BPF_CORE_READ(req_open(req), how.flags);
	return on_uring_file(uring_result_file(ctx->ctx, m.slot, m.res), how);
}
