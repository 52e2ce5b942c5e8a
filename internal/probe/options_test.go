// SPDX-License-Identifier: Apache-2.0

package probe

import (
	"slices"
	"testing"
)

// TestAutoOrder: auto tries the hooks cheapest first, as ranked in Debian's
// 6.1 kernel (bench/RESULTS.md, "Hooks ranked in Debian 6.1"): fexit (no
// per-syscall tax, the least per open and per creation, no miss path), then
// kretprobe (no per-syscall tax; misses counted as kprobe_missed), then the
// syscall tracepoint (a tax on every syscall of the machine). Which hook auto
// really picks on a kernel is TestAutoSaysWhy's (KERNELEVENTS_EXPECT_AUTO in
// the VM matrix: fexit where trampolines work, kretprobe on arm64 6.1).
func TestAutoOrder(t *testing.T) {
	want := []Hook{HookFexit, HookKretprobe, HookTracepoint}
	if !slices.Equal(Hooks, want) {
		t.Fatalf("auto's order is %v, want %v (cheapest first, bench/RESULTS.md)", Hooks, want)
	}
}
