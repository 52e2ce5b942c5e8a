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
 * Losses by the cgroup v2 id of the task whose creation was lost, for every
 * reason count() counts: whose evidence was lost (a tenant flooding the ring
 * to hide another's creation shows up as the other's loss). A value holds a
 * cgroup's count of each reason, by enum counter_idx. Bounded: past
 * LOST_CGROUPS_MAX cgroups (or when the map is busy on this CPU) a loss is
 * counted under key 0, which the loader creates (no cgroup has id 0). The
 * host-wide counts stay in counters.
 */
#define LOST_CGROUPS_MAX 1024
/* COUNTER_MAX rounded up to a power of two: the index is masked, which every
 * kernel's verifier takes as a bound. */
#define LOST_REASONS 8
_Static_assert(COUNTER_MAX <= LOST_REASONS, "LOST_REASONS holds every counter");
struct lost_counts {
	__u64 n[LOST_REASONS];
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LOST_CGROUPS_MAX + 1);
	__type(key, __u64);
	__type(value, struct lost_counts);
} lost_cgroups SEC(".maps");

/* A new cgroup's entry, before its first loss is added. */
static const struct lost_counts lost_zero = {};

/* Makes bpf2go emit the Go type (-type event). */
struct event *unused_event __attribute__((unused));

/*
 * count_lost_cgroup adds a loss of reason idx to the current task's cgroup
 * (key 0 past LOST_CGROUPS_MAX cgroups). Global (verified once, on its own):
 * the programs that count a loss in a path walk do not grow by its branches.
 */
__noinline int count_lost_cgroup(__u32 idx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct lost_counts *v = bpf_map_lookup_elem(&lost_cgroups, &cg);
	if (!v) {
		/* Fails when another CPU added it (found next) or the map is full. */
		bpf_map_update_elem(&lost_cgroups, &cg, &lost_zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&lost_cgroups, &cg);
		if (!v) {
			__u64 overflow = 0;
			v = bpf_map_lookup_elem(&lost_cgroups, &overflow);
		}
	}
	if (v)
		__sync_fetch_and_add(&v->n[idx & (LOST_REASONS - 1)], 1);
	return 0;
}

/* count counts a loss of reason idx, host-wide and for the current task's
 * cgroup: the task whose creation was lost (the io_uring submitter, its
 * io-wq worker or SQPOLL thread for an io_uring request). A loss counted
 * where the current task is not the one that made the file would need
 * its own way to name the cgroup, not count(). */
static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	/* Atomic: a preempted read-modify-write (see scratch_map) would lose
	 * the increments of the programs that ran in between. */
	if (v)
		__sync_fetch_and_add(v, 1);
	count_lost_cgroup(idx);
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
