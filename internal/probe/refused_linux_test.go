// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestRefusedSyscallsSaySo: a container runtime's seccomp profile that
// refuses bpf() or perf_event_open() (Docker's and older podman's default
// to a container without CAP_SYS_ADMIN) must be named as the cause, with
// the capability held and the Seccomp: field, never as a memory-lock limit.
// The child runs under a seccomp filter from its first instruction, as in a
// container: cilium/ebpf's RLIMIT_MEMLOCK probe at start-up runs under it
// too (the podman case, where the collector used to exit with "failed to
// set memlock rlimit").
func TestRefusedSyscallsSaySo(t *testing.T) {
	if mode, ok := testutil.RerunMode(t); ok {
		refusedChild(t, mode)
		return
	}
	testutil.RequireRoot(t)
	testutil.RequireTracefs(t)
	t.Run("bpf", func(t *testing.T) {
		testutil.Rerun(t, "bpf", testutil.WithSeccompDeny(unix.SYS_BPF))
	})
	t.Run("perf_event_open", func(t *testing.T) {
		testutil.Rerun(t, "perf_event_open", testutil.WithSeccompDeny(unix.SYS_PERF_EVENT_OPEN))
	})
}

func refusedChild(t *testing.T, call string) {
	var err error
	switch call {
	case "bpf":
		opts := DefaultOptions()
		opts.Hook = HookAuto
		p, oerr := Open(opts)
		if oerr == nil {
			p.Close()
			t.Fatalf("hook auto opened with bpf() refused by seccomp")
		}
		err = oerr
	case "perf_event_open":
		// Only kprobes and perf-event tracepoints (kernels without their
		// own BTF) attach through perf_event_open, and a kernel may have
		// neither: the explanation is checked on the refusal of a real
		// perf_event_open, as the attach path gets it.
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{}))}
		fd, perr := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if perr == nil {
			unix.Close(fd)
			t.Fatalf("perf_event_open succeeded under a filter refusing it")
		}
		err = explainAttach("kprobe do_filp_open", perr)
	default:
		t.Fatalf("mode %q: want bpf or perf_event_open", call)
	}
	t.Logf("%s() refused: %v", call, err)
	require.ErrorIs(t, err, ErrSyscallRefused)
	msg := err.Error()
	assert.Contains(t, msg, call+"()")
	assert.Contains(t, msg, "seccomp filter")
	assert.Contains(t, msg, "Seccomp: 2")
	assert.NotContains(t, strings.ToLower(msg), "memlock")
}

// TestNotesCarryNoMemlockHint: cilium/ebpf appends "MEMLOCK may be too low"
// to every EPERM; on kernels since 5.11 (memcg accounting) it is never the
// cause, and the README says so. No start-up note (a hook passed over by
// auto, an optional program left out) may carry it.
func TestNotesCarryNoMemlockHint(t *testing.T) {
	opts := DefaultOptions()
	opts.Hook = HookAuto
	p := openHook(t, opts)
	require.NotNil(t, p)
	for _, n := range p.Notes() {
		assert.NotContains(t, strings.ToLower(n), "memlock", "start-up note")
	}
}
