// SPDX-License-Identifier: Apache-2.0

//go:build linux

package identity

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// still returns "" when /proc/<pid> is still the process want describes:
// the same start time, executable (device and inode), effective and real
// uid, effective gid and cgroup v2. Otherwise it says why not: the process is gone
// (exited, or the pid reused), or it changed (exec, setuid, setgid), so that
// the agent would attest something other than the file's creator.
func (p *procView) still(want procIdentity) SPIFFEStatus {
	if !p.alive || !p.same() {
		return SPIFFEProcessGone
	}
	if want.exeIno != 0 {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(p.dir, "exe"), &st); err != nil {
			return SPIFFEProcessGone
		}
		if st.Dev != want.exeDev || st.Ino != want.exeIno {
			return SPIFFEProcessChanged
		}
	}
	b, err := os.ReadFile(filepath.Join(p.dir, "status"))
	if err != nil {
		return SPIFFEProcessGone
	}
	uids, gids := statusIDs(b, "Uid:"), statusIDs(b, "Gid:")
	if len(uids) < 2 || len(gids) < 2 {
		return SPIFFEProcessGone
	}
	if uids[0] != want.ruid || uids[1] != want.uid || gids[1] != want.gid {
		return SPIFFEProcessChanged
	}
	// A process that moved to another cgroup (in a delegated subtree it may
	// write to) would be attested as that cgroup's container or pod by the
	// agent's k8s, docker or systemd attestors. Judged only where the
	// process's cgroup v2 path resolves to an id here.
	if want.cgroup != 0 && p.s.cgroupRoot != "" {
		for _, l := range splitCgroupLines(p.cgroupLines()) {
			if l.hierarchy == "0" && l.controllers == "" {
				if got, ok := p.s.cgroupIDOf(l.path); ok && got != want.cgroup {
					return SPIFFEProcessChanged
				}
			}
		}
	}
	// The status file may have been read from a new process that took the
	// pid meanwhile.
	if !p.same() {
		return SPIFFEProcessGone
	}
	return ""
}

// statusIDs returns the ids of a /proc/<pid>/status line (real, effective,
// saved, filesystem).
func statusIDs(b []byte, prefix string) []uint32 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, ok := bytes.CutPrefix(sc.Bytes(), []byte(prefix))
		if !ok {
			continue
		}
		var out []uint32
		for _, f := range bytes.Fields(line) {
			n, err := strconv.ParseUint(string(f), 10, 32)
			if err != nil {
				return nil
			}
			out = append(out, uint32(n))
		}
		return out
	}
	return nil
}
