/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The per-CPU scratch buffers the path is built in: their dimensions, the
 * slots, and claiming and releasing one (get_scratch, put_scratch).
 */
#ifndef KERNELEVENTS_SCRATCH_H
#define KERNELEVENTS_SCRATCH_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"
#include "event.h"
#include "filter.h"
#include "output.h"

/*
 * The path is built backwards into a per-CPU scratch buffer, leaf last, the
 * way d_path() does. PATH_BUF bounds the whole path, MAX_DEPTH the number of
 * components walked (the verifier needs both bounded). Names are at most
 * NAME_MAX (255) bytes.
 */
#define PATH_BUF 1024
#define NAME_MASK 255
#define MAX_DEPTH 48
/*
 * A path cut by walk() (deeper than MAX_DEPTH or longer than PATH_BUF) is
 * walked on to the root by root_side(), up to DEEP_MAX more components, keeping
 * the ROOT_RING root-most ones; those are then written as the path. Deeper
 * than DEEP_MAX the sample keeps the leaf side with EVENT_F_ROOTLESS.
 */
#define DEEP_MAX 64
#define ROOT_RING 32

/* The dentry window of read_dentry(): see there. */
#define DENTRY_LEAD 16
#define DENTRY_WINDOW 96
#define NAME_COPY 40

struct scratch {
	__u64 busy; /* claimed by a program: see get_scratch() */
	__u32 off;  /* where the path built in buf starts; see walk() */
	__u32 n;    /* components in ring_*; see root_side() */
	__u32 k;    /* the next of them to write */
	__u32 _pad;
	__u64 stop_dentry; /* where walk() stopped when it cut the path */
	__u64 sb_root;	   /* the root dentry of the file's filesystem */
	__u32 dev;	   /* its s_dev; see where_of() */
	__u32 mnt_id;	   /* the creator's mount */
	__u32 mnt_off;	   /* off when walk() passed that mount's root */
	__u32 where;	   /* enum where_flag bits */
	__u64 ring_dentry[ROOT_RING];
	__u64 ring_name[ROOT_RING];
	__u32 ring_len[ROOT_RING];
	char buf[PATH_BUF + NAME_MASK + 1];
	/* a dentry window (read_dentry), and room for masked copies */
	char dwin[2 * DENTRY_WINDOW];
	struct prefix_key key;
	char name[EVENT_PATH_LEN];
	/* lookup_dir's state (lookup.h): after name, so that a copy into name
	 * at a masked offset stays inside the value */
	char cand[EVENT_PATH_LEN]; /* a child's name, or a link's target */
	__u64 lk_dentry;	   /* the directory reached */
	__u64 lk_mnt;		   /* its mount (struct mount) */
	__u64 lk_root_dentry;	   /* the task's root: ".." stops there */
	__u64 lk_root_mnt;
	__u64 lk_node; /* the next child to look at */
	__u64 lk_head; /* the list head that ends the children (before 6.8) */
	__u64 lk_found;
	__u64 lk_tmp;	 /* a field read (scan_children) */
	__u32 lk_cur;	 /* where the next component starts in name */
	__u32 lk_end;	 /* and where it ends */
	__u32 lk_len;	 /* name's length */
	__u32 lk_links;	 /* symbolic links followed */
	__u32 slot;	 /* this slot's index in scratch_map (get_scratch) */
	__u32 lk_budget; /* children left to look at (lookup.h) */
	__u32 lk_type;	 /* a new name's file type (name_report_in) */
	__u32 _pad2;
	char comm[EVENT_COMM_LEN]; /* name_report_in's */
	__u32 lk_gate;		   /* report(): drop off the node's filesystems (name_report_in) */
	__u32 _pad3;
};

/*
 * SCRATCH_SLOTS scratch buffers per CPU, each claimed by one program run at a
 * time (get_scratch). One is not enough where a program can be preempted:
 * fentry/fexit programs run under migrate_disable(), not preempt_disable(),
 * on PREEMPT_RT and with preempt=full (and PREEMPT_RT 6.12+ runs tracepoint
 * programs so too), so another task on the same CPU can run another of these
 * programs (or, without the kernel's per-program recursion guard, the same
 * one) in the middle of a path walk. With one shared buffer its walk wrote
 * into the first one's: samples with spliced paths, and with an offset reset
 * under it, paths that no longer matched the prefix filter (lost unseen).
 * A hook set has three programs that build paths (the open, the mknod and
 * the link hooks; sys_exit and the two io_uring completions), each kept from
 * re-entering on a CPU by the kernel for trampoline programs; the fourth slot
 * is for a program without that guard. When all are busy the sample is
 * counted as scratch_busy (COUNTER_SCRATCH_BUSY), never lost unseen.
 */
#define SCRATCH_SLOTS 4

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/*
 * get_scratch claims a free scratch slot of this CPU (see scratch_map) with a
 * compare-and-swap of its busy word: atomic against a program that preempts
 * this one between the test and the set (the slots are per CPU and these
 * programs never migrate, so only programs on this CPU compete). None free:
 * the sample is counted as COUNTER_SCRATCH_BUSY. Every claimed slot is
 * released by put_scratch on every path.
 */
static __always_inline struct scratch *get_scratch(void)
{
	for (__u32 i = 0; i < SCRATCH_SLOTS; i++) {
		__u32 key = i;
		struct scratch *s = bpf_map_lookup_elem(&scratch_map, &key);
		if (s && __sync_val_compare_and_swap(&s->busy, 0, 1) == 0) {
			s->slot = i;
			s->lk_gate = 0;
			return s;
		}
	}
	count(COUNTER_SCRATCH_BUSY);
	return NULL;
}

/*
 * COPY_WORDS copies n (a constant: 16 or 32) 8-byte words from src (map
 * memory, at a masked offset: the verifier checks the bounds) to dst: plain
 * loads and stores, not a bpf_probe_read_kernel call that copies the same
 * bytes under a fault handler (issue 28: the filter's key and the sample's
 * path were two of those per creation). Written out word by word: a loop,
 * even one clang unrolls in part, left 6.1's verifier a pointer it took
 * for a scalar.
 */
#define COPY_WORD(d, s, i) ((__u64 *)(d))[i] = ((const __u64 *)(s))[i]
#define COPY_WORDS4(d, s, i)                                                                       \
	do {                                                                                       \
		COPY_WORD(d, s, i);                                                                \
		COPY_WORD(d, s, i + 1);                                                            \
		COPY_WORD(d, s, i + 2);                                                            \
		COPY_WORD(d, s, i + 3);                                                            \
	} while (0)
#define COPY_WORDS16(d, s, i)                                                                      \
	do {                                                                                       \
		COPY_WORDS4(d, s, i);                                                              \
		COPY_WORDS4(d, s, i + 4);                                                          \
		COPY_WORDS4(d, s, i + 8);                                                          \
		COPY_WORDS4(d, s, i + 12);                                                         \
	} while (0)

_Static_assert(PREFIX_LEN == 16 * 8, "copy_key copies 16 words");
_Static_assert(EVENT_PATH_LEN == 32 * 8, "copy_path copies 32 words");
/* from any masked offset, the words copied stay inside buf */
_Static_assert(sizeof(((struct scratch *)0)->buf) >= PATH_BUF - 1 + EVENT_PATH_LEN &&
		       PREFIX_LEN <= EVENT_PATH_LEN,
	       "copies inside buf");

/*
 * copy_key and copy_path copy from where the path starts, s->off, read
 * again from the map value: a register's offset could carry, on a path
 * the verifier walks but that never runs, bounds that contradict each
 * other, and 6.1's verifier then turns the pointer plus that offset into
 * a scalar it will not load through.
 */
static __always_inline void copy_key(struct scratch *s)
{
	const void *src = &s->buf[*(volatile __u32 *)&s->off & (PATH_BUF - 1)];
	COPY_WORDS16(s->key.data, src, 0);
}

static __always_inline void copy_path(char *dst, struct scratch *s)
{
	const void *src = &s->buf[*(volatile __u32 *)&s->off & (PATH_BUF - 1)];
	COPY_WORDS16(dst, src, 0);
	COPY_WORDS16(dst, src, 16);
}

/* start_path readies s for a new path (resolve, report). */
static __always_inline void start_path(struct scratch *s)
{
	s->off = PATH_BUF;
	s->mnt_off = PATH_BUF + 1; /* not passed */
	s->where = 0;
	s->dev = 0;
	s->mnt_id = 0;
}

static __always_inline void put_scratch(struct scratch *s)
{
	/* Every use of the slot comes before the release: a compiler barrier
	 * (the CPU keeps its own program order for a program that preempts it
	 * on the same CPU). */
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&s->busy = 0;
}

#endif /* KERNELEVENTS_SCRATCH_H */
