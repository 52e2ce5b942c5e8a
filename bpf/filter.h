/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The in-kernel filters: the collector itself, effective uids, excluded
 * comms and cgroups (task_wanted, before any path work) and the path-prefix
 * trie (applied by report() to the filesystem and path inside it). The loader fills the
 * maps and sets the filter_* switches.
 */
#ifndef KERNELEVENTS_FILTER_H
#define KERNELEVENTS_FILTER_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"

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
/* The collector's pid namespace is the initial one: self_tgid is then the
 * kernel's own tgid, compared as it is (no helper call). */
const volatile bool self_init_pidns = false;

const volatile bool filter_uids = false;
const volatile bool filter_comms = false;
const volatile bool filter_cgroups = false;
const volatile bool filter_prefixes = false;
/* Some prefix does not end in '/': a name prefix (/etc/cron matches
 * /etc/crontab), which a name can start to match by a rename or a link
 * within one directory (/etc/x to /etc/crontab). Then every rename and link
 * within one directory goes to report(), which passes it only where a name
 * prefix (PREFIX_NAME) is the longest match. */
const volatile bool filter_name_prefixes = false;

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

#define PREFIX_LEN 128

/*
 * The path-prefix filter's key: a filesystem (kernel dev_t, always matched
 * whole: prefixlen counts its 32 bits) and a path inside it from its own
 * root. The loader resolves each configured node path through the node's
 * mount table (internal/probe), so every mount of a watched directory
 * matches: a bind mount in a private namespace, a chroot, a detached mount.
 */
/*
 * Besides the prefixes themselves, the loader puts in every ancestor
 * directory of a prefix inside its filesystem ("/home/u/" for
 * "/home/u/.ssh/"), as "dir/" followed by a NUL, counted in prefixlen: such
 * a key matches only a lookup of that whole directory with a NUL after it,
 * which report() makes for a directory renamed into place (never a file's
 * path, which holds no NUL). A directory that replaces an ancestor brings
 * the watched directory with it.
 */
struct prefix_key {
	__u32 prefixlen; /* in bits, as BPF_MAP_TYPE_LPM_TRIE wants */
	__u32 dev;
	__u8 data[PREFIX_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096); /* a configured prefix can take several keys */
	__type(key, struct prefix_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} path_prefixes SEC(".maps");

/* path_prefixes' values: a prefix, or an exact key ("dir/" and a NUL: a
 * watched directory itself or an ancestor of one), or a name prefix. */
#define PREFIX_KEY 1
#define PREFIX_EXACT 2
#define PREFIX_NAME 3 /* a prefix not ending in '/' (filter_name_prefixes) */

/*
 * The names (each component, cut at WATCHED_NAME_LEN - 1 bytes) of every
 * watched directory and its ancestors inside their filesystems: a
 * directory renamed within one directory can only become a watched
 * directory, or an ancestor of one, under one of these names. The
 * tracepoint hook, which does not know a renamed file's type, looks the new
 * name up here before it pays for a path walk (sysexit.h).
 */
#define WATCHED_NAME_LEN 64

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, char[WATCHED_NAME_LEN]);
	__type(value, __u8);
} watched_names SEC(".maps");

/* report()'s flag, never in a sample: a rename (or link) within one
 * directory, which brings something new only to a watched directory itself
 * or an ancestor (PREFIX_EXACT), or under a name prefix (PREFIX_NAME), and
 * nothing without a prefix filter. */
#define REPORT_WITHIN (1U << 24)

/*
 * The filesystems (kernel dev_t) the node's mount table has, when the loader
 * last read it: the prefix filter drops a file only on one of these. A file
 * on any other (a tmpfs or overlay mounted only in a private namespace) is
 * passed to user space, which reads the table again and labels it
 * unresolved when still unknown.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} node_devs SEC(".maps");

/*
 * Cheap per-task filters, before any path work: the collector itself,
 * effective uids not asked for, excluded comms and cgroups.
 */
static __always_inline bool task_wanted(__u64 pid_tgid, __u64 uid_gid, char *comm)
{
	if (self_tgid && self_init_pidns) {
		if ((__u32)(pid_tgid >> 32) == self_tgid)
			return false;
	} else if (self_tgid) {
		/* Fails (-EINVAL, -ENOENT) for every task outside the collector's
		 * pid namespace: those are not the collector. */
		struct bpf_pidns_info ns = {};
		if (!bpf_get_ns_current_pid_tgid(self_pidns_dev, self_pidns_ino, &ns, sizeof(ns)) &&
		    ns.tgid == self_tgid)
			return false;
	}
	if (filter_uids) {
		/* The effective uid: whose authority the file is created with. */
		__u32 euid = bpf_get_current_task_btf()->cred->euid.val;
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

#endif /* KERNELEVENTS_FILTER_H */
