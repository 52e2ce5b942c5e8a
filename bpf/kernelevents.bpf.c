//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * kernelevents: one sample per file created in the kernel.
 *
 * Hooks (the Go loader picks one set at start, see internal/probe):
 *   kretprobe/do_filp_open   kprobes (any kernel with BTF, 5.8+ for the ring buffer)
 *   fexit/do_filp_open       BPF trampolines (5.8+ with BTF)
 *   tracepoint/syscalls/...  sys_exit_{open,openat,openat2,creat} and
 *                            sys_{enter,exit}_{mknod,mknodat} (needs tracefs)
 *   tracepoint/io_uring/io_uring_complete, beside the syscall tracepoints,
 *                            for IORING_OP_OPENAT{,2} (io_uring 5.6+)
 *
 * "Created" means the open made a new name: the returned struct file has
 * FMODE_CREATED (fs/namei.c, open_last_lookups/lookup_open sets it only when
 * this call created the inode). mknod/mknodat of a regular file count when
 * they return 0. The path is resolved in the kernel from the file's dentry
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

/*
 * The path is built backwards into a per-CPU scratch buffer, leaf last, the
 * way d_path() does. PATH_BUF bounds the whole path, MAX_DEPTH the number of
 * components walked (the verifier needs both bounded). Names are at most
 * NAME_MAX (255) bytes.
 */
#define PATH_BUF 1024
#define NAME_MASK 255
#define MAX_DEPTH 48
#define PREFIX_LEN 128
/* The dentry window of read_dentry(): see there. */
#define DENTRY_LEAD 16
#define DENTRY_WINDOW 96
#define NAME_COPY 40

/* Set by the loader before load (spec.Variables). */
const volatile __u32 self_tgid = 0;
const volatile __u64 wakeup_bytes = 0;
const volatile bool filter_uids = false;
const volatile bool filter_comms = false;
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

/* mknod arguments kept from sys_enter to sys_exit, per thread. */
struct mknod_args {
	__u64 filename; /* user pointer, as u64: no pointers in map values */
	__s32 dfd;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct mknod_args);
} mknod_inflight SEC(".maps");

struct scratch {
	__u32 off; /* where the path built in buf starts; see walk() */
	__u32 _pad;
	char buf[PATH_BUF + NAME_MASK + 1];
	char dwin[2 * DENTRY_WINDOW]; /* a dentry window (read_dentry), and room for masked copies */
	struct prefix_key key;
	char name[EVENT_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* Makes bpf2go emit the Go type (-type event). */
struct event *unused_event __attribute__((unused));

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

/*
 * Cheap per-task filters, before any path work: the collector itself,
 * effective uids not asked for, excluded comms.
 */
static __always_inline bool task_wanted(__u64 pid_tgid, __u64 uid_gid, char *comm)
{
	if (self_tgid && (__u32)(pid_tgid >> 32) == self_tgid)
		return false;
	if (filter_uids) {
		/* The effective uid: whose authority the file is created with. */
		struct task_struct *task = (void *)bpf_get_current_task();
		__u32 euid = BPF_CORE_READ(task, cred, euid.val);
		if (!bpf_map_lookup_elem(&uid_filter, &euid))
			return false;
	}
	if (filter_comms && bpf_map_lookup_elem(&comm_exclude, comm))
		return false;
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
		if (len > NAME_MASK || len + 1 > off || off > PATH_BUF)
			return true;
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
				   char *comm, bool truncated, __u8 hook, __u8 flags)
{
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
	if (filter_prefixes) {
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
	e->flags = flags | (truncated ? EVENT_F_TRUNCATED : 0);
	__builtin_memcpy(e->comm, comm, EVENT_COMM_LEN);
	bpf_probe_read_kernel(e->path, EVENT_PATH_LEN, &s->buf[off & (PATH_BUF - 1)]);
	fill_identity(e, task);
	bpf_ringbuf_submit(e, wakeup_flags());
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_map, &zero);
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
	bool truncated = walk(s, task, fp.dentry, fp.mnt);
	report(s, task, pid_tgid, uid_gid, comm, truncated, hook, flags);
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

/*
 * The open-family syscalls all return the new fd; the file it names tells
 * whether this call created it. The sys_enter side is not needed.
 */
static __always_inline int on_open_exit(long ret)
{
	if (ret < 0)
		return 0;
	return on_file(fd_file((void *)bpf_get_current_task(), ret), HOOK_TRACEPOINT, 0, false);
}

SEC("tracepoint/syscalls/sys_exit_open")
int tp_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return on_open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int tp_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return on_open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int tp_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return on_open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int tp_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return on_open_exit(ctx->ret);
}

/* mknod(2) of a regular file (mode type S_IFREG or 0) creates a file too. */
static __always_inline int on_mknod_enter(int dfd, __u64 filename, __u32 mode)
{
	if ((mode & S_IFMT) != 0 && (mode & S_IFMT) != S_IFREG)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct mknod_args a = {.filename = filename, .dfd = dfd};
	bpf_map_update_elem(&mknod_inflight, &id, &a, BPF_ANY);
	return 0;
}

static __always_inline int on_mknod_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct mknod_args *ap = bpf_map_lookup_elem(&mknod_inflight, &pid_tgid);
	if (!ap)
		return 0;
	struct mknod_args a = *ap;
	bpf_map_delete_elem(&mknod_inflight, &pid_tgid);
	if (ret != 0)
		return 0;

	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 uid_gid = bpf_get_current_uid_gid();
	char comm[EVENT_COMM_LEN] = {};
	bpf_get_current_comm(comm, sizeof(comm));
	if (!task_wanted(pid_tgid, uid_gid, comm))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;

	/* The name as passed goes last; a relative one is resolved against the
	 * directory it was relative to (cwd or dfd), walked like a file's. */
	long n = bpf_probe_read_user_str(s->name, EVENT_PATH_LEN, (const void *)a.filename);
	if (n <= 1)
		return 0;
	__u32 len = (n - 1) & NAME_MASK;
	__u32 off = PATH_BUF - len;
	bpf_probe_read_kernel(&s->buf[off & (PATH_BUF - 1)], len, s->name);
	s->off = off;
	bool truncated = false;
	if (s->name[0] != '/') {
		struct path at = {};
		if (a.dfd == AT_FDCWD) {
			read_path(&at, (void *)BPF_CORE_READ(task, fs) + bpf_core_field_offset(struct fs_struct, pwd));
		} else {
			struct file *dir = fd_file(task, a.dfd);
			if (!dir)
				return 0;
			read_path(&at, (void *)dir + bpf_core_field_offset(struct file, f_path));
		}
		off -= 1;
		s->buf[off & (PATH_BUF - 1)] = '/';
		s->off = off;
		truncated = walk(s, task, at.dentry, at.mnt);
	}
	report(s, task, pid_tgid, uid_gid, comm, truncated, HOOK_TRACEPOINT, EVENT_F_MKNOD);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mknod")
int tp_enter_mknod(struct trace_event_raw_sys_enter *ctx)
{
	return on_mknod_enter(AT_FDCWD, ctx->args[0], ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_mknodat")
int tp_enter_mknodat(struct trace_event_raw_sys_enter *ctx)
{
	return on_mknod_enter(ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_mknod")
int tp_exit_mknod(struct trace_event_raw_sys_exit *ctx)
{
	return on_mknod_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_mknodat")
int tp_exit_mknodat(struct trace_event_raw_sys_exit *ctx)
{
	return on_mknod_exit(ctx->ret);
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

SEC("tracepoint/io_uring/io_uring_complete")
int tp_io_uring_complete(struct trace_event_raw_io_uring_complete *ctx)
{
	if (!bpf_core_type_exists(struct io_kiocb) || !bpf_core_type_exists(struct io_open))
		return 0;
	struct io_kiocb *req = ctx->req;
	__u8 op = BPF_CORE_READ(req, opcode);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2)
		return 0;
	int res = ctx->res;
	if (res < 0)
		return 0;
	struct io_open *open = (void *)req + bpf_core_field_offset(struct io_kiocb, cmd);
	__u32 slot = BPF_CORE_READ(open, file_slot);
	struct file *f;
	if (!slot)
		f = fd_file((void *)bpf_get_current_task(), res);
	else
		f = io_fixed_file(ctx->ctx, slot == IORING_FILE_INDEX_ALLOC ? (__u32)res : slot - 1);
	return on_file(f, HOOK_IO_URING, EVENT_F_IO_URING, true);
}
