// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"encoding/binary"

	"github.com/kernelevents/kernelevents/internal/event"
)

// The exec records of bpf/exec.h, as the kernel wrote them at each
// sched_process_exec: internal/identity reads them (identity.ExecSource) to
// name a sample's executable as the kernel knew it at exec, not as the
// process shows it now.

// Layout of bpf/exec.h's structs (little endian, no implicit padding).
const (
	execKeySize     = 16  // struct exec_key
	execNowSize     = 32  // struct exec_now
	execPathLen     = 256 // EXEC_PATH_LEN
	execFileSize    = 16 + 2*execPathLen
	execFTruncated  = 0x01 // EXEC_F_TRUNCATED
	execFileOffPath = 16
)

// ExecFile returns the record of the exec execNs (a sample's ExecNs), if
// the kernel still holds it (the last 4096 execs).
func (p *Probe) ExecFile(execNs uint64) (ExecFile, bool) {
	m := p.objs.common().ExecHistory
	if m == nil || execNs == 0 {
		return ExecFile{}, false
	}
	var v [execFileSize]byte
	if err := m.Lookup(execNs, v[:]); err != nil {
		return ExecFile{}, false
	}
	le := binary.LittleEndian
	f := ExecFile{Ino: le.Uint64(v[0:]), Dev: event.KernelDev(le.Uint32(v[8:]))}
	off := int(le.Uint16(v[12:]))
	if v[14]&execFTruncated == 0 && off <= execPathLen {
		f.Path = string(v[execFileOffPath+off : execFileOffPath+execPathLen])
		if f.Path == "" {
			f.Path = "/"
		}
	}
	return f, true
}

// ExecsRecordedSince returns when the exec recorder was attached, as a
// process start time (CLOCK_BOOTTIME ns, a sample's StartNs): a process
// that started later has a record while it runs (bpf/exec.h: from its exec,
// or inherited at fork, naming no exec when its parent's predates the
// probe), unless it was pushed out. False: the recorder is not attached.
func (p *Probe) ExecsRecordedSince() (uint64, bool) {
	return p.execSince, p.execSince != 0
}

// CurrentExec returns which exec process (tgid, startNs) runs now (the
// ExecNs of its last sched_process_exec, 0 for a record inherited from a
// process older than the probe), if the kernel holds its record.
func (p *Probe) CurrentExec(tgid uint32, startNs uint64) (uint64, bool) {
	m := p.objs.common().ExecLatest
	if m == nil {
		return 0, false
	}
	var key [execKeySize]byte
	binary.LittleEndian.PutUint32(key[0:], tgid)
	binary.LittleEndian.PutUint64(key[8:], startNs)
	var v [execNowSize]byte
	if err := m.Lookup(key[:], v[:]); err != nil {
		return 0, false // not recorded, or pushed out
	}
	return binary.LittleEndian.Uint64(v[0:]), true
}
