/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The executable as the kernel knew it at exec: sched_process_exec records,
 * per process (tgid and start time), the file the exec mapped (device,
 * inode, the struct file) and its path inside its filesystem (the dentry
 * chain to the superblock's root, which no mount namespace changes). At each
 * creation fill_identity compares the process's executable reference
 * (mm->exe_file, which prctl(PR_SET_MM_MAP) with exe_fd lets a process
 * replace) with that record: the sample says whether the process still runs
 * the file it exec'ed, and which exec that was (exec_ns), whose path user
 * space reads from exec_history (internal/probe ExecFile) and places in the
 * node's mount table. A new process (fork, not a thread) inherits its
 * parent's record (sched_process_fork, on_fork): it runs the parent's exec,
 * and inherits the parent's executable reference, replaced or not; the
 * child of a process older than the probe gets a record naming no exec
 * (exec_ns 0) with the reference it inherited. A record goes when the
 * process's last task exits (on_exec_exit).
 */
#ifndef KERNELEVENTS_EXEC_H
#define KERNELEVENTS_EXEC_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"

/* Components of an executable's path walked at most, and its length. */
#define EXEC_DEPTH 48
#define EXEC_PATH_LEN 256

/* A process: tgid and its group leader's start time. */
struct exec_key {
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns;
};

/* The process's exec now (exec_latest). */
struct exec_now {
	__u64 exec_ns; /* bpf_ktime_get_ns() at the exec: names it */
	__u64 file;    /* the struct file the exec mapped (mm->exe_file then) */
	__u64 ino;
	__u32 dev; /* kernel dev_t of the file's superblock */
	__u32 _pad;
};

/*
 * The file an exec mapped. path[off, EXEC_PATH_LEN) is its path inside its
 * filesystem ("/" joined names from the superblock's root); flags has
 * EXEC_F_TRUNCATED when it was deeper than EXEC_DEPTH or longer than
 * EXEC_PATH_LEN (then off is EXEC_PATH_LEN: no path). The buffer is twice
 * the path's room so that a masked offset plus a name stays inside it.
 */
struct exec_file {
	__u64 ino;
	__u32 dev;
	__u16 off;
	__u8 flags;
	__u8 _pad;
	char path[2 * EXEC_PATH_LEN];
};

enum exec_file_flag {
	EXEC_F_TRUNCATED = 0x01,
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct exec_key);
	__type(value, struct exec_now);
} exec_latest SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* exec_ns: unique, see on_exec */
	__type(value, struct exec_file);
} exec_history SEC(".maps");

/* Where one exec_file is built (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_file);
} exec_buf SEC(".maps");

/* struct task_struct's start time: start_boottime since 5.5. */
struct task_struct___exec_v54 {
	__u64 real_start_time;
} __attribute__((preserve_access_index));

static __always_inline __u64 leader_start(struct task_struct *leader)
{
	if (bpf_core_field_exists(struct task_struct, start_boottime))
		return BPF_CORE_READ(leader, start_boottime);
	return BPF_CORE_READ((struct task_struct___exec_v54 *)leader, real_start_time);
}

/*
 * on_exec records the exec current has just done (sched_process_exec fires
 * after the new image is in place: mm->exe_file is the file mapped, the
 * interpreter's for a script).
 */
static __always_inline int on_exec(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file *f = BPF_CORE_READ(task, mm, exe_file);
	if (!f)
		return 0;
	__u32 zero = 0;
	struct exec_file *rec = bpf_map_lookup_elem(&exec_buf, &zero);
	if (!rec)
		return 0;
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	rec->ino = BPF_CORE_READ(inode, i_ino);
	rec->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	rec->flags = 0;

	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	__u32 off = EXEC_PATH_LEN;
	int i;
	for (i = 0; i < EXEC_DEPTH; i++) {
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (!parent || parent == d)
			break; /* the filesystem's root */
		__u32 len = BPF_CORE_READ(d, d_name.len);
		if (len > 255 || len + 1 > off) {
			rec->flags |= EXEC_F_TRUNCATED;
			break;
		}
		off -= len;
		bpf_probe_read_kernel(&rec->path[off & (EXEC_PATH_LEN - 1)], len & 255,
				      BPF_CORE_READ(d, d_name.name));
		off -= 1;
		rec->path[off & (EXEC_PATH_LEN - 1)] = '/';
		d = parent;
	}
	if (i == EXEC_DEPTH)
		rec->flags |= EXEC_F_TRUNCATED;
	rec->off = rec->flags & EXEC_F_TRUNCATED ? EXEC_PATH_LEN : off;

	/* exec_ns names the exec: the clock, made unique (two execs in one
	 * nanosecond on two CPUs take the next free value). */
	__u64 now = bpf_ktime_get_ns();
	int j;
	for (j = 0; j < 8; j++, now++)
		if (bpf_map_update_elem(&exec_history, &now, rec, BPF_NOEXIST) == 0)
			break;
	if (j == 8)
		return 0; /* no record: the process is named from /proc */
	struct exec_key k = {
		.tgid = BPF_CORE_READ(task, tgid),
		.start_ns = leader_start(BPF_CORE_READ(task, group_leader)),
	};
	struct exec_now n = {.exec_ns = now, .file = (__u64)f, .ino = rec->ino, .dev = rec->dev};
	bpf_map_update_elem(&exec_latest, &k, &n, BPF_ANY);
	return 0;
}

/*
 * on_fork gives a new process (not a thread) its parent's exec record: it
 * runs what its parent exec'ed, through the parent's executable reference
 * (copied with the mm). Threads share their process's record.
 */
static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	struct exec_key pk = {
		.tgid = BPF_CORE_READ(parent, tgid),
		.start_ns = leader_start(BPF_CORE_READ(parent, group_leader)),
	};
	struct exec_now *n = bpf_map_lookup_elem(&exec_latest, &pk);
	struct exec_now copy = {};
	if (n) {
		copy = *n;
	} else {
		/* The parent's exec predates the probe: no exec is named
		 * (exec_ns 0), but the child is recorded with the reference it
		 * inherited, so that user space tells it from a process whose
		 * record was pushed out (exec_check, internal/identity). */
		struct file *f = BPF_CORE_READ(child, mm, exe_file);
		if (!f)
			return 0;
		struct inode *inode = BPF_CORE_READ(f, f_inode);
		copy.file = (__u64)f;
		copy.ino = BPF_CORE_READ(inode, i_ino);
		copy.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	}
	struct exec_key ck = {.tgid = BPF_CORE_READ(child, tgid), .start_ns = leader_start(child)};
	bpf_map_update_elem(&exec_latest, &ck, &copy, BPF_ANY);
	return 0;
}

/* on_exec_exit forgets the record of a process whose last task exits. */
static __always_inline void on_exec_exit(struct task_struct *p)
{
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return;
	struct exec_key k = {.tgid = BPF_CORE_READ(p, tgid),
			     .start_ns = leader_start(BPF_CORE_READ(p, group_leader))};
	bpf_map_delete_elem(&exec_latest, &k);
}

/*
 * exec_check sets e->exec_state and e->exec_ns: whether the executable
 * reference exe (mm->exe_file, of device dev and inode ino) is still the file
 * the process's last exec mapped. Call it once e's tgid and start_ns are set.
 */
static __always_inline void exec_check(struct event *e, struct file *exe)
{
	struct exec_key k = {.tgid = e->tgid, .start_ns = e->start_ns};
	struct exec_now *n = bpf_map_lookup_elem(&exec_latest, &k);
	e->exec_ns = 0;
	e->exec_state = EXEC_UNKNOWN;
	if (!n)
		return;
	if (n->file == (__u64)exe && n->ino == e->exe_ino && n->dev == e->exe_dev) {
		/* exec_ns 0: inherited from a process older than the probe,
		 * still its reference; no exec named (EXEC_UNKNOWN). */
		if (n->exec_ns)
			e->exec_state = EXEC_SAME;
		e->exec_ns = n->exec_ns;
	} else {
		e->exec_state = EXEC_REPLACED;
	}
}

#endif /* KERNELEVENTS_EXEC_H */
