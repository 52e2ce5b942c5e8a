// SPDX-License-Identifier: Apache-2.0

package event

// The sample's struct and the enums of bpf/event.h (hook ids, flag bits,
// counter indexes), generated from bpf/types.bpf.c: the Go constants below
// in event.go come from there, so C is their one source. -target bpfel: one
// file for every little-endian GOARCH (the layout has no implicit padding and
// the enums no byte order); the compiler and flags as for internal/probe.
//go:generate go tool bpf2go -target bpfel -type event -type hook_id -type event_flag -type counter_idx -type where_flag -type exec_state -type file_op -type file_type types ../../bpf/types.bpf.c -- -I../../bpf/include -I../../bpf
