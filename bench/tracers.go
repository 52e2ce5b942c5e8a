// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Other tracing BPF programs on the machine (another collector, a test
// suite) run on the same syscalls as ours: the first syscall tracepoint
// attached puts every task on the slow syscall path, and their programs run
// on every open. The baseline then is not "no monitoring", so the bench
// looks for them before every round and reports them.

// tracingTypes are the program types that run in the creator's syscalls.
var tracingTypes = map[ebpf.ProgramType]bool{
	ebpf.TracePoint: true, ebpf.Kprobe: true, ebpf.Tracing: true, ebpf.RawTracepoint: true,
	ebpf.RawTracepointWritable: true, ebpf.PerfEvent: true, ebpf.LSM: true,
}

// foreignTracers watches for tracing programs the bench did not load.
type foreignTracers struct {
	since time.Duration  // CLOCK_BOOTTIME at bench start
	seen  map[string]int // "pid N (comm)" or "unheld" -> most programs seen at once
	names map[string]map[string]bool
}

func newForeignTracers() *foreignTracers {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return &foreignTracers{since: time.Duration(ts.Nano()), seen: map[string]int{}, names: map[string]map[string]bool{}}
}

// check records the foreign tracing programs loaded now and returns how many.
func (f *foreignTracers) check() int {
	holders := bpfHolders()
	count := map[string]int{}
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			break
		}
		id = next
		name, typ, loaded, ok := progInfo(id)
		if !ok || !tracingTypes[typ] {
			continue
		}
		owners := holders[id]
		if len(owners) == 0 {
			// Not held by any process: pinned, or one of ours being freed
			// right after Close. Only the former predates the bench.
			if loaded >= f.since {
				continue
			}
			owners = []string{"no process (pinned or attached by a kernel object)"}
		}
		for _, o := range owners {
			if o == "self" {
				continue
			}
			count[o]++
			if f.names[o] == nil {
				f.names[o] = map[string]bool{}
			}
			f.names[o][name] = true
		}
	}
	total := 0
	for o, n := range count {
		f.seen[o] = max(f.seen[o], n)
		total += n
	}
	return total
}

func progInfo(id ebpf.ProgramID) (name string, typ ebpf.ProgramType, loaded time.Duration, ok bool) {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return "", 0, 0, false
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return "", 0, 0, false
	}
	loaded, _ = info.LoadTime()
	return info.Name, info.Type, loaded, true
}

// bpfHolders maps program ids to the processes holding them (a program or
// link fd, per /proc/*/fdinfo); the bench itself is "self".
func bpfHolders() map[ebpf.ProgramID][]string {
	out := map[ebpf.ProgramID][]string{}
	self := os.Getpid()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, proc := range procs {
		pid, _ := strconv.Atoi(filepath.Base(proc))
		who := "self"
		if pid != self {
			comm, _ := os.ReadFile(proc + "/comm")
			who = fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm)))
		}
		infos, _ := filepath.Glob(proc + "/fdinfo/*")
		seen := map[ebpf.ProgramID]bool{}
		for _, fi := range infos {
			id, ok := fdinfoProgID(fi)
			if ok && !seen[id] {
				seen[id] = true
				out[id] = append(out[id], who)
			}
		}
	}
	return out
}

func fdinfoProgID(path string) (ebpf.ProgramID, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			return ebpf.ProgramID(n), err == nil
		}
	}
	return 0, false
}

// summary lists the foreign holders seen during the run, or "".
func (f *foreignTracers) summary() string {
	var parts []string
	for o, n := range f.seen {
		var names []string
		for name := range f.names[o] {
			names = append(names, name)
		}
		sort.Strings(names)
		parts = append(parts, fmt.Sprintf("%s: up to %d programs (%s)", o, n, strings.Join(names, ", ")))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}
