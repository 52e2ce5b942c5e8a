/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * Where samples go: the ring buffer, its wakeup policy, and the per-CPU
 * counters of samples that could not be delivered (COUNTER_* in event.h).
 */
#ifndef KERNELEVENTS_OUTPUT_H
#define KERNELEVENTS_OUTPUT_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"

/* Set by the loader before load (spec.Variables). */
const volatile __u64 wakeup_bytes = 0;

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

/*
 * Ring-buffer losses by the cgroup v2 id of the task whose sample found the
 * ring full: whose evidence was lost (a tenant flooding the ring to hide
 * another's creation shows up as the other's loss). Bounded: past
 * LOST_CGROUPS_MAX cgroups a loss is counted under key 0, which the loader
 * creates (no cgroup has id 0). The host-wide count stays COUNTER_LOST.
 */
#define LOST_CGROUPS_MAX 1024
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LOST_CGROUPS_MAX + 1);
	__type(key, __u64);
	__type(value, __u64);
} lost_cgroups SEC(".maps");

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

static __always_inline void count_lost_cgroup(void)
{
	__u64 cg = bpf_get_current_cgroup_id();
	__u64 *v = bpf_map_lookup_elem(&lost_cgroups, &cg);
	if (!v) {
		__u64 one = 1;
		if (!bpf_map_update_elem(&lost_cgroups, &cg, &one, BPF_NOEXIST))
			return;
		/* Another CPU added it, or the map is full: key 0. */
		v = bpf_map_lookup_elem(&lost_cgroups, &cg);
		if (!v) {
			__u64 overflow = 0;
			v = bpf_map_lookup_elem(&lost_cgroups, &overflow);
		}
	}
	if (v)
		__sync_fetch_and_add(v, 1);
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

#endif /* KERNELEVENTS_OUTPUT_H */
