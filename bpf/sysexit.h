/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The tracepoint hook's handlers at sys_exit: opens (on_open_exit), mknod
 * (on_mknod_exit), symlinks (on_symlink_exit), links (on_link_exit,
 * tmpfile.h) and renames (on_name_exit), dispatched by on_sys_exit.
 */
#ifndef KERNELEVENTS_SYSEXIT_H
#define KERNELEVENTS_SYSEXIT_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "copyup.h"
#include "event.h"
#include "fd.h"
#include "filter.h"
#include "kernel.h"
#include "lookup.h"
#include "output.h"
#include "path.h"
#include "report.h"
#include "scratch.h"
#include "syscall.h"
#include "tmpfile.h"
#include "window.h"

/* openat2's flags (in user memory, not trusted): no open that succeeds has
 * them all, which holds O_CREAT with O_TMPFILE (EINVAL in build_open_flags). */
#define OPEN_FLAGS_UNKNOWN 0xffffffffU

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
	/*
	 * An O_CREAT open without O_TMPFILE: f_mode alone (4 bytes, not the
	 * file's window) says whether it created; most such opens find the file.
	 */
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
		if (upper_waiting)
			upper_forget_file(fp.dentry); /* made by this open: not a copy-up */
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

/*
 * The open handler as global functions, one per register access (tp_btf,
 * raw_tp): the verifier checks each once, apart from sys_exit, and their
 * stack frames are not added to sys_exit's (the 512 bytes a chain of calls
 * may use: sys_exit, name_report and root_side would exceed it).
 */
__noinline int open_exit_btf(long fd, __u32 flags)
{
	return on_open_exit(fd, flags, true);
}

__noinline int open_exit_raw(long fd, __u32 flags)
{
	return on_open_exit(fd, flags, false);
}

/*
 * mknod, symlink, and rename and link's new name at sys_exit: the created
 * dentry is not reachable from the registers. The directory is: the cwd or
 * dfd's file (the task's root for an absolute name), walked as any file's.
 * A name without '/' (past a leading one) is then the last component and
 * the path is the kernel's. A name with '/' went through a lookup, which
 * lookup_dir (lookup.h) repeats in the kernel's dentry cache: the path is
 * then the kernel's too, from the directory found. Where it cannot be
 * repeated exactly (lookup.h says when), the sample carries the name as
 * written, flagged EVENT_F_UNRESOLVED, bypasses the in-kernel prefix
 * filter, and is reported unresolved: never resolved later in user space,
 * where a symlink swapped after the mknod would put the file under a
 * decoy. NAME_GATE (symbolic links, and renames and links within one
 * directory) reports such a name only when the directory it names last has
 * a watched name (slash_name_watched) and else counts it lost as
 * name_unresolved: those are made by the dozen at every container start
 * and by every package upgrade, and must not flood. Limits (tracepoint
 * hook only; kretprobe and fexit take the dentry): the name is read from
 * user memory, and looked up, after the syscall, so a sibling thread that
 * rewrites the buffer, chdir()s, dup2()s over dfd or renames a directory on
 * the way in that window changes the name or directory reported. A second
 * read at sys_enter would need a program on every syscall's entry too
 * (twice the per-syscall cost) and would still miss a rewrite that is
 * undone between the kernel's copy and either read, so there is none.
 */
/*
 * A global function: the verifier checks it once, apart from its callers
 * (mknod, and rename and link with their two names for RENAME_EXCHANGE),
 * instead of once per call site with the path walk each time (which took
 * sys_exit past the 1M instructions it allows). The task filters ran in
 * the caller. It claims its own scratch slot: a pointer argument of a
 * global function is plain memory to the verifier, which 6.1 refuses as a
 * map key (the prefix filter's lookup).
 */
/* name_report's flags: filename is the key (request) of an io_uring rename
 * or link in uring_names, whose new (NAME_URING_NEW) or old name is read. */
#define NAME_URING_NEW (1U << 31)
#define NAME_URING_OLD (1U << 30)
/* see above: an unresolved name is reported only under a watched name */
#define NAME_GATE (1U << 29)

static __noinline bool slash_name_watched(struct scratch *s, long n);

/* Where name_report_in keeps the name as written while lookup_dir may
 * rewrite s->name (following a link): in buf, past what follow_link uses. */
#define NAME_SAVED (2 * EVENT_PATH_LEN)

static __always_inline int name_report_in(struct scratch *s, int dfd, __u64 filename, __u32 flags)
{
	bool preloaded = flags & (NAME_URING_NEW | NAME_URING_OLD);
	if (preloaded) {
		__u64 req = filename;
		struct uring_name *v = bpf_map_lookup_elem(&uring_names, &req);
		filename = 0;
		if (v)
			filename = bpf_probe_read_kernel_str(
				s->name, EVENT_PATH_LEN,
				(flags & NAME_URING_NEW) ? v->new_name : v->old_name);
	}
	bool gate = flags & NAME_GATE;
	flags &= ~(NAME_URING_NEW | NAME_URING_OLD | NAME_GATE);
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 pid_tgid = task_pid_tgid(t);
	__u64 uid_gid = task_uid_gid(t);
	/* in map memory, not the stack: this frame is on the lookup's call
	 * chain, whose stacks 6.1 adds up to at most 512 bytes */
	char *comm = s->comm;
	flags |= current_comm(t, comm);
	bool truncated = false;
	long n = preloaded
			 ? (long)filename
			 : bpf_probe_read_user_str(s->name, EVENT_PATH_LEN, (const void *)filename);
	if (n <= 1) {
		/* unreadable now (unmapped by another thread): the directory alone */
		s->name[0] = 0;
		n = 1;
		flags |= EVENT_F_UNRESOLVED;
		truncated = true;
	} else if (n >= EVENT_PATH_LEN) {
		char c = 0;
		if (!preloaded)
			bpf_probe_read_user(&c, 1, (const void *)filename + EVENT_PATH_LEN - 1);
		n = EVENT_PATH_LEN;
		if (c || preloaded) {
			flags |= EVENT_F_UNRESOLVED; /* the cut-off rest may hold a '/' */
			truncated = true;
		}
	}
	__u32 len = (n - 1) & NAME_MASK;
	bool slash = false;
	for (__u32 i = 1; i < EVENT_PATH_LEN - 1; i++) {
		if (i >= len)
			break;
		if (s->name[i] == '/') {
			slash = true;
			break;
		}
	}
	/* The directory the name starts from: the task's root for an absolute
	 * name (a chroot's or a private mount namespace's root: walked to its
	 * filesystem's root like any directory), else the cwd or dfd. */
	struct path at = {};
	bool absolute = s->name[0] == '/';
	if (absolute) {
		read_path(&at, (void *)BPF_CORE_READ(task, fs) +
				       bpf_core_field_offset(struct fs_struct, root));
	} else if (dfd == AT_FDCWD) {
		read_path(&at, (void *)BPF_CORE_READ(task, fs) +
				       bpf_core_field_offset(struct fs_struct, pwd));
	} else {
		struct file *dir = fd_file(task, dfd);
		if (!dir) {
			count(COUNTER_FD_RACE); /* dfd closed by another thread since */
			return 0;
		}
		read_path(&at, (void *)dir + bpf_core_field_offset(struct file, f_path));
	}
	/* The name's last component, from tail, when the directory was found. */
	__u32 tail = 0;
	if (slash && !(flags & EVENT_F_UNRESOLVED)) {
		bpf_probe_read_kernel(&s->buf[NAME_SAVED], EVENT_PATH_LEN, s->name);
		__u32 moff = bpf_core_field_offset(struct mount, mnt);
		s->lk_dentry = (__u64)at.dentry;
		s->lk_mnt = (__u64)at.mnt - moff;
		s->lk_len = len;
		int t = lookup_dir(s->slot);
		if (t >= 0 && t < EVENT_PATH_LEN && s->lk_len > (__u32)t) {
			tail = t;
			len = (s->lk_len - t) & NAME_MASK;
			absolute = false;
			at.dentry = (void *)s->lk_dentry;
			at.mnt = (void *)(s->lk_mnt + moff);
		} else {
			bpf_probe_read_kernel(s->name, EVENT_PATH_LEN, &s->buf[NAME_SAVED]);
			flags |= EVENT_F_UNRESOLVED;
		}
	} else if (slash) {
		flags |= EVENT_F_UNRESOLVED;
	}
	/* NAME_GATE, resolved: on a filesystem the node does not mount (a
	 * container's private /dev, where runtimes make their links at every
	 * start) the name is in no watched directory: report() filters it as
	 * the prefix filter does, unless its last directory has a watched name
	 * (the node's table may lack a mount made this instant). Kept in map
	 * memory (s->lk_gate, reset by get_scratch): a register live across
	 * the path walk would make the verifier walk it once per value. */
	if (gate && filter_prefixes) {
		bool watched = slash_name_watched(s, n);
		if ((flags & EVENT_F_UNRESOLVED) && !watched) {
			count(COUNTER_NAME_UNRESOLVED);
			return 0;
		}
		*(volatile __u32 *)&s->lk_gate = !(flags & EVENT_F_UNRESOLVED) && !watched;
	}
	/* A rename's or link's new name: its type, from its dentry in the
	 * directory (child_mode). A device node, FIFO or socket is not counted,
	 * as on the other hooks; a name not found (renamed away since) stays
	 * FILE_TYPE_UNKNOWN. */
	if ((flags >> TYPE_SHIFT & 0xff) == FILE_TYPE_UNKNOWN && !(flags & EVENT_F_UNRESOLVED)) {
		s->lk_dentry = (__u64)at.dentry;
		/* the type goes through map memory: the verifier then sees one
		 * unknown value after this, not one path walk per type */
		__u32 mode = child_mode(s->slot, tail, len) & S_IFMT;
		if (mode && mode != S_IFREG && mode != S_IFDIR && mode != S_IFLNK)
			return 0;
		*(volatile __u32 *)&s->lk_type = mode == S_IFREG   ? FILE_TYPE_REGULAR
						 : mode == S_IFDIR ? FILE_TYPE_DIR
						 : mode == S_IFLNK ? FILE_TYPE_SYMLINK
								   : FILE_TYPE_UNKNOWN;
		__u32 type = *(volatile __u32 *)&s->lk_type & 0xff;
		flags = (flags & ~(0xffU << TYPE_SHIFT)) | type << TYPE_SHIFT;
	}
	start_path(s);
	__u32 off = PATH_BUF - len;
	bpf_probe_read_kernel(&s->buf[off & (PATH_BUF - 1)], len,
			      &s->name[tail & (EVENT_PATH_LEN - 1)]);
	s->off = off;
	__u8 pflags = truncated ? EVENT_F_TRUNCATED : 0;
	if (!absolute) {
		off -= 1;
		s->buf[off & (PATH_BUF - 1)] = '/';
		s->off = off;
	}
	pflags |= resolve(s, at.dentry, at.mnt, false);
	report(s, pid_tgid, uid_gid, comm, pflags, HOOK_TRACEPOINT, flags);
	return 0;
}

__noinline int name_report(int dfd, __u64 filename, __u32 flags)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	name_report_in(s, dfd, filename, flags);
	put_scratch(s);
	return 0;
}

/* current_wanted applies the task filters to the current task. */
static __always_inline bool current_wanted(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	char comm[EVENT_COMM_LEN] __attribute__((aligned(8)));
	task_comm(t, comm);
	return task_wanted(task_pid_tgid(t), task_uid_gid(t), comm);
}

static __always_inline int on_mknod_exit(int dfd, __u64 filename, __u32 mode)
{
	if ((mode & S_IFMT) != 0 && (mode & S_IFMT) != S_IFREG)
		return 0;
	if (upper_waiting)
		upper_made(); /* through an overlay: the file kept is this one */
	if (!current_wanted())
		return 0;
	return name_report(dfd, filename, EVENT_F_MKNOD);
}

/*
 * slash_name_watched: does the name in s->name (n bytes read, NUL included),
 * one with a '/' that lookup_dir could not repeat, name last (the component
 * before its last '/', as written) a directory with the name of a watched
 * directory or an ancestor of one (watched_names)? "/home/alice/.ssh/k"
 * does, "/var/lib/x/dev/ptmx" does not. Without a prefix filter, and for a
 * name without '/', yes. The last '/' and the one before are kept in map
 * memory, as in dir_part.
 */
static __noinline bool slash_name_watched(struct scratch *s, long n)
{
	if (!s || !filter_prefixes)
		return true;
	char *b = s->name;
	*(volatile __u32 *)&s->n = 0;
	*(volatile __u32 *)&s->k = 0;
	bool slash = false;
	for (int i = 0; i < EVENT_PATH_LEN; i++) {
		if (i >= n - 1)
			break;
		if (b[i] == '/') {
			slash = true;
			*(volatile __u32 *)&s->k = *(volatile __u32 *)&s->n;
			*(volatile __u32 *)&s->n = i + 1; /* one past the '/' */
		}
	}
	if (!slash)
		return true;
	__u32 end = *(volatile __u32 *)&s->n;	/* one past the last '/' */
	__u32 start = *(volatile __u32 *)&s->k; /* one past the one before, or 0 */
	if (end < start + 2)
		return false; /* "/x", "//x": the root */
	__u32 m = end - start - 1;
	if (m > WATCHED_NAME_LEN - 1)
		m = WATCHED_NAME_LEN - 1;
	__builtin_memset(s->key.data, 0, WATCHED_NAME_LEN);
	for (int i = 0; i < WATCHED_NAME_LEN - 1; i++) {
		if (i >= m)
			break;
		s->key.data[i] = b[(start + i) & (EVENT_PATH_LEN - 1)];
	}
	return bpf_map_lookup_elem(&watched_names, s->key.data) != NULL;
}

/* symlink and symlinkat at sys_exit: the link made at (newdfd, linkpath),
 * reported as mknod's name is (FILE_OP_SYMLINK, FILE_TYPE_SYMLINK), with
 * NAME_GATE: when its name holds a '/' that lookup_dir could not repeat,
 * only under a watched name (slash_name_watched), else counted lost. */
static __always_inline int on_symlink_exit(int dfd, __u64 linkpath)
{
	if (!current_wanted())
		return 0;
	return name_report(dfd, linkpath,
			   FILE_OP_SYMLINK << OP_SHIFT | FILE_TYPE_SYMLINK << TYPE_SHIFT |
				   NAME_GATE);
}

/*
 * Renames and links of named files at sys_exit (FILE_OP_RENAME, FILE_OP_LINK): as for
 * mknod, the new dentry is out of reach; the new name is reported from its
 * directory (newdfd or the cwd, resolved in the kernel) and the name as
 * written, EVENT_F_UNRESOLVED when that holds a '/' (see name_report).
 * RENAME_EXCHANGE reports both names.
 *
 * Within one directory: not counted when both names' directory parts (up
 * to the last '/'; "." and none are the same) are the same bytes and are
 * looked up from the same place: both absolute, or both relative to the
 * same directory (the same dfd, or dfds whose files are the same dentry;
 * AT_FDCWD is the cwd). sed -i ("./sedXXXX" to "f"), an editor's "f~" or
 * a package manager's "/usr/bin/x.dpkg-new" to "/usr/bin/x" stop there,
 * after two user-memory reads and one lookup of the new name's last
 * component in watched_names (a directory, or a symbolic link, renamed or
 * hard-linked within one directory onto a watched directory or an
 * ancestor: see watched_name, reported with REPORT_WITHIN). Limits (tracepoint hook only; kretprobe
 * and fexit compare the kernel's parent dentries): the names are read after the syscall, so a
 * sibling thread that rewrites them, chdir()s, dup2()s over a dfd or swaps a directory symlink
 * between the kernel's two lookups can make a rename from elsewhere look like one within a
 * directory. The file's type is read from the new name's dentry (name_report_in: child_mode); one
 * not found stays FILE_TYPE_UNKNOWN, which the prefix filter matches as a directory would (inside,
 * at or above a watched directory: report()).
 */
#define RENAME_EXCHANGE_FLAG (1 << 1)
#define AT_EMPTY_PATH_FLAG 0x1000

/* dir_part returns the length of the directory part of the NUL-terminated
 * name in b (before its last '/'; 0 for none or "."), or -1 when the name
 * is empty or unreadable. The last '/' seen is kept in *last, map memory:
 * the verifier then sees an unknown value at each step and prunes the
 * loop's states (a register holding it made one state per position). */
static __always_inline int dir_part(const char *b, long n, __u32 *last)
{
	if (n <= 1)
		return -1;
	*(volatile __u32 *)last = 0;
	for (int i = 1; i < EVENT_PATH_LEN; i++) {
		if (i >= n - 1)
			break;
		if (b[i] == '/')
			*(volatile __u32 *)last = i;
	}
	__u32 l = *(volatile __u32 *)last;
	if (l == 0)
		return b[0] == '/' ? 1 : 0; /* "/x": the root; "x": none */
	if (l == 1 && b[0] == '.')
		return 0;
	return l;
}

static __always_inline struct dentry *start_dir(struct task_struct *task, int dfd)
{
	struct path at = {};
	if (dfd == AT_FDCWD) {
		read_path(&at, (void *)BPF_CORE_READ(task, fs) +
				       bpf_core_field_offset(struct fs_struct, pwd));
		return at.dentry;
	}
	struct file *f = fd_file(task, dfd);
	if (!f)
		return NULL;
	return BPF_CORE_READ(f, f_path.dentry);
}

/* same_dir_in compares the names in s->name (na bytes read, the old) and
 * s->buf (nb, the new), looked up from odfd and ndfd. A name read to the
 * buffer's end may have been cut: its directory part beyond what was read is
 * unknown ("./" x 127 then "var/tmp/f" and then "home/u/.ssh/f" share their
 * first 255 bytes), so it is never taken for the same directory. */
static __noinline bool same_dir_in(struct scratch *s, int odfd, int ndfd, long na, long nb)
{
	if (!s || na >= EVENT_PATH_LEN || nb >= EVENT_PATH_LEN)
		return false;
	struct task_struct *task = (void *)bpf_get_current_task();
	char *a = s->name;
	char *b = &s->buf[0];
	int la = dir_part(a, na, &s->k);
	int lb = dir_part(b, nb, &s->n);
	if (la < 0 || lb < 0 || la != lb || la >= EVENT_PATH_LEN)
		return false;
	for (int i = 0; i < EVENT_PATH_LEN; i++) {
		if (i >= la)
			break;
		if (a[i] != b[i])
			return false;
	}
	if (a[0] == '/')
		return b[0] == '/';
	if (b[0] == '/')
		return false;
	if (odfd == ndfd)
		return true;
	struct dentry *d = start_dir(task, odfd);
	return d && d == start_dir(task, ndfd);
}

/*
 * watched_name: after same_dir_in said the new name (s->buf) is in the old
 * one's directory, is its last component the name of a watched directory
 * or an ancestor of one (watched_names)? Only then can the rename of a
 * directory, or the rename or hard link of a symbolic link (ln -s /tmp/evil
 * x; ln x ~/.ssh), bring something new (onto ~/.ssh, over /home/alice): it
 * is reported with REPORT_WITHIN, which the prefix filter passes only
 * there. Every other rename or link within one directory (sed -i, editors,
 * dpkg) stops at this one lookup.
 */
static __always_inline bool watched_last(struct scratch *s, const char *b, __u32 l)
{
	if (!filter_prefixes)
		return false;
	__u32 start = b[l & (EVENT_PATH_LEN - 1)] == '/' ? l + 1 : 0;
	__builtin_memset(s->key.data, 0, WATCHED_NAME_LEN);
	bpf_probe_read_kernel_str(s->key.data, WATCHED_NAME_LEN, &b[start & (EVENT_PATH_LEN - 1)]);
	return bpf_map_lookup_elem(&watched_names, s->key.data) != NULL;
}

static __always_inline bool watched_name(struct scratch *s)
{
	return watched_last(s, s->buf, *(volatile __u32 *)&s->n);
}

/* RENAME_EXCHANGE: the old name (s->name, its last '/' at s->k) is a new
 * name too (mv --exchange ~/.ssh ~/evil puts ~/evil's directory at ~/.ssh). */
static __always_inline bool watched_old_name(struct scratch *s)
{
	return watched_last(s, s->name, *(volatile __u32 *)&s->k);
}

/*
 * name_prefix_within: with a name prefix (filter_name_prefixes), a rename or
 * link within one directory goes on to the prefix filter: resolved from its
 * directory in the kernel (lookup_dir for a name with a '/') and matched
 * exactly (/etc/x to /etc/crontab under /etc/cron), with NAME_GATE: one
 * whose directory the lookup could not repeat is counted lost, not reported
 * unresolved (dpkg's "/usr/bin/x.dpkg-new" to "/usr/bin/x", at every
 * upgrade, would flood).
 */
static __always_inline bool name_prefix_within(struct scratch *s)
{
	return filter_name_prefixes;
}

static __always_inline bool same_dir(struct scratch *s, int odfd, __u64 oname, int ndfd,
				     __u64 nname)
{
	long na = bpf_probe_read_user_str(s->name, EVENT_PATH_LEN, (const void *)oname);
	long nb = bpf_probe_read_user_str(s->buf, EVENT_PATH_LEN, (const void *)nname);
	return same_dir_in(s, odfd, ndfd, na, nb);
}

static __always_inline int on_name_exit(struct syscall_args *sc)
{
	if (!sc)
		return 0;
	int odfd = (int)sc->a[0], ndfd = (int)sc->a[2];
	__u64 oname = sc->a[1], nname = sc->a[3];
	__u32 rflags = (__u32)sc->a[4];
	__u32 op = FILE_OP_RENAME;
	switch (sc->kind) {
	case SC_LINK:
		op = FILE_OP_LINK;
		/* fallthrough */
	case SC_RENAME:
		odfd = AT_FDCWD;
		ndfd = AT_FDCWD;
		oname = sc->a[0];
		nname = sc->a[1];
		rflags = 0;
		break;
	case SC_LINKAT:
		op = FILE_OP_LINK;
		break;
	case SC_RENAMEAT:
		rflags = 0;
		break;
	}
	if (!current_wanted())
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	/* linkat(fd, "", ..., AT_EMPTY_PATH) names no directory: counted */
	bool empty = op == FILE_OP_LINK && (rflags & AT_EMPTY_PATH_FLAG);
	bool same = !empty && same_dir(s, odfd, oname, ndfd, nname);
	bool exchange = op == FILE_OP_RENAME && (rflags & RENAME_EXCHANGE_FLAG);
	bool within = same && (name_prefix_within(s) || watched_name(s) ||
			       (exchange && watched_old_name(s)));
	put_scratch(s);
	if (same && !within)
		return 0;
	__u32 f = op << OP_SHIFT | FILE_TYPE_UNKNOWN << TYPE_SHIFT |
		  (within ? REPORT_WITHIN | NAME_GATE : 0);
	name_report(ndfd, nname, f);
	if (op == FILE_OP_RENAME && (rflags & RENAME_EXCHANGE_FLAG))
		name_report(odfd, oname, f);
	return 0;
}

/*
 * A successful link: an O_TMPFILE file's first name (tmpfile_exit), else a
 * named file's new one (names_exit, as for renames). Global functions (see
 * open_exit_btf), apart so that their frames do not add up.
 */
__noinline int tmpfile_exit(void)
{
	return on_link_exit();
}

__noinline int names_exit(struct syscall_args *sc)
{
	return on_name_exit(sc);
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
		return typed ? open_exit_btf(ret, flags) : open_exit_raw(ret, flags);
	case SC_MKNOD:
		/* the same for mknod's AT_FDCWD: one call for both */
		sc.a[2] = sc.a[1];
		sc.a[1] = sc.a[0];
		sc.a[0] = (__u32)(unknown_zero ^ (__u32)AT_FDCWD);
		/* fallthrough */
	case SC_MKNODAT:
		return ret == 0 ? on_mknod_exit((int)sc.a[0], sc.a[1], sc.a[2]) : 0;
	case SC_SYMLINK:
		/* symlink(target, linkpath) is symlinkat(target, AT_FDCWD, linkpath) */
		sc.a[2] = sc.a[1];
		sc.a[1] = (__u32)(unknown_zero ^ (__u32)AT_FDCWD);
		/* fallthrough */
	case SC_SYMLINKAT:
		return ret == 0 ? on_symlink_exit((int)sc.a[1], sc.a[2]) : 0;
	case SC_LINK:
	case SC_LINKAT:
		if (ret != 0 || tmpfile_exit())
			return 0;
		return names_exit(&sc);
	case SC_RENAME:
	case SC_RENAMEAT:
	case SC_RENAMEAT2:
		return ret == 0 ? names_exit(&sc) : 0;
	}
	return 0;
}

/*
 * sys_exit_work: everything past the reject prologue (sys_exit_watched), in
 * a function of its own (static: the verifier follows it with the caller's
 * register types, the tp_btf pointer included). The JIT gives it its own
 * prologue, stack frame and callee-saved registers, so the program's own
 * entry, which every syscall of the machine runs, has none of them.
 */
static __noinline int sys_exit_work_btf(struct pt_regs *regs, long ret)
{
	return on_sys_exit(regs, ret, true);
}

static __noinline int sys_exit_work_raw(struct pt_regs *regs, long ret)
{
	return on_sys_exit(regs, ret, false);
}

#endif /* KERNELEVENTS_SYSEXIT_H */
