// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/kernelevents/kernelevents/internal/event"
)

// maxSymlinks bounds the symlinks one resolution follows, as the kernel's
// MAXSYMLINKS (40) does.
const maxSymlinks = 40

// resolve finishes a sample the kernel could not resolve (FlagUnresolved:
// mknod seen by the tracepoint hook with a '/' in its name, "a/../b",
// "//etc/./x", a symlinked directory). It resolves the path's directories
// inside the creator's root (/proc/<tgid>/root), clears the flag when that
// worked, and applies the path prefix filter the kernel skipped for it. It
// returns false when the sample is filtered out.
//
// Never dropped: a sample whose path cannot be resolved (the process has
// exited, a directory is gone, the name was cut) keeps the flag and passes
// the filter, so that a file is never filtered out on a guess.
// Limit: the resolution runs after the fact; a symlink changed between the
// mknod and this read resolves to its new target.
func (p *Probe) resolve(e *event.Event) bool {
	if e.Flags&event.FlagTruncated != 0 {
		return true
	}
	root := "/proc/" + strconv.FormatUint(uint64(e.TGID), 10) + "/root"
	own := true
	if _, err := os.Stat(root); err != nil {
		root, own = "", false // gone: our own root, and the flag stays
	}
	resolved, ok := resolveIn(root, string(e.Path))
	if !ok {
		return true
	}
	p.resolved = append(p.resolved[:0], resolved...)
	e.Path = p.resolved
	if own {
		e.Flags &^= event.FlagUnresolved
	}
	if len(p.prefixes) == 0 {
		return true
	}
	for _, pfx := range p.prefixes {
		if strings.HasPrefix(resolved, pfx) {
			return true
		}
	}
	return false
}

// resolveIn resolves the absolute path name inside root ("" for this
// process's root) component by component, following symlinks in its
// directories (absolute targets restart at root) and applying ".." after
// them, as the kernel's lookup does. The last component is the created
// file itself and is not followed. ok is false when a directory could not
// be read or the links do not end.
func resolveIn(root, name string) (_ string, ok bool) {
	queue := components(name)
	var out []string
	links := 0
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == ".." {
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			continue
		}
		if len(queue) == 0 {
			out = append(out, c)
			break
		}
		at := "/" + path.Join(append(out, c)...)
		fi, err := os.Lstat(root + at)
		if err != nil {
			return "", false
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			out = append(out, c)
			continue
		}
		if links++; links > maxSymlinks {
			return "", false
		}
		target, err := os.Readlink(root + at)
		if err != nil {
			return "", false
		}
		if strings.HasPrefix(target, "/") {
			out = out[:0]
		}
		queue = append(components(target), queue...)
	}
	return "/" + strings.Join(out, "/"), true
}

// components splits a path into its names, without "" and ".".
func components(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}
