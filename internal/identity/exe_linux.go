// SPDX-License-Identifier: Apache-2.0

//go:build linux

package identity

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// An executable is named by where it is on the node: its path inside its
// filesystem (the dentry chain to the filesystem's root, which no mount
// namespace changes) placed under a mount of that filesystem in the node's
// mount table, and kept only if that node path is the same file (device and
// inode). The creator's own view (/proc/<pid>/exe read as a path) is not
// believed: in a private mount namespace a process bind-mounts any program
// over a trusted program's path and runs it under that name.

// mountLine is one line of a mountinfo file.
type mountLine struct {
	id         uint64
	dev        uint64 // userspace dev_t (unix.Mkdev)
	root, path string // root inside the filesystem; mount point
}

// parseMountinfo reads a mountinfo file.
func parseMountinfo(file string) []mountLine {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []mountLine
	for _, line := range strings.Split(string(b), "\n") {
		// id parent major:minor root mountpoint options ... - fstype source super
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		id, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		majS, minS, ok := strings.Cut(f[2], ":")
		if !ok {
			continue
		}
		ma, err1 := strconv.ParseUint(majS, 10, 32)
		mi, err2 := strconv.ParseUint(minS, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, mountLine{id: id, dev: unix.Mkdev(uint32(ma), uint32(mi)), root: unescapeMount(f[3]), path: unescapeMount(f[4])})
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// under returns the rest of p below dir ("" when p is dir), and whether p
// is dir or below it, by whole components.
func under(p, dir string) (string, bool) {
	if dir == "/" {
		return p, strings.HasPrefix(p, "/")
	}
	rest, ok := strings.CutPrefix(p, dir)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	return rest, true
}

var procRootRE = regexp.MustCompile(`^(.*)/([0-9]+)/root/?$`)

// nodeMountinfo returns the node's mount table as mount points below the
// node's root: this process's own when the host root is "/", pid N's when
// it is <proc>/N/root, else this process's mounts below the host root.
func (s *sysLookup) nodeMountinfo() []mountLine {
	if s.hostRoot == "/" || s.hostRoot == "" {
		return parseMountinfo("/proc/self/mountinfo")
	}
	if m := procRootRE.FindStringSubmatch(filepath.Clean(s.hostRoot) + "/"); m != nil {
		return parseMountinfo(filepath.Join(m[1], m[2], "mountinfo"))
	}
	var out []mountLine
	for _, l := range parseMountinfo("/proc/self/mountinfo") {
		if rest, ok := under(l.path, filepath.Clean(s.hostRoot)); ok {
			if rest == "" {
				rest = "/"
			}
			l.path = rest
			out = append(out, l)
		}
	}
	return out
}

// nodePath returns where the file at fsPath inside the filesystem dev is on
// the node, checked to be the file (dev, ino): a mount of that filesystem in
// the node's mount table whose root holds fsPath, and the file found there
// through the node's root (a mount on top of it, or another file at that
// path, fails the check; the next mount is tried).
func (s *sysLookup) nodePath(dev, ino uint64, fsPath string) (string, bool) {
	if !strings.HasPrefix(fsPath, "/") {
		return "", false
	}
	for _, m := range s.nodeMountinfo() {
		if m.dev != dev {
			continue
		}
		rest, ok := under(fsPath, m.root)
		if !ok {
			continue
		}
		p := filepath.Clean(m.path + "/" + rest)
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(s.hostRoot, p), &st); err == nil && st.Dev == dev && st.Ino == ino {
			return p, true
		}
	}
	return "", false
}

// exeFSPath returns the path inside its filesystem of the file
// /proc/<pid>/exe is, when that file is (dev, ino): the link's path is the
// process's view, the mount it is on (statx's mount id) says where in its
// filesystem that mount's root is, in the process's own mountinfo.
func (p *procView) exeFSPath(dev, ino uint64) (string, bool) {
	link := filepath.Join(p.dir, "exe")
	fd, err := unix.Open(link, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO|unix.STATX_MNT_ID, &stx); err != nil ||
		stx.Mask&unix.STATX_MNT_ID == 0 || unix.Mkdev(stx.Dev_major, stx.Dev_minor) != dev || stx.Ino != ino {
		return "", false
	}
	view, err := os.Readlink(link)
	if err != nil {
		return "", false
	}
	view = strings.TrimSuffix(view, " (deleted)")
	for _, m := range parseMountinfo(filepath.Join(p.dir, "mountinfo")) {
		if m.id != stx.Mnt_id {
			continue
		}
		rest, ok := under(view, m.path)
		if !ok {
			return "", false
		}
		return filepath.Clean(m.root + "/" + rest), true
	}
	return "", false
}

// nsKey names a namespace (its nsfs device and inode).
type nsKey struct{ dev, ino uint64 }

// nodeMountNS returns the node's mount namespace (/proc/<n>/ns/mnt of the
// process whose mountinfo is the node's table, see nodeMountinfo) as device
// and inode, or false when it cannot be read.
func (s *sysLookup) nodeMountNS() (nsKey, bool) {
	link := "/proc/self/ns/mnt"
	if s.hostRoot != "/" && s.hostRoot != "" {
		m := procRootRE.FindStringSubmatch(filepath.Clean(s.hostRoot) + "/")
		if m == nil {
			// mounts below the host root in this process's namespace: the
			// node's processes are in no namespace known here.
			return nsKey{}, false
		}
		link = filepath.Join(m[1], m[2], "ns", "mnt")
	}
	var st unix.Stat_t
	if err := unix.Stat(link, &st); err != nil {
		return nsKey{}, false
	}
	return nsKey{st.Dev, st.Ino}, true
}

// attestedPathIsNode says whether the executable path SPIRE's unix attestor
// reads for the process (unix:path: /proc/<pid>/exe as a path, which the
// kernel writes as the process's own mount namespace names the file) is
// nodePath, where the file its exec mapped is on the node. Only in the
// node's mount namespace is that view the node's: in a private one the
// process mounts what it likes over any path (a bind of its own program
// over a trusted one's path), and renames in a filesystem of its own above
// the executable's mount change the path without a mount, so no reading of
// it before and after the agent's could vouch for what the agent read.
func (p *procView) attestedPathIsNode(nodePath string) bool {
	if nodePath == "" {
		return false
	}
	node, ok := p.s.nodeMountNS()
	if !ok {
		return false
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(p.dir, "ns", "mnt"), &st); err != nil || st.Dev != node.dev || st.Ino != node.ino {
		return false
	}
	view, err := os.Readlink(filepath.Join(p.dir, "exe"))
	if err != nil || view != nodePath {
		return false
	}
	// The namespace and link read may be a new process's that took the pid.
	return p.same()
}
