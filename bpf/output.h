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
