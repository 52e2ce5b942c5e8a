// SPDX-License-Identifier: Apache-2.0

//go:build linux

package identity

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of /proc/<pid>/stat's starttime (USER_HZ, 100 on
// every architecture Linux runs this on).
const userHZ = 100

// fileidKernfs is FILEID_KERNFS (include/linux/exportfs.h): the handle type
// of cgroupfs, whose 8 bytes are the cgroup id.
const fileidKernfs = 0xfe

// maxPasswd bounds how much of an /etc/passwd is read.
const maxPasswd = 4 << 20

// sysLookup reads the system: /proc, the cgroup v2 hierarchy by handle, and
// the passwd files. Safe for concurrent use.
type sysLookup struct {
	proc, cgroupRoot, hostRoot string

	mountOnce sync.Once
	mountFD   int
	noHandles atomic.Bool // open_by_handle_at refused: fall back to /proc

	usersMu sync.Mutex
	users   map[fileKey]map[uint32]string
}

type fileKey struct {
	dev, ino uint64
	size     int64
	mtime    unix.Timespec
}

func newSysLookup(proc, cgroupRoot, hostRoot string) *sysLookup {
	return &sysLookup{proc: proc, cgroupRoot: cgroupRoot, hostRoot: hostRoot, mountFD: -1, users: map[fileKey]map[uint32]string{}}
}

func (s *sysLookup) close() {
	if s.mountFD >= 0 {
		unix.Close(s.mountFD)
		s.mountFD = -1
	}
}

func (s *sysLookup) exists(tgid uint32) bool {
	return unix.Access(filepath.Join(s.proc, strconv.FormatUint(uint64(tgid), 10)), unix.F_OK) == nil
}

// cgroupByID asks the kernel for the directory of cgroup v2 id
// (open_by_handle_at on the hierarchy's mount, O(1)) and returns its path
// below the mount. It needs CAP_DAC_READ_SEARCH; without it, it reports false
// from then on.
func (s *sysLookup) cgroupByID(id uint64) (string, bool) {
	if s.cgroupRoot == "" || s.noHandles.Load() {
		return "", false
	}
	s.mountOnce.Do(func() {
		if fd, err := unix.Open(s.cgroupRoot, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			s.mountFD = fd
		} else {
			s.noHandles.Store(true)
		}
	})
	if s.mountFD < 0 {
		return "", false
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], id)
	fd, err := unix.OpenByHandleAt(s.mountFD, unix.NewFileHandle(fileidKernfs, b[:]), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
			s.noHandles.Store(true)
		}
		return "", false // ESTALE: the cgroup is gone
	}
	defer unix.Close(fd)
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", false
	}
	return s.relCgroup(strings.TrimSuffix(p, " (deleted)"))
}

// relCgroup turns a path in this mount namespace into one below the
// cgroup v2 mount.
func (s *sysLookup) relCgroup(abs string) (string, bool) {
	rel, ok := strings.CutPrefix(abs, s.cgroupRoot)
	if !ok || (rel != "" && rel[0] != '/') {
		return "", false
	}
	if rel == "" {
		rel = "/"
	}
	return rel, true
}

// cgroupIDOf returns the cgroup v2 id of the directory rel below the mount.
func (s *sysLookup) cgroupIDOf(rel string) (uint64, bool) {
	return cgroupIDAt(filepath.Join(s.cgroupRoot, rel))
}

// cgroupIDAt returns the cgroup v2 id of the cgroup directory abs: its inode
// number, which on 64-bit kernels is the kernfs node id the kernel reports
// as the cgroup id (bpf_get_current_cgroup_id; the programs are built for
// x86-64 and arm64 only). stat needs no privilege and no system call a
// container runtime's default seccomp profile refuses: name_to_handle_at,
// which gives the same id, is refused to a container without CAP_SYS_ADMIN
// by containerd's RuntimeDefault, and the ids of short-lived containers'
// cgroups were then never learned.
func cgroupIDAt(abs string) (uint64, bool) {
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, false
	}
	return st.Ino, true
}

// procView reads /proc/<pid> of one process and believes what it reads only
// while /proc/<pid> is still the process that started at start.
type procView struct {
	s     *sysLookup
	dir   string
	ticks uint64
	alive bool
}

func (s *sysLookup) process(tgid uint32, startNs uint64) *procView {
	p := &procView{s: s, dir: filepath.Join(s.proc, strconv.FormatUint(uint64(tgid), 10)), ticks: startNs / (1e9 / userHZ)}
	p.alive = startNs != 0 && p.same()
	return p
}

// same reports whether /proc/<pid> is the sample's process: pids are
// reused, start times (with the pid) are not.
func (p *procView) same() bool {
	b, err := os.ReadFile(filepath.Join(p.dir, "stat"))
	if err != nil {
		return false
	}
	// comm may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return false
	}
	f := bytes.Fields(b[i+2:])
	if len(f) < 20 {
		return false
	}
	n, err := strconv.ParseUint(string(f[19]), 10, 64)
	return err == nil && n == p.ticks
}

// executable returns where the file /proc/<pid>/exe is on the node, when
// that file is the one the sample names (device, inode): an exec since the
// creation, or a reused pid, fails this. Its path inside its filesystem
// comes from the process's own mount (exeFSPath), its place from the node's
// mount table (nodePath): not the path the process's mount namespace shows.
func (p *procView) executable(dev, ino uint64) (string, bool) {
	if !p.alive {
		return "", false
	}
	fsPath, ok := p.exeFSPath(dev, ino)
	if !ok || !p.same() {
		return "", false
	}
	return p.s.nodePath(dev, ino, fsPath)
}

// cgroupLines returns /proc/<pid>/cgroup when read from the sample's
// process.
func (p *procView) cgroupLines() []byte {
	if !p.alive {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(p.dir, "cgroup"))
	if err != nil || !p.same() {
		return nil
	}
	return b
}

// v2Cgroup returns the process's cgroup v2 path when that path has id.
func (p *procView) v2Cgroup(id uint64) (string, bool) {
	for _, l := range splitCgroupLines(p.cgroupLines()) {
		if l.hierarchy == "0" && l.controllers == "" {
			if got, ok := p.s.cgroupIDOf(l.path); ok && got == id {
				return l.path, true
			}
		}
	}
	return "", false
}

// v1ContainerCgroup returns the first cgroup v1 path of the process that
// names a container or pod, or "".
func (p *procView) v1ContainerCgroup() string {
	for _, l := range splitCgroupLines(p.cgroupLines()) {
		if l.hierarchy == "0" {
			continue
		}
		if c, pod := ParseCgroupPath(l.path); c != "" || pod != "" {
			return l.path
		}
	}
	return ""
}

type cgroupLine struct{ hierarchy, controllers, path string }

func splitCgroupLines(b []byte) []cgroupLine {
	var out []cgroupLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 {
			out = append(out, cgroupLine{parts[0], parts[1], parts[2]})
		}
	}
	return out
}

// userName returns the name of uid as the node's /etc/passwd says
// (<identity::host_root>/etc/passwd). Never the creator's own
// /proc/<pid>/root/etc/passwd: a process in a private mount namespace (or a
// container image) chooses that file, and with it which uid is called
// "root". The kernel's uid is the node's, so is its name.
func (s *sysLookup) userName(uid uint32) string {
	n, _ := s.passwdName(filepath.Join(s.hostRoot, "etc", "passwd"), uid)
	return n
}

// passwdName looks uid up in the passwd file at path, parsed once per
// version of the file.
func (s *sysLookup) passwdName(path string, uid uint32) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", false
	}
	k := fileKey{st.Dev, st.Ino, st.Size, st.Mtim}
	s.usersMu.Lock()
	m, ok := s.users[k]
	s.usersMu.Unlock()
	if !ok {
		m = parsePasswd(io.LimitReader(f, maxPasswd))
		s.usersMu.Lock()
		s.users[k] = m
		s.usersMu.Unlock()
	}
	return m[uid], true
}

func (s *sysLookup) sweepUsers() {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if len(s.users) > 256 {
		clear(s.users)
	}
}

// parsePasswd maps uids to names: name:password:uid:gid:gecos:home:shell.
func parsePasswd(r io.Reader) map[uint32]string {
	m := map[uint32]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 4)
		if len(f) < 4 || f[0] == "" || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := m[uint32(uid)]; !dup {
			m[uint32(uid)] = f[0]
		}
	}
	return m
}

// cgroup2Mount returns the mount point of the first cgroup2 mount listed in
// the mountinfo file, or "".
func cgroup2Mount(mountinfo string) string {
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		// ... mountpoint ... - fstype source options
		left, right, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(right, "cgroup2 ") {
			continue
		}
		f := strings.Fields(left)
		if len(f) >= 5 {
			return f[4]
		}
	}
	return ""
}

func (s *sysLookup) cgroupRootPath() string { return s.cgroupRoot }
