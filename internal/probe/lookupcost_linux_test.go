// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// BenchmarkSlashNameLookup: what the tracepoint hook's lookup of a name
// written with a '/' (bpf/lookup.h) costs, side by side with the same
// symbolic link named without one, on tmpfs, the probe's filter elsewhere
// (the lookup, the walk and the filter, no sample), b.N links each (use
// -benchtime 20000x). Metrics: bpf-ns/link, the run time of every program of
// the probe per link (BPF_ENABLE_STATS; other processes' syscalls add to it
// on a busy machine), and creator-ns/link, the creating thread's CPU.
//
//   - plain: symlinkat(dirfd, "kNNN"): the directory from the dirfd.
//   - slash: symlinkat(AT_FDCWD, "<dir>/a/b/c/kNNN"): looked up from the
//     root, component by component.
func BenchmarkSlashNameLookup(b *testing.B) {
	testutil.RequireRoot(b)
	testutil.RequireTracefs(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF run-time statistics: %v", err)
	}
	defer stats.Close()
	opts := DefaultOptions()
	opts.Hook = HookTracepoint
	opts.PathPrefixes = []string{"/kernelevents-lookupcost-elsewhere/"}
	p, err := Open(opts)
	if err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			testutil.SkipUnlessStrict(b, "tracepoint hook: %v", err)
		}
		b.Fatal(err)
	}
	defer p.Close()
	for _, mode := range []string{"plain", "slash"} {
		b.Run(mode, func(b *testing.B) {
			dir := filepath.Join(testutil.TmpfsDir(b), "a", "b", "c")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			dirfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(dirfd)
			at := dirfd
			names := make([]*byte, b.N)
			for i := range names {
				name := fmt.Sprintf("k%08d", i)
				if mode == "slash" {
					name = filepath.Join(dir, name)
					at = unix.AT_FDCWD
				}
				if names[i], err = unix.BytePtrFromString(name); err != nil {
					b.Fatal(err)
				}
			}
			target, _ := unix.BytePtrFromString("t")
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			before := totalRuntime(progStats(b, p))
			cpu0 := threadCPUNs(b)
			b.ResetTimer()
			for _, name := range names {
				_, _, errno := unix.Syscall(unix.SYS_SYMLINKAT, uintptr(unsafe.Pointer(target)), uintptr(at), uintptr(unsafe.Pointer(name)))
				if errno != 0 {
					b.Fatalf("symlinkat: %v", errno)
				}
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(threadCPUNs(b)-cpu0)/n, "creator-ns/link")
			b.ReportMetric(float64(totalRuntime(progStats(b, p))-before)/n, "bpf-ns/link")
		})
	}
}
