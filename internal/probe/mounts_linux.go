// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The node's mount table: where each filesystem the kernel names in a sample
// (its dev_t and the path inside it from its own root) is on the node. The
// kernel walks a file's dentries to its filesystem's root without crossing a
// mount, so its path does not depend on the creator's mount namespace,
// chroot, bind or detached mounts; this table (the node's, /proc/1/mountinfo
// under identity::host_root) turns that into the node's path, and the
// configured path prefixes into (filesystem, path inside it) keys for the
// in-kernel filter.

// nodeMount is one line of mountinfo.
type nodeMount struct {
	dev   uint32 // kernel dev_t: major<<20 | minor (the sample's fs_dev)
	root  string // the mount's root inside its filesystem
	point string // where it is mounted, in the node's mount namespace
	order int    // line number: later lines are mounted on top
}

// mountTable is a parsed mountinfo.
type mountTable struct {
	mounts []nodeMount
	byDev  map[uint32][]int
}

// readMountTable reads a mountinfo file (proc(5)).
func readMountTable(path string) (*mountTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the node's mount table: %w", err)
	}
	defer f.Close()
	t := &mountTable{byDev: map[uint32][]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 0; sc.Scan(); n++ {
		// id parent major:minor root point options ... - fstype source superopts
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			return nil, fmt.Errorf("read the node's mount table %s: line %d: %d fields", path, n+1, len(fields))
		}
		major, minor, ok := strings.Cut(fields[2], ":")
		ma, err1 := strconv.ParseUint(major, 10, 32)
		mi, err2 := strconv.ParseUint(minor, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("read the node's mount table %s: line %d: device %q", path, n+1, fields[2])
		}
		t.byDev[uint32(ma<<20|mi)] = append(t.byDev[uint32(ma<<20|mi)], len(t.mounts))
		t.mounts = append(t.mounts, nodeMount{
			dev:   uint32(ma<<20 | mi),
			root:  unescapeMount(fields[3]),
			point: unescapeMount(fields[4]),
			order: n,
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the node's mount table %s: %w", path, err)
	}
	return t, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, \011,
// \012, \134).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// under says p is dir or below it (component-wise); dir "/" holds all.
func under(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir) && p[len(dir)] == '/'
}

// nodePath appends to buf where the file at fsPath in filesystem dev is on
// the node: the mountpoint of a node mount of dev whose root holds fsPath,
// plus the rest. Of several, the one with the longest root (the narrowest
// bind), then the shortest mountpoint, then the first in byte order: the
// same answer for the same table. ok is false when no node mount holds it.
// It does not allocate when buf has room (the reader's path per sample).
func (t *mountTable) nodePath(buf []byte, dev uint32, fsPath []byte) (_ []byte, ok bool) {
	best := -1
	for _, i := range t.byDev[dev] {
		m := &t.mounts[i]
		if !underBytes(fsPath, m.root) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := &t.mounts[best]
		if c := cmp.Or(cmp.Compare(len(b.root), len(m.root)), cmp.Compare(len(m.point), len(b.point)), strings.Compare(m.point, b.point)); c < 0 {
			best = i
		}
	}
	if best < 0 {
		return buf, false
	}
	m := &t.mounts[best]
	rest := fsPath
	if m.root != "/" {
		rest = fsPath[len(m.root):]
	}
	switch {
	case len(rest) == 0:
		return append(buf, m.point...), true
	case m.point == "/":
		return append(buf, rest...), true
	}
	return append(append(buf, m.point...), rest...), true
}

// underBytes is under for a []byte path.
func underBytes(p []byte, dir string) bool {
	return dir == "/" || len(p) >= len(dir) && string(p[:len(dir)]) == dir && (len(p) == len(dir) || p[len(dir)] == '/')
}

// prefixKeys resolves node path prefixes (as configured: absolute, a
// directory ending in "/") to (filesystem, path inside it) prefixes: the
// prefix on every mount whose mountpoint holds it, not only the top one (a
// process whose cwd or open directory predates a mount on or above the
// prefix still creates in the filesystem below: its file is on the node,
// under the prefix, once that mount goes), and the whole of every mount
// whose mountpoint starts with it (a filesystem mounted inside a watched
// directory). Every mount of those filesystems anywhere then matches the
// same keys.
func (t *mountTable) prefixKeys(prefixes []string) map[uint32][]string {
	keys := map[uint32][]string{}
	add := func(dev uint32, p string) {
		if !slices.Contains(keys[dev], p) {
			keys[dev] = append(keys[dev], p)
		}
	}
	for _, pfx := range prefixes {
		// the directory part decides the mount: "/tmp/foo" is a prefix of
		// /tmp/foobar, on the mount that holds /tmp.
		dir := pfx[:strings.LastIndexByte(pfx, '/')+1]
		if len(dir) > 1 {
			dir = dir[:len(dir)-1]
		}
		for i := range t.mounts {
			m := &t.mounts[i]
			switch {
			case under(dir, m.point):
				rest := pfx[len(m.point):]
				if m.point == "/" {
					rest = pfx
				}
				if m.root == "/" {
					add(m.dev, rest)
				} else if rest == "" || rest[0] == '/' {
					add(m.dev, m.root+rest)
				} else {
					add(m.dev, m.root+"/"+rest)
				}
			case strings.HasPrefix(m.point, pfx):
				if m.root == "/" {
					add(m.dev, "/")
				} else {
					add(m.dev, m.root+"/")
				}
			}
		}
	}
	for _, v := range keys {
		slices.Sort(v)
	}
	return keys
}

// matchKeys says whether fsPath on dev starts with one of the keys. A name
// that may be a directory (dir) brings what it holds: it matches when
// fsPath+"/" starts with a key (inside a watched directory, or the
// directory itself) or is the start of one (an ancestor of a watched
// directory), as the kernel's filter does (bpf/report.h).
func matchKeys(keys map[uint32][]string, dev uint32, fsPath []byte, dir bool) bool {
	for _, k := range keys[dev] {
		if len(fsPath) >= len(k) && string(fsPath[:len(k)]) == k {
			return true
		}
		if dir && len(fsPath) < len(k) && string(fsPath) == k[:len(fsPath)] && k[len(fsPath)] == '/' {
			return true
		}
	}
	return false
}

// exactKeys returns the directories above the watched key k inside its
// filesystem, and k's own directory when k ends in "/", each as "dir/" and
// a NUL (the filesystem's root, which no rename replaces, left out): the
// kernel's filter matches a directory renamed onto one of them, within one
// directory too (bpf/filter.h, PREFIX_EXACT). Keys past the kernel's
// MaxPathPrefix bytes are left out (never matched).
func exactKeys(k string) []string {
	var out []string
	for i := 1; i < len(k); i++ {
		if k[i] == '/' && i+2 <= MaxPathPrefix {
			out = append(out, k[:i+1]+"\x00")
		}
	}
	return out
}

// watchedNameLen is WATCHED_NAME_LEN in bpf/filter.h: names are cut to one
// byte less (bpf_probe_read_kernel_str's NUL).
const watchedNameLen = 64

// watchedNames returns the components of the watched key k (its
// directories' names inside its filesystem, and its last part), each cut
// as the kernel cuts it, for the kernel's watched_names.
func watchedNames(k string) [][watchedNameLen]byte {
	var out [][watchedNameLen]byte
	for _, c := range strings.Split(k, "/") {
		if c == "" {
			continue
		}
		var n [watchedNameLen]byte
		copy(n[:watchedNameLen-1], c)
		out = append(out, n)
	}
	return out
}

// kernelDev is the kernel's dev_t of a user-space one (stat's st_dev).
func kernelDev(d uint64) uint32 {
	return unix.Major(d)<<20 | unix.Minor(d)
}
