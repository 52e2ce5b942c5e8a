// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// kretprobeSeq makes each kretprobe's tracefs group unique in this process.
var kretprobeSeq atomic.Uint64

// missReader returns how many times the kernel skipped a hook since it was
// attached.
type missReader func() (uint64, error)

// attachKretprobe attaches prog to the return of symbol with maxActive
// instances and returns a reader of the kernel's miss counter for it.
//
// A kretprobe holds one instance per task inside the function; when all are
// taken (tasks blocked in a FIFO open or a slow network lookup), the kernel
// skips the probe and only counts it (nmissed). The default is about 2 × CPUs,
// so a few blocked opens blind it for the whole host. cilium/ebpf can set
// maxactive only through tracefs' kprobe_events (the perf kprobe PMU has no
// field for it), and a probe made there reports its misses in kprobe_profile
// on every kernel. Without tracefs the probe is attached through the PMU with
// the default instances, and kept only where the kernel reports its misses in
// the link info (Linux 6.7+); otherwise it is refused, so that auto moves on
// to a hook without a silent miss.
func attachKretprobe(prog *ebpf.Program, symbol string, maxActive int) (link.Link, missReader, string, error) {
	removeStaleKprobeEvents()
	group := fmt.Sprintf("%s%d_%d", kprobeGroupPrefix, os.Getpid(), kretprobeSeq.Add(1))
	l, errMax := link.Kretprobe(symbol, prog, &link.KprobeOptions{RetprobeMaxActive: maxActive, TraceFSPrefix: group})
	if errMax == nil {
		return l, func() (uint64, error) { return kprobeProfileMissed(group+"_", symbol) }, "", nil
	}
	l, err := link.Kretprobe(symbol, prog, nil)
	if err != nil {
		// Not a maxactive problem: the kernel has no kprobes, say that.
		return nil, nil, "", err
	}
	missed := func() (uint64, error) { return linkMissed(l) }
	if _, err := missed(); err != nil {
		l.Close()
		return nil, nil, "", fmt.Errorf("kretprobe with maxactive %d needs tracefs' kprobe_events (%v), and without it this kernel (before 6.7) does not report the probe's misses (%v): %w",
			maxActive, errMax, err, ebpf.ErrNotSupported)
	}
	note := fmt.Sprintf("kretprobe attached with the kernel's default instances, not maxactive %d (%v): tasks blocked in %s make it miss sooner; misses are counted as %s", maxActive, errMax, symbol, LostKprobeMissed)
	return l, missed, note, nil
}

// kprobeGroupPrefix starts the tracefs group of every kretprobe this
// package makes: kernelevents_<pid>_<n>_<random>.
const kprobeGroupPrefix = "kernelevents_"

// removeStaleKprobeEvents deletes the kprobe events a killed collector left
// in tracefs: a probe made through kprobe_events outlives the process that
// made it when that process cannot remove it (SIGKILL). It is inert (no
// perf event, so the kprobe is unregistered) but stays listed. The kernel
// refuses (EBUSY) to delete an event that is in use, so a live collector's,
// in this or another pid namespace, is never detached; events named after a
// live pid of this namespace are left alone. Left: a collector of another pid
// namespace in the microseconds between creating its event and opening it
// could see it deleted and fail to start. Best effort: a failure only leaves
// the stale entry.
func removeStaleKprobeEvents() {
	for _, root := range tracefsRoots {
		raw, err := os.ReadFile(filepath.Join(root, "kprobe_events"))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(raw)) {
			def, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			_, ge, ok := strings.Cut(def, ":")
			if !ok || !strings.HasPrefix(ge, kprobeGroupPrefix) {
				continue
			}
			// A pid alive in this pid namespace may be a collector
			// between creating its event and opening it: leave it.
			pid, _, _ := strings.Cut(strings.TrimPrefix(ge, kprobeGroupPrefix), "_")
			if _, err := os.Stat(filepath.Join("/proc", pid)); err == nil {
				continue
			}
			f, err := os.OpenFile(filepath.Join(root, "kprobe_events"), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return
			}
			_, _ = f.WriteString("-:" + ge + "\n") // best effort, as the lines above
			f.Close()
		}
		return
	}
}

// linkMissed reads a kprobe link's miss counter from its link info (6.7+).
func linkMissed(l link.Link) (uint64, error) {
	info, err := l.Info()
	if err != nil {
		return 0, err
	}
	pe := info.PerfEvent()
	if pe == nil || pe.Kprobe() == nil {
		return 0, errors.New("no kprobe link info")
	}
	return pe.Kprobe().Missed, nil
}

// tracefsRoots are where tracefs may be mounted.
var tracefsRoots = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// kprobeProfileMissed returns the miss count of the kprobe event whose group
// starts with groupPrefix. kprobe_profile names events without their group
// ("  <event> <hits> <misses>"), so the event is found in kprobe_events
// ("r4096:<group>/<event> <symbol>"), which lists the same kprobe events in
// the same order; the two are read until they agree on the event name.
func kprobeProfileMissed(groupPrefix, event string) (uint64, error) {
	var lastErr error
	for _, root := range tracefsRoots {
		for range 3 {
			n, err := readProfile(root, groupPrefix, event)
			if err == nil {
				return n, nil
			}
			lastErr = err
			if errors.Is(err, os.ErrNotExist) {
				break
			}
		}
	}
	return 0, fmt.Errorf("read kretprobe misses from kprobe_profile: %w", lastErr)
}

func readProfile(root, groupPrefix, event string) (uint64, error) {
	events, err := os.ReadFile(filepath.Join(root, "kprobe_events"))
	if err != nil {
		return 0, err
	}
	profile, err := os.ReadFile(filepath.Join(root, "kprobe_profile"))
	if err != nil {
		return 0, err
	}
	idx := -1
	n := 0
	for line := range strings.Lines(string(events)) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		// r4096:group/event symbol
		def, _, _ := strings.Cut(line, " ")
		if _, ge, ok := strings.Cut(def, ":"); ok && strings.HasPrefix(ge, groupPrefix) && strings.HasSuffix(ge, "/"+event) {
			idx = n
		}
		n++
	}
	if idx < 0 {
		return 0, fmt.Errorf("no kprobe event %s*/%s in kprobe_events", groupPrefix, event)
	}
	sc := bufio.NewScanner(bytes.NewReader(profile))
	for i := 0; sc.Scan(); i++ {
		if i != idx {
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != event {
			return 0, fmt.Errorf("kprobe_profile line %d is %q, not event %s (kprobe events changed while read)", i, sc.Text(), event)
		}
		return strconv.ParseUint(f[2], 10, 64)
	}
	return 0, fmt.Errorf("kprobe_profile has no line %d (kprobe events changed while read)", idx)
}

// recursionMisses sums bpf_prog_info.recursion_misses (Linux 5.12+; 0
// before) over the programs: the times the kernel skipped one because a BPF
// program was already running on that CPU (fexit trampolines always count
// these; kprobe and tracepoint programs since 6.7).
func recursionMisses(progs []*ebpf.Program) (uint64, error) {
	var n uint64
	var errs []error
	for _, p := range progs {
		st, err := p.Stats()
		if err != nil {
			errs = append(errs, fmt.Errorf("program %s stats: %w", p, err))
			continue
		}
		n += st.RecursionMisses
	}
	return n, errors.Join(errs...)
}
