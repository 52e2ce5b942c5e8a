//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * No programs: the types of event.h that internal/event generates its Go side
 * from (bpf2go -type, internal/event/gen.go). Each is referenced here so that
 * its BTF is in the object.
 */
#include "vmlinux.h"
#include "event.h"

struct event *unused_event __attribute__((unused));
enum hook_id *unused_hook_id __attribute__((unused));
enum event_flag *unused_event_flag __attribute__((unused));
enum counter_idx *unused_counter_idx __attribute__((unused));
enum where_flag *unused_where_flag __attribute__((unused));
enum exec_state *unused_exec_state __attribute__((unused));
enum file_op *unused_file_op __attribute__((unused));
enum file_type *unused_file_type __attribute__((unused));
