// SPDX-License-Identifier: Apache-2.0

//go:build linux

package identity

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// runtimeRoots are the top-level cgroups under which container runtimes and
// the kubelet make containers' cgroups (see ParseCgroupPath).
var runtimeRoots = map[string]bool{
	"docker": true, "system.slice": true, "libpod_parent": true, "machine.slice": true,
	"kubepods": true, "kubepods.slice": true,
}

// cgroupWatcher learns container cgroups as they are made: it watches
// (inotify IN_CREATE) the runtimes' directories on the cgroup v2 mount and
// records each new container or pod cgroup's id and path at once. A
// container that creates a file and exits, whose runtime removes its cgroup
// before the sample's lookup (docker does within milliseconds), is still
// named: its id was learnt when the cgroup was made.
type cgroupWatcher struct {
	root   string
	f      *os.File
	record func(id uint64, rel string)
	mu     sync.Mutex
	wds    map[int32]string // watch descriptor → path below root ("" is the root)
	done   chan struct{}
}

func newCgroupWatcher(root string, record func(id uint64, rel string)) (*cgroupWatcher, error) {
	if root == "" {
		return nil, errors.New("no cgroup v2 mount")
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	w := &cgroupWatcher{root: root, f: os.NewFile(uintptr(fd), "inotify"), record: record, wds: map[int32]string{}, done: make(chan struct{})}
	if err := w.watch(""); err != nil {
		w.f.Close()
		return nil, err
	}
	w.scan("")
	go w.run()
	return w, nil
}

func (w *cgroupWatcher) close() {
	w.f.Close()
	<-w.done
}

// watch adds an inotify watch on rel.
func (w *cgroupWatcher) watch(rel string) error {
	wd, err := unix.InotifyAddWatch(int(w.f.Fd()), filepath.Join(w.root, rel), unix.IN_CREATE|unix.IN_ONLYDIR)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.wds[int32(wd)] = rel
	w.mu.Unlock()
	return nil
}

// interesting says whether rel (a new directory) is a container or pod
// cgroup to record, and whether containers can appear below it.
func interesting(rel string) (record, descend bool) {
	c := strings.Split(strings.TrimPrefix(rel, "/"), "/")
	if !runtimeRoots[c[0]] {
		return false, false
	}
	if len(c) == 1 {
		return false, true
	}
	cid, pod := ParseCgroupPath(rel)
	record = cid != "" || pod != ""
	// Below docker, libpod_parent, system.slice and machine.slice only
	// containers; below the kubelet's roots QoS and pod levels first.
	descend = cid == "" && len(c) < 4 && (c[0] == "kubepods" || c[0] == "kubepods.slice")
	return record, descend
}

// scan adds watches on the runtimes' existing directories below rel (at
// start, and after an inotify queue overflow) and records what is there.
func (w *cgroupWatcher) scan(rel string) {
	es, err := os.ReadDir(filepath.Join(w.root, rel))
	if err != nil {
		return
	}
	for _, e := range es {
		if !e.IsDir() {
			continue
		}
		w.created(path.Join("/", rel, e.Name()))
	}
}

// created handles the new directory rel.
func (w *cgroupWatcher) created(rel string) {
	record, descend := interesting(rel)
	if record {
		if id, ok := cgroupIDAt(filepath.Join(w.root, rel)); ok {
			w.record(id, rel)
		}
	}
	if descend {
		if w.watch(rel) == nil {
			// What was made below before the watch took effect.
			w.scan(rel)
		}
	}
}

func (w *cgroupWatcher) run() {
	defer close(w.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return // closed
		}
		b := buf[:n]
		for len(b) >= unix.SizeofInotifyEvent {
			wd := int32(binary.LittleEndian.Uint32(b[0:4]))
			mask := binary.LittleEndian.Uint32(b[4:8])
			nameLen := int(binary.LittleEndian.Uint32(b[12:16]))
			if unix.SizeofInotifyEvent+nameLen > len(b) {
				break
			}
			name := b[unix.SizeofInotifyEvent : unix.SizeofInotifyEvent+nameLen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[unix.SizeofInotifyEvent+nameLen:]
			switch {
			case mask&unix.IN_Q_OVERFLOW != 0:
				w.scan("")
			case mask&unix.IN_IGNORED != 0:
				w.mu.Lock()
				delete(w.wds, wd)
				w.mu.Unlock()
			case mask&unix.IN_CREATE != 0 && mask&unix.IN_ISDIR != 0:
				w.mu.Lock()
				parent, ok := w.wds[wd]
				w.mu.Unlock()
				if ok {
					w.created(path.Join("/", parent, string(name)))
				}
			}
		}
	}
}
