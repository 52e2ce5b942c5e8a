// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/event"
)

// DefaultMountInfo is the node's mount table when Options.MountInfo is empty.
const DefaultMountInfo = "/proc/1/mountinfo"

// refreshGap bounds how often a sample on a filesystem the table does not
// have makes the reader read the table again (a private tmpfs in a loop
// would otherwise make it read the table per file).
const refreshGap = 100 * time.Millisecond

// path_prefixes' values (bpf/filter.h PREFIX_KEY, PREFIX_EXACT, PREFIX_NAME):
// a prefix, an exact key (a watched directory itself or an ancestor of one),
// or a name prefix (not ending in "/": a rename or link within one
// directory can make a name start to match it).
const (
	prefixKeyed = uint8(1)
	prefixExact = uint8(2)
	prefixName  = uint8(3)
)

// where keeps the node's mount table and the in-kernel prefix filter's keys
// in step with it: read at start, again when the table changes (mountinfo
// is pollable: POLLPRI on every mount or unmount in its namespace) and on a
// sample from a filesystem it does not have.
type where struct {
	path     string
	prefixes []string
	prefMap  *ebpf.Map // path_prefixes; nil without a prefix filter
	nameMap  *ebpf.Map // watched_names
	devMap   *ebpf.Map // node_devs

	// refreshing serializes refresh: the reader's (on a miss) and the
	// watcher's may run at once, and the one that read the older table
	// must not store it last.
	refreshing sync.Mutex
	mu         sync.Mutex
	table      *mountTable
	keys       map[uint32][]string
	inKernel   map[uint32]bool // devs in node_devs
	keyed      map[prefixKey]bool
	named      map[[watchedNameLen]byte]bool // in watched_names (never taken out: a stale name costs a lookup's path walk, no count)
	last       time.Time
	buf        []byte
	// devs are the node's filesystems (user-space dev_t) in the table last
	// read; changed, when set, is told each new set (SetMountsChanged).
	devs    map[uint64]bool
	changed func(devs map[uint64]bool)

	stop chan struct{}
	done chan struct{}
}

func newWhere(path string, prefixes []string, maps *commonMaps) (*where, error) {
	if path == "" {
		path = DefaultMountInfo
	}
	w := &where{path: path, prefixes: prefixes, devMap: maps.NodeDevs, inKernel: map[uint32]bool{}, keyed: map[prefixKey]bool{},
		named: map[[watchedNameLen]byte]bool{}}
	if len(prefixes) > 0 {
		w.prefMap = maps.PathPrefixes
		w.nameMap = maps.WatchedNames
	}
	if err := w.refresh(); err != nil {
		return nil, err
	}
	return w, nil
}

// refresh reads the table again and brings the kernel's maps in step: new
// keys and devs first, then stale ones out. A filesystem goes into
// node_devs (where the kernel may drop its files) only once all its keys
// are in, so a full map makes the kernel pass files, never drop them.
func (w *where) refresh() error {
	w.refreshing.Lock()
	defer w.refreshing.Unlock()
	t, err := readMountTable(w.path)
	if err != nil {
		return err
	}
	keys := t.prefixKeys(w.prefixes)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = time.Now()
	w.table, w.keys = t, keys
	w.tellDevs(t)
	if w.prefMap == nil {
		return nil
	}
	one := uint8(1)
	var errs []error
	keyed := map[prefixKey]bool{}
	devs := map[uint32]bool{}
	for dev := range t.byDev {
		ok := true
		all := map[string]uint8{}
		for _, k := range keys[dev] {
			for _, e := range exactKeys(k) {
				all[e] = prefixExact
			}
			for _, n := range watchedNames(k) {
				if !w.named[n] {
					if err := w.nameMap.Put(n, one); err != nil {
						errs = append(errs, fmt.Errorf("watched names: %w", err))
					} else {
						w.named[n] = true
					}
				}
			}
		}
		for _, k := range keys[dev] {
			all[k] = prefixKeyed
			if !strings.HasSuffix(k, "/") {
				all[k] = prefixName
			}
		}
		for k, v := range all {
			key := prefixKey{Dev: dev}
			n := copy(key.Data[:], k)
			key.Prefixlen = 32 + uint32(n)*8
			if err := w.prefMap.Put(key, v); err != nil {
				errs = append(errs, fmt.Errorf("path prefix filter: %w", err))
				ok = false
				break
			}
			keyed[key] = true
		}
		if !ok {
			continue
		}
		if err := w.devMap.Put(dev, one); err != nil {
			errs = append(errs, fmt.Errorf("node filesystems: %w", err))
			continue
		}
		devs[dev] = true
	}
	for dev := range w.inKernel {
		if !devs[dev] {
			if err := w.devMap.Delete(dev); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = append(errs, err)
			}
		}
	}
	for k := range w.keyed {
		if !keyed[k] {
			if err := w.prefMap.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = append(errs, err)
			}
		}
	}
	w.inKernel, w.keyed = devs, keyed
	if len(errs) > 0 {
		// Not fatal: a filesystem whose keys did not fit is passed by the
		// kernel and filtered here.
		return fmt.Errorf("update the path prefix filter from %s: %w", w.path, errors.Join(errs...))
	}
	return nil
}

// tellDevs tells changed the node's filesystems when a device came or went
// since the last table (w.mu held; refresh calls it in table order, under
// refreshing). Caches of paths by device (the resolver's executables) drop
// what a device no longer in the table named: an anonymous device number
// is reused by the next mount that needs one, and a path cached for the old
// filesystem would name a file of the new.
func (w *where) tellDevs(t *mountTable) {
	devs := make(map[uint64]bool, len(t.byDev))
	for dev := range t.byDev {
		devs[unix.Mkdev(dev>>20, dev&(1<<20-1))] = true
	}
	same := len(devs) == len(w.devs)
	for d := range devs {
		same = same && w.devs[d]
	}
	w.devs = devs
	if !same && w.changed != nil {
		w.changed(devs)
	}
}

// setChanged sets the function told the node's filesystems on each change
// of their set, and tells it the current set at once.
func (w *where) setChanged(fn func(devs map[uint64]bool)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed = fn
	if fn != nil && w.devs != nil {
		fn(w.devs)
	}
}

// place sets e.Path to the node's path of the file, or sets
// event.WhereNodeUnknown, and applies the prefix filter to the samples the
// kernel passed without it. False: filtered out.
func (w *where) place(e *event.Event) bool {
	if e.Flags&event.FlagRootless != 0 || e.Where&event.WhereDisconnected != 0 {
		return true // no path from the filesystem's root: nothing to map
	}
	if e.Where&event.WhereUserNSFS != 0 {
		// Mounted from a user namespace: never in the node's table (its
		// mount namespace belongs to the initial user namespace), whatever
		// node mount its reused device number once named.
		e.Where |= event.WhereNodeUnknown
		return true
	}
	dev := kernelDev(e.FSDev)
	w.mu.Lock()
	np, ok := w.table.nodePath(w.buf[:0], dev, e.FSPath)
	stale := !ok && time.Since(w.last) >= refreshGap
	w.mu.Unlock()
	if stale {
		_ = w.refresh() // a failed read keeps the last table
		w.mu.Lock()
		np, ok = w.table.nodePath(w.buf[:0], dev, e.FSPath)
		w.mu.Unlock()
	}
	if !ok {
		e.Where |= event.WhereNodeUnknown
		return true // never dropped: not known to be outside the prefixes
	}
	w.buf = np
	e.Path = np
	if len(w.prefixes) == 0 || e.Flags&event.FlagUnresolved != 0 {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return matchKeys(w.keys, dev, e.FSPath, e.Type.MayBeDirectory())
}

// watch re-reads the table whenever it changes, until close. The file is
// open (its change count taken) before watch returns and the table is read
// once more after that: a mount between the first read and the open would
// otherwise wait for the next change.
//
// The file is opened with open(2), not os.Open: os.Open registers every
// file with the Go runtime's epoll (the netpoller), and mountinfo's poll
// reports a change to whichever poll of the file looks first (it keeps the
// last change seen per open file, proc_mounts' mounts_poll). The runtime's
// epoll_wait, on another thread, then took about one change in five under
// load, and the table stayed stale until the next mount or unmount
// (TestNodeMountsFollowed).
func (w *where) watch() {
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	fd, err := unix.Open(w.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		_ = w.refresh() // a failed read keeps the last table
	}
	go func() {
		defer close(w.done)
		if err != nil {
			return // refreshed on misses only
		}
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			n, err := unix.Poll(fds, 200)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			if n > 0 && fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
				_ = w.refresh()
			}
		}
	}()
}

func (w *where) close() {
	if w.stop != nil {
		close(w.stop)
		<-w.done
		w.stop = nil
	}
}

// hasNamePrefix: some prefix does not end in "/" (/etc/cron matches
// /etc/crontab): then renames and links within one directory go to the
// kernel's prefix filter too, which counts those whose new name a name
// prefix matches (bpf/filter.h filter_name_prefixes).
func hasNamePrefix(prefixes []string) bool {
	for _, p := range prefixes {
		if !strings.HasSuffix(p, "/") {
			return true
		}
	}
	return false
}
