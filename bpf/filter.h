/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The in-kernel filters: the collector itself, effective uids, excluded
 * comms and cgroups (task_wanted, before any path work) and the path-prefix
 * trie (applied by report() to the resolved path). The loader fills the
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

const volatile bool filter_uids = false;
const volatile bool filter_comms = false;
const volatile bool filter_cgroups = false;
const volatile bool filter_prefixes = false;

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

#endif /* KERNELEVENTS_FILTER_H */
