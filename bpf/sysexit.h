/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The tracepoint hook's handlers at sys_exit: opens (on_open_exit), mknod
 * (on_mknod_exit) and links (on_link_exit, tmpfile.h), dispatched by
 * on_sys_exit.
 */
#ifndef KERNELEVENTS_SYSEXIT_H
#define KERNELEVENTS_SYSEXIT_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "fd.h"
#include "filter.h"
#include "kernel.h"
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
 * mknod at sys_exit: the created dentry is not reachable from the
 * registers. The directory is: the cwd or dfd's file, walked as any file's.
 * A name without '/' (past a leading one) is then the last component and
 * the path is the kernel's. A name with '/' went through a lookup BPF cannot
 * repeat (symlinks, ".", "..", "//"): the sample carries it as written,
 * flagged EVENT_F_UNRESOLVED, bypasses the in-kernel prefix filter, and is
 * reported unresolved: never resolved later in user space, where a symlink
 * swapped after the mknod would put the file under a decoy. Limits (tracepoint hook only; kretprobe
 * and fexit take the dentry): the name is read from user memory after the syscall, so a sibling
 * thread that rewrites the buffer, chdir()s or dup2()s over dfd in that window changes the name or
 * directory reported. A second read at sys_enter would need a program on every syscall's entry too
 * (twice the per-syscall cost) and would still miss a rewrite that is undone between the kernel's
 * copy and either read, so there is none.
 */
static __always_inline void mknod_report(struct scratch *s, struct task_struct *task,
					 __u64 pid_tgid, __u64 uid_gid, char *comm, int dfd,
					 __u64 filename)
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
	start_path(s);
	__u32 off = PATH_BUF - len;
	bpf_probe_read_kernel(&s->buf[off & (PATH_BUF - 1)], len, s->name);
	s->off = off;
	__u8 pflags = truncated ? EVENT_F_TRUNCATED : 0;
	/* The directory the name starts from: the task's root for an absolute
	 * name (a chroot's or a private mount namespace's root: walked to its
	 * filesystem's root like any directory), else the cwd or dfd. */
	struct path at = {};
	if (s->name[0] == '/') {
		read_path(&at, (void *)BPF_CORE_READ(task, fs) +
				       bpf_core_field_offset(struct fs_struct, root));
	} else if (dfd == AT_FDCWD) {
		read_path(&at, (void *)BPF_CORE_READ(task, fs) +
				       bpf_core_field_offset(struct fs_struct, pwd));
	} else {
		struct file *dir = fd_file(task, dfd);
		if (!dir) {
			count(COUNTER_FD_RACE); /* dfd closed by another thread since */
			return;
		}
		read_path(&at, (void *)dir + bpf_core_field_offset(struct file, f_path));
	}
	if (s->name[0] != '/') {
		off -= 1;
		s->buf[off & (PATH_BUF - 1)] = '/';
		s->off = off;
	}
	pflags |= resolve(s, at.dentry, at.mnt);
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

#endif /* KERNELEVENTS_SYSEXIT_H */
