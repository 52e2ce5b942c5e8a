/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The tracepoint hook's registry of O_TMPFILE files without a name, from
 * the open that made them to the link that names them (on_link_exit).
 */
#ifndef KERNELEVENTS_TMPFILE_H
#define KERNELEVENTS_TMPFILE_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "output.h"
#include "report.h"

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
	bool purge_named; /* drop this process's named entries (io_uring linked them) */
	__u64 inode, mnt; /* linked, registered by this process */
};

static long scan_tmpfile(struct bpf_map *map, __u64 *key, struct tmpfile_info *v,
			 struct tmpfile_scan *c)
{
	struct inode *inode = (void *)*key;
	if (BPF_CORE_READ(inode, i_ino) != v->ino || BPF_CORE_READ(inode, i_count.counter) == 0) {
		/* freed (and maybe reused): the file was closed unnamed */
		bpf_map_delete_elem(map, key);
		return 0;
	}
	if (c->purge_only || BPF_CORE_READ(inode, __i_nlink) == 0)
		return 0;
	if (v->tgid == c->tgid) {
		if (c->purge_named) {
			bpf_map_delete_elem(map, key);
			return 0;
		}
		c->inode = *key;
		c->mnt = v->mnt;
		return 1;
	}
	/*
	 * Named, but registered by another process: named by a link this
	 * process did not make (through io_uring, counted there as a link), or
	 * one another process is making (a child after fork, a file passed
	 * over a socket), which that process's own link reports by its new
	 * name (FILE_OP_LINK, sysexit.h). Never credited to this process:
	 * dropped from the registry.
	 */
	bpf_map_delete_elem(map, key);
	return 0;
}

/*
 * forget_named_tmpfiles drops the current process's registered O_TMPFILE
 * files that have a name now: after an io_uring link of this process, which
 * reported the name itself (urnames.h), so that its next link(2) does not
 * report one of them again in place of its own.
 */
static __always_inline void forget_named_tmpfiles(void)
{
	struct tmpfile_scan c = {.tgid = bpf_get_current_pid_tgid() >> 32, .purge_named = true};
	bpf_for_each_map_elem(&tmpfiles, scan_tmpfile, &c, 0);
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

/* on_link_exit reports the O_TMPFILE file a link named; false: none. */
static __always_inline bool on_link_exit(void)
{
	struct tmpfile_scan c = {.tgid = bpf_get_current_pid_tgid() >> 32};
	bpf_for_each_map_elem(&tmpfiles, scan_tmpfile, &c, 0);
	if (!c.inode)
		return false;
	__u64 key = c.inode;
	bpf_map_delete_elem(&tmpfiles, &key);
	struct inode *inode = (void *)c.inode;
	void *first = BPF_CORE_READ(inode, i_dentry.first);
	if (!first)
		return true;
	struct dentry *d = first - bpf_core_field_offset(struct dentry, d_u.d_alias);
	report_dentry(d, (void *)c.mnt, HOOK_TRACEPOINT, EVENT_F_TMPFILE_LINK);
	return true;
}

#endif /* KERNELEVENTS_TMPFILE_H */
