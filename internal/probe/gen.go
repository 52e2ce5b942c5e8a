// SPDX-License-Identifier: Apache-2.0

package probe

// The compiler and flags come from the environment (BPF2GO_CC, BPF2GO_CFLAGS),
// set once in the Makefile. Objects are built for amd64 and arm64, the two
// architectures the kernel matrix boots; both are little endian (bpfel).
// The sample's struct is generated once, in internal/event (below), not
// here too.
//go:generate go tool bpf2go -target amd64,arm64 kernelevents ../../bpf/kernelevents.bpf.c -- -I../../bpf/include -I../../bpf

// The same headers give internal/event its generated types (the sample's
// struct, hook ids, flags, counter indexes): regenerated here too, so that
// one go generate after a change in bpf/ covers both.
//go:generate go generate ../event
