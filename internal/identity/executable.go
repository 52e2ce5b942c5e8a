// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"time"

	"github.com/kernelevents/kernelevents/internal/event"
)

// exeKey names an executable: device and inode, and, when the kernel
// recorded the exec, the path inside its filesystem (hard links are one
// inode under several paths, and a path is what rules and SPIRE's unix:path
// name).
type exeKey struct {
	dev, ino uint64
	fsPath   string
}

// execNamer names the executable a sample's process ran, from the kernel's
// exec records (src, nil: none) or /proc, placed in the node's mount
// table, and keeps the names it checked.
type execNamer struct {
	src   ExecSource
	sys   *sysLookup
	paths *pathCache[exeKey]
}

// fsPath returns the path inside its filesystem of the file the sample's
// exec mapped, when the kernel recorded it and the sample runs it, else "".
func (x *execNamer) fsPath(e *event.Event) string {
	if e.ExecState != event.ExecSame || x.src == nil {
		return ""
	}
	rec, ok := x.src.ExecFile(e.ExecNs)
	if !ok || rec.Dev != e.ExeDev || rec.Ino != e.ExeIno {
		return ""
	}
	return rec.Path
}

// name names the file the sample's process ran at the creation by where it
// is on the node, or "" when that is not known (fsPath is fsPath's answer):
//   - the process replaced its executable reference (event.ExecReplaced):
//     the device and inode are a file it chose, never named;
//   - the kernel recorded its exec (event.ExecSame): that exec's path
//     inside its filesystem, placed in the node's mount table;
//   - a process that started after the records began and has none (pushed
//     out: enough forks fill the table): nothing, as for a replaced
//     reference, which it may have made meanwhile;
//   - otherwise (started before the probe, or a child of such a process
//     that did not exec, or a record pushed out) /proc/<pid>/exe
//     while the process still runs that exec, placed the same way; for a
//     process that did not record its exec, the path an earlier checked
//     lookup gave its device and inode.
func (x *execNamer) name(e *event.Event, fsPath string, proc *procView, now time.Time) string {
	if e.ExeIno == 0 || e.ExecState == event.ExecReplaced || x.recordLost(e.ExecState, e.TGID, e.StartNs) {
		return ""
	}
	if fsPath != "" {
		k := exeKey{e.ExeDev, e.ExeIno, fsPath}
		if p, ok := x.paths.get(k, now); ok {
			return p
		}
		p, ok := x.sys.nodePath(e.ExeDev, e.ExeIno, fsPath)
		if !ok {
			return ""
		}
		x.paths.put(k, p, now)
		return p
	}
	if e.ExecState == event.ExecSame && x.src != nil {
		// Recorded, but the record is gone: /proc only while the process
		// still runs that exec.
		if cur, ok := x.src.CurrentExec(e.TGID, e.StartNs); !ok || cur != e.ExecNs {
			return ""
		}
		p, _ := proc.executable(e.ExeDev, e.ExeIno)
		return p
	}
	k := exeKey{dev: e.ExeDev, ino: e.ExeIno}
	if p, ok := proc.executable(k.dev, k.ino); ok {
		x.paths.put(k, p, now)
		return p
	}
	p, _ := x.paths.get(k, now)
	return p
}

// cached is the name known of e's executable without I/O. A process that
// should have an exec record and has none gets none (its record is not
// looked up here: recordLost).
func (x *execNamer) cached(e *event.Event) string {
	if e.ExeIno == 0 || e.ExecState == event.ExecReplaced || (e.ExecState == event.ExecUnknown && x.afterRecords(e.StartNs)) {
		return ""
	}
	p, _ := x.paths.peek(exeKey{dev: e.ExeDev, ino: e.ExeIno})
	return p
}

// recordLost says the process (tgid, start) should have an exec record and
// has none: it started after the records began, and the sample found none
// (event.ExecUnknown) or the record is gone now. /proc/<pid>/exe would
// name the process's executable reference, which it can have replaced
// (prctl PR_SET_MM_MAP) before its record was pushed out.
func (x *execNamer) recordLost(state event.ExecState, tgid uint32, start uint64) bool {
	if state != event.ExecUnknown || !x.afterRecords(start) {
		return false
	}
	// A child of a process older than the records: recorded at fork,
	// naming no exec, and still its inherited reference at the sample.
	_, rec := x.src.CurrentExec(tgid, start)
	return !rec
}

// afterRecords says a process that started at start should have an exec
// record while it runs.
func (x *execNamer) afterRecords(start uint64) bool {
	if x.src == nil {
		return false
	}
	since, ok := x.src.RecordedSince()
	return ok && start > since
}

// sweep forgets the names not used since cutoff of executables no cached
// process refers to.
func (x *execNamer) sweep(cutoff, now time.Time, in refs) {
	x.paths.sweep(cutoff, now, func(k exeKey) verdict {
		if in.exes[exeKey{dev: k.dev, ino: k.ino}] {
			return keep
		}
		return drop
	})
}

// nodeMountsChanged drops the executable paths cached for filesystems that
// are no longer in the node's mount table (devs: user-space dev_t of those
// that are). A path is cached by device, inode and path inside the
// filesystem; once the filesystem is unmounted its device number (an
// anonymous one: tmpfs, overlay, FUSE) is free, and the next mount that
// takes it could hold another file under the same inode and path, which
// the cache would name with the old filesystem's node path.
func (x *execNamer) nodeMountsChanged(devs map[uint64]bool) {
	x.paths.forget(func(k exeKey) bool { return !devs[k.dev] })
}
