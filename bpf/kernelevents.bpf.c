//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * kernelevents: one sample per file created in the kernel.
 *
 * Hooks (the Go loader picks one set at start, see internal/probe):
 *   kretprobe/do_filp_open   kprobes (any kernel with BTF, 5.8+ for the ring buffer),
 *                            with kprobe/security_path_{mknod,symlink,link,rename}
 *                            and kretprobe/vfs_{create,symlink,link,rename}
 *   fexit/do_filp_open       BPF trampolines (5.8+ with BTF), with
 *                            fentry/security_path_{mknod,symlink,link,rename} and
 *                            fexit/vfs_{create,symlink,link,rename}
 *   kprobe+kretprobe/ovl_copy_up_one, fentry+fexit/ovl_copy_up_one
 *                            overlayfs copy-up into the upper layer, beside the
 *                            two sets above (copyup.h; optional)
 *   tp_btf/sys_exit          every syscall's exit, native and 32-bit (5.5+ with
 *                            BTF, no tracefs): open, openat, openat2, creat,
 *                            mknod, mknodat, symlink, symlinkat, link, linkat,
 *                            rename, renameat, renameat2
 *   raw_tp/io_uring_{complete,submit_req,cqe_overflow}, beside sys_exit
 *                            (no tracefs either), for IORING_OP_OPENAT{,2},
 *                            RENAMEAT, SYMLINKAT and LINKAT (io_uring 5.6+; submit_req
 *                            was submit_sqe before 6.3)
 *   tp_btf/{inode_set_ctime_to_ts,ctime_xchg_skip,ctime_ns_xchg}, beside
 *                            sys_exit: overlayfs copy-up (6.13+; copyup.h,
 *                            optional)
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
 *
 * This file holds the programs (SEC(...)); what they share is in headers by
 * concern (CONTRIBUTING.md lists them): the tracepoint hook's syscall
 * decoding and handlers in syscall.h and sysexit.h, io_uring in iouring.h,
 * the kretprobe/fexit mknod and link state in vfs.h, overlayfs copy-up in
 * copyup.h.
 */
#include "vmlinux.h"
#include "arch.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_tracing.h"
#include "bpf/bpf_core_read.h"
#include "copyup.h"
#include "event.h"
#include "exec.h"
#include "fd.h"
#include "filter.h"
#include "identity.h"
#include "iouring.h"
#include "kernel.h"
#include "output.h"
#include "path.h"
#include "report.h"
#include "scratch.h"
#include "syscall.h"
#include "sysexit.h"
#include "tmpfile.h"
#include "urnames.h"
#include "vfs.h"
#include "window.h"

char __license[] SEC("license") = "Dual MIT/GPL";

SEC("kretprobe/do_filp_open")
int BPF_KRETPROBE(kretprobe_do_filp_open, struct file *f)
{
	/* no arguments at return: every open gives back its create's slot,
	 * and any that failed may have created (vfs.h: open_create_done) */
	bool failed = (unsigned long)f >= (unsigned long)-MAX_ERRNO;
	open_create_done(failed, NULL, HOOK_KRETPROBE);
	if (failed)
		return 0;
	/* f_mode alone first: four bytes, not the window on_file reads for
	 * a creation (see fexit_do_filp_open) */
	if (!(BPF_CORE_READ(f, f_mode) & FMODE_CREATED))
		return 0;
	return on_file(f, HOOK_KRETPROBE, 0, true);
}

/*
 * fs/namei.c: struct file *do_filp_open(int dfd, struct filename *pathname,
 *                                       const struct open_flags *op)
 */
SEC("fexit/do_filp_open")
int BPF_PROG(fexit_do_filp_open, int dfd, struct filename *pathname, const struct open_flags *op,
	     struct file *f)
{
	bool failed = (unsigned long)f >= (unsigned long)-MAX_ERRNO;
	/* an O_CREAT open gives back its create's slot, and reports the
	 * create when it failed after it (vfs.h: open_create_done) */
	if (op->open_flag & O_CREAT)
		open_create_done(failed, pathname, HOOK_FEXIT);
	if (failed)
		return 0;
	/* Every open of the machine comes here, nearly all creating nothing:
	 * f is the kernel's own (a BTF pointer), so its f_mode is one plain
	 * load, not a helper call that copies a window of the file (issue 28:
	 * most of an open's cost above an empty fexit program was that). */
	if (!(f->f_mode & FMODE_CREATED))
		return 0;
	return on_file(f, HOOK_FEXIT, 0, true);
}

SEC("kprobe/security_path_mknod")
int BPF_KPROBE(kprobe_security_path_mknod, const struct path *dir, struct dentry *dentry,
	       umode_t mode)
{
	return on_path_mknod(dir, dentry, mode);
}

/* fs/dcache.c: void d_instantiate(struct dentry *entry, struct inode *inode),
 *              void d_instantiate_new(struct dentry *entry, struct inode *inode) */
SEC("kprobe/d_instantiate")
int BPF_KPROBE(kprobe_instantiate, struct dentry *dentry, struct inode *inode)
{
	return on_instantiate(dentry, inode, false);
}

SEC("kprobe/d_instantiate_new")
int BPF_KPROBE(kprobe_instantiate_new, struct dentry *dentry, struct inode *inode)
{
	return on_instantiate(dentry, inode, false);
}

SEC("fentry/d_instantiate")
int BPF_PROG(fentry_instantiate, struct dentry *dentry, struct inode *inode)
{
	return on_instantiate(dentry, inode, true);
}

SEC("fentry/d_instantiate_new")
int BPF_PROG(fentry_instantiate_new, struct dentry *dentry, struct inode *inode)
{
	return on_instantiate(dentry, inode, true);
}

SEC("kretprobe/vfs_create")
int BPF_KRETPROBE(kretprobe_vfs_create, int ret)
{
	return on_vfs_done(&mknod_pending, &mknod_pending_n, NULL, ret, HOOK_KRETPROBE);
}

SEC("kprobe/security_path_link")
int BPF_KPROBE(kprobe_security_path_link, struct dentry *old, const struct path *new_dir,
	       struct dentry *new)
{
	return on_path_link(old, new_dir, new);
}

SEC("kretprobe/vfs_link")
int BPF_KRETPROBE(kretprobe_vfs_link, int ret)
{
	copyup_named(ret);
	return on_vfs_done(&link_pending, NULL, NULL, ret, HOOK_KRETPROBE);
}

/*
 * security/security.c: int security_path_mknod(const struct path *dir, struct dentry *dentry,
 *                                              umode_t mode, unsigned int dev)
 */
SEC("fentry/security_path_mknod")
int BPF_PROG(fentry_security_path_mknod, const struct path *dir, struct dentry *dentry,
	     umode_t mode)
{
	return on_path_mknod(dir, dentry, mode);
}

/*
 * fs/namei.c: int vfs_create(idmap (5.12-6.2: mnt_userns), struct inode *dir,
 *                            struct dentry *dentry, umode_t mode, bool want_excl)
 */
SEC("fexit/vfs_create")
int BPF_PROG(fexit_vfs_create, void *idmap, struct inode *dir, struct dentry *dentry, umode_t mode,
	     bool want_excl, int ret)
{
	return on_vfs_done(&mknod_pending, &mknod_pending_n, dentry, ret, HOOK_FEXIT);
}

/*
 * security/security.c: int security_path_link(struct dentry *old_dentry,
 *                                             const struct path *new_dir,
 *                                             struct dentry *new_dentry)
 */
SEC("fentry/security_path_link")
int BPF_PROG(fentry_security_path_link, struct dentry *old, const struct path *new_dir,
	     struct dentry *new)
{
	return on_path_link(old, new_dir, new);
}

/*
 * fs/namei.c: int vfs_link(struct dentry *old_dentry, idmap, struct inode *dir,
 *                          struct dentry *new_dentry, struct inode **delegated_inode)
 */
SEC("fexit/vfs_link")
int BPF_PROG(fexit_vfs_link, struct dentry *old, void *idmap, struct inode *dir, struct dentry *new,
	     void *delegated, int ret)
{
	copyup_named(ret);
	return on_vfs_done(&link_pending, NULL, new, ret, HOOK_FEXIT);
}

/* kretprobe and fexit hooks: a thread's kept VFS entries go at its exit
 * (on_vfs_task_exit); kernel/exit.c do_exit runs the tracepoint in the
 * exiting thread. */
SEC("raw_tp/sched_process_exit")
int raw_tp_vfs_task_exit(struct bpf_raw_tracepoint_args *ctx)
{
	return on_vfs_task_exit();
}

SEC("kprobe/security_path_symlink")
int BPF_KPROBE(kprobe_security_path_symlink, const struct path *dir, struct dentry *dentry)
{
	return on_path_symlink(dir, dentry);
}

SEC("kretprobe/vfs_symlink")
int BPF_KRETPROBE(kretprobe_vfs_symlink, int ret)
{
	return on_vfs_done(&symlink_pending, NULL, NULL, ret, HOOK_KRETPROBE);
}

/*
 * security/security.c: int security_path_symlink(const struct path *dir,
 *     struct dentry *dentry, const char *old_name)
 */
SEC("fentry/security_path_symlink")
int BPF_PROG(fentry_security_path_symlink, const struct path *dir, struct dentry *dentry)
{
	return on_path_symlink(dir, dentry);
}

/*
 * fs/namei.c: int vfs_symlink(idmap (5.12-6.2: mnt_userns), struct inode *dir,
 *                             struct dentry *dentry, const char *oldname)
 */
SEC("fexit/vfs_symlink")
int BPF_PROG(fexit_vfs_symlink, void *idmap, struct inode *dir, struct dentry *dentry,
	     const char *oldname, int ret)
{
	return on_vfs_done(&symlink_pending, NULL, dentry, ret, HOOK_FEXIT);
}

SEC("kprobe/security_path_rename")
int BPF_KPROBE(kprobe_security_path_rename, const struct path *old_dir, struct dentry *old,
	       const struct path *new_dir, struct dentry *new, unsigned int flags)
{
	return on_path_rename(old_dir, old, new_dir, new, flags);
}

SEC("kretprobe/vfs_rename")
int BPF_KRETPROBE(kretprobe_vfs_rename, int ret)
{
	copyup_named(ret);
	return on_rename_done(NULL, ret, HOOK_KRETPROBE);
}

/*
 * security/security.c: int security_path_rename(const struct path *old_dir,
 *     struct dentry *old_dentry, const struct path *new_dir,
 *     struct dentry *new_dentry, unsigned int flags)
 */
SEC("fentry/security_path_rename")
int BPF_PROG(fentry_security_path_rename, const struct path *old_dir, struct dentry *old,
	     const struct path *new_dir, struct dentry *new, unsigned int flags)
{
	return on_path_rename(old_dir, old, new_dir, new, flags);
}

/* fs/namei.c: int vfs_rename(struct renamedata *rd) (5.12+) */
SEC("fexit/vfs_rename")
int BPF_PROG(fexit_vfs_rename, struct renamedata *rd, int ret)
{
	copyup_named(ret);
	return on_rename_done(BPF_CORE_READ(rd, old_dentry), ret, HOOK_FEXIT);
}

/*
 * overlayfs copy-up (copyup.h), kretprobe and fexit hooks: optional
 * programs, loaded where the kernel's BTF has overlayfs (built in, or its
 * module loaded before the receiver started).
 * fs/overlayfs/copy_up.c: static int ovl_copy_up_one(struct dentry *parent,
 *                                                   struct dentry *dentry, int flags)
 */
SEC("kprobe/ovl_copy_up_one")
int BPF_KPROBE(kprobe_ovl_copy_up_one, struct dentry *parent, struct dentry *dentry)
{
	return on_copy_up_enter(dentry);
}

SEC("kretprobe/ovl_copy_up_one")
int BPF_KRETPROBE(kretprobe_ovl_copy_up_one, int ret)
{
	return on_copy_up_exit(ret, HOOK_KRETPROBE);
}

SEC("fentry/ovl_copy_up_one")
int BPF_PROG(fentry_ovl_copy_up_one, struct dentry *parent, struct dentry *dentry)
{
	return on_copy_up_enter(dentry);
}

SEC("fexit/ovl_copy_up_one")
int BPF_PROG(fexit_ovl_copy_up_one, struct dentry *parent, struct dentry *dentry, int flags,
	     int ret)
{
	return on_copy_up_exit(ret, HOOK_FEXIT);
}

/* include/trace/events/syscalls.h: sys_exit(struct pt_regs *regs, long ret) */
SEC("tp_btf/sys_exit")
int BPF_PROG(tp_sys_exit, struct pt_regs *regs, long ret)
{
	if (sys_exit_watched(regs, true) && ret >= 0)
		sys_exit_work_btf(regs, ret);
	/* after the call's own creations (which take their files back from
	 * the kept inodes), any copy-up of the call (copyup.h); from here, not
	 * inside sys_exit_work: the stack of that chain stays in 512 bytes */
	return upper_waiting ? upper_exit(1) : 0;
}

/*
 * Core dumps, for the tracepoint hook: the kernel writes the core file
 * itself (fs/coredump.c vfs_coredump, from the signal delivery of the
 * crashing process: no syscall), and no tracepoint shows that file. The
 * thread that dumped carries PF_DUMPCORE, and its exit code the core flag
 * (0x80, coredump_finish) once a dump was written, to a file or to a
 * core_pattern pipe: counted at its exit as core_dump_unobserved, for the
 * process the task filters take (an upper bound: a pipe to a helper writes
 * no file here). kretprobe and fexit see the file at do_filp_open.
 * include/trace/events/sched.h: sched_process_exit(struct task_struct *p, ...)
 */
static __always_inline int on_task_exit(struct task_struct *p)
{
	on_exec_exit(p);
	__u32 pf = BPF_CORE_READ(p, flags);
	/* an io_uring worker's copy-ups not taken at a completion; a core
	 * dump's file, counted below */
	if (upper_waiting)
		upper_exit(!(pf & PF_DUMPCORE));
	/* io_uring threads' copy-ups: taken at any thread's exit; all at the
	 * last one's (the process is dead: signal->live is 0) */
	if (upper_wq_procs)
		upper_wq_take(!BPF_CORE_READ(p, signal, live.counter), !(pf & PF_DUMPCORE));
	if (!(pf & PF_DUMPCORE) || !(BPF_CORE_READ(p, exit_code) & 0x80))
		return 0;
	if (current_wanted())
		count(COUNTER_CORE_DUMP);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_sched_process_exit, struct task_struct *p)
{
	return on_task_exit(p);
}

SEC("raw_tp/sched_process_exit")
int raw_tp_sched_process_exit(struct bpf_raw_tracepoint_args *ctx)
{
	return on_task_exit((void *)ctx->args[0]);
}

/*
 * The tracepoint hook's copy-up (copyup.h, on_ctime): the timestamp
 * tracepoints (include/trace/events/timestamp.h, 6.13+), each with the
 * inode first: inode_set_ctime_to_ts(struct inode *, struct timespec64 *),
 * ctime_xchg_skip(struct inode *, struct timespec64 *),
 * ctime_ns_xchg(struct inode *, u32 old, u32 new, u32 cur). Optional: on
 * an older kernel the hook runs without them and says so.
 */
SEC("tp_btf/inode_set_ctime_to_ts")
int BPF_PROG(tp_inode_set_ctime_to_ts, struct inode *inode)
{
	return on_ctime(inode);
}

SEC("tp_btf/ctime_xchg_skip")
int BPF_PROG(tp_ctime_xchg_skip, struct inode *inode)
{
	return on_ctime(inode);
}

SEC("tp_btf/ctime_ns_xchg")
int BPF_PROG(tp_ctime_ns_xchg, struct inode *inode)
{
	return on_ctime(inode);
}

/*
 * The same on the raw tracepoint, for kernels whose own BTF is missing (the
 * programs relocated against btf_path): every register is a probe read.
 */
SEC("raw_tp/sys_exit")
int BPF_PROG(raw_tp_sys_exit, struct pt_regs *regs, long ret)
{
	if (sys_exit_watched(regs, false) && ret >= 0)
		sys_exit_work_raw(regs, ret);
	return upper_waiting ? upper_exit(1) : 0;
}

/* on_submit: opens, renames and links are kept until their completion. */
static __always_inline int on_submit(struct io_kiocb *req)
{
	if (!bpf_core_type_exists(struct io_kiocb))
		return 0;
	__u8 op = req_opcode(req);
	if (is_name_op(op))
		return on_uring_name_submit(req, op);
	uring_name_forget((__u64)req);
	return on_uring_submit(req);
}

/*
 * The io_uring programs are raw tracepoints: they attach without tracefs
 * (BPF_RAW_TRACEPOINT_OPEN) and read the tracepoint's arguments as the
 * kernel passes them, which do not depend on how the event is formatted.
 * include/trace/events/io_uring.h: io_uring_submit_req(struct io_kiocb *req)
 * (6.3+), io_uring_submit_sqe(struct io_kiocb *req, bool force_nonblock)
 * before (6.1 has it): the loader keeps the one the kernel has.
 */
SEC("raw_tp/io_uring_submit_req")
int tp_io_uring_submit_req(struct bpf_raw_tracepoint_args *ctx)
{
	return on_submit((void *)ctx->args[0]);
}

SEC("raw_tp/io_uring_submit_sqe")
int tp_io_uring_submit_sqe(struct bpf_raw_tracepoint_args *ctx)
{
	return on_submit((void *)ctx->args[0]);
}

/*
 * An open's completion, as a global function: its frame (the file's path
 * walk) does not add to the io_uring program's, which also calls
 * uring_name_done (the combined stack of a chain of calls is 512 bytes).
 */
__noinline int uring_open_done(__u64 ring, __u64 reqp, int res)
{
	if (!bpf_core_type_exists(struct io_kiocb) || !bpf_core_type_exists(struct io_open))
		return 0;
	struct io_kiocb *req = (void *)reqp;
	uring_forget(reqp);
	struct io_open *open = req_open(req);
	__u64 how = BPF_CORE_READ(open, how.flags);
	__u32 slot = BPF_CORE_READ(open, file_slot);
	if (res < 0) {
		/*
		 * io_uring/openclose.c io_openat2: a direct descriptor is taken
		 * after do_filp_open made the file; no free slot (-ENFILE), a
		 * slot past the table (-EINVAL) or no table (-ENXIO) fails the
		 * request with the file created and dropped. Counted for an
		 * O_CREAT open with those results (an upper bound: the same
		 * results from the open itself created nothing).
		 */
		if (slot && (how & O_CREAT) && (res == -23 || res == -22 || res == -6) &&
		    uring_task_wanted())
			count(COUNTER_URING_INSTALL);
		return 0;
	}
	return on_uring_file(uring_result_file((void *)ring, slot, res), how);
}

/*
 * io_uring_complete(ctx, req, ...): the rest of its arguments changed
 * (6.1: user_data, res, cflags, extra1, extra2; later a struct
 * io_uring_cqe *); the result is the request's own cqe.res, which the
 * kernel posts (req NULL for a CQE that belongs to no request).
 */
static __always_inline void uring_req_done(struct bpf_raw_tracepoint_args *ctx,
					   struct io_kiocb *req)
{
	__u8 op = req_opcode(req);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2 && !is_name_op(op))
		return;
	int res = BPF_CORE_READ(req, cqe.res);
	if (op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2)
		uring_open_done(ctx->args[0], (__u64)req, res);
	else if (uring_name_n)
		uring_name_done((__u64)req, res);
}

SEC("raw_tp/io_uring_complete")
int tp_io_uring_complete(struct bpf_raw_tracepoint_args *ctx)
{
	if (!bpf_core_type_exists(struct io_kiocb))
		return 0;
	struct io_kiocb *req = (void *)ctx->args[1];
	if (req)
		uring_req_done(ctx, req);
	/* io_uring threads' copy-ups (a worker's open for write, setxattr,
	 * ...): at any completion of the process, wherever its request
	 * completes (a DEFER_TASKRUN ring's in the submitter), after the
	 * request's own creation took its file back (on_uring_file) */
	if (upper_wq_n)
		upper_wq_take(0, 1);
	return 0;
}

/*
 * io_uring_cqe_overflow (5.19+): on 6.18 a completion that finds the CQ ring
 * full goes to the overflow list without io_uring_complete (6.1 fires
 * io_uring_complete first, which removed the entry: no double count).
 */
/* io_uring_cqe_overflow(void *ctx, unsigned long long user_data, s32 res,
 *                       u32 cflags, void *ocqe) */
SEC("raw_tp/io_uring_cqe_overflow")
int tp_io_uring_cqe_overflow(struct bpf_raw_tracepoint_args *ctx)
{
	struct overflow_match m = {
		.ctx = ctx->args[0],
		.user_data = ctx->args[1],
		.res = (__s32)ctx->args[2],
	};
	if (uring_name_n) {
		bpf_for_each_map_elem(&uring_names, match_name, &m, 0);
		if (m.req)
			return uring_name_done(m.req, m.res);
	}
	if (!uring_open_n)
		return 0;
	bpf_for_each_map_elem(&uring_opens, match_open, &m, 0);
	if (!m.req)
		return 0;
	return uring_open_done(ctx->args[0], m.req, m.res);
}

/*
 * include/trace/events/sched.h: sched_process_exec(struct task_struct *p,
 * pid_t old_pid, struct linux_binprm *bprm). Every hook loads one of the
 * two (bpf/exec.h): the executable as the kernel knew it at exec.
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_sched_process_exec)
{
	return on_exec();
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(raw_tp_sched_process_exec)
{
	return on_exec();
}

/*
 * include/trace/events/sched.h: sched_process_fork(struct task_struct
 * *parent, struct task_struct *child): a new process inherits its parent's
 * exec record (bpf/exec.h).
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(raw_tp_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}
