// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fanotifyMonitor listens for FAN_CREATE on the whole test filesystem, the
// closest fanotify comes to "every file created": directory-entry events
// need FAN_REPORT_DFID_NAME (Linux 5.9+), which reports the parent directory
// handle and the name, and no open file descriptor.
type fanotifyMonitor struct {
	f        *os.File
	mark     string   // what was marked: "filesystem" or "directory"
	extra    []string // more filesystems to mark (the node rows watch every test filesystem)
	expected int
	received atomic.Uint64
	overflow atomic.Bool
	readErr  error
	done     chan struct{}
}

func (m *fanotifyMonitor) start(dir string) error {
	// FAN_NONBLOCK: the fd goes through Go's poller, so Close wakes the
	// blocked reader.
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_REPORT_DFID_NAME|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK,
		unix.O_RDONLY|unix.O_LARGEFILE)
	if err != nil {
		return fmt.Errorf("fanotify_init: %w", err)
	}
	m.mark = "filesystem"
	err = unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_CREATE, unix.AT_FDCWD, dir)
	if err != nil {
		// Some filesystems refuse filesystem marks; a mark on the
		// directory sees the same creations (they all happen in it).
		m.mark = "directory"
		err = unix.FanotifyMark(fd, unix.FAN_MARK_ADD, unix.FAN_CREATE, unix.AT_FDCWD, dir)
	}
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("fanotify_mark FAN_CREATE on %s: %w", dir, err)
	}
	for _, d := range m.extra {
		if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_CREATE, unix.AT_FDCWD, d); err != nil {
			unix.Close(fd)
			return fmt.Errorf("fanotify_mark FAN_MARK_FILESYSTEM FAN_CREATE on %s: %w", d, err)
		}
	}
	m.f = os.NewFile(uintptr(fd), "fanotify")
	m.done = make(chan struct{})
	go m.read()
	return nil
}

func (m *fanotifyMonitor) read() {
	defer close(m.done)
	buf := make([]byte, 256<<10)
	for {
		n, err := m.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				m.readErr = err
			}
			return
		}
		m.count(buf[:n])
	}
}

// count walks the event records (metadata, then info records, event_len
// bytes in all).
func (m *fanotifyMonitor) count(b []byte) {
	const metaLen = int(unsafe.Sizeof(unix.FanotifyEventMetadata{}))
	for len(b) >= metaLen {
		meta := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&b[0]))
		if meta.Event_len < uint32(metaLen) || int(meta.Event_len) > len(b) {
			return
		}
		switch {
		case meta.Mask&unix.FAN_Q_OVERFLOW != 0:
			m.overflow.Store(true)
		case meta.Mask&unix.FAN_CREATE != 0:
			m.received.Add(1)
		}
		b = b[meta.Event_len:]
	}
}

func (m *fanotifyMonitor) drain(expected int) {
	waitFor(func() bool { return m.received.Load() >= uint64(expected) || m.overflow.Load() }, 3*time.Second)
	m.expected = expected
}

func (m *fanotifyMonitor) describe() string { return "mark: " + m.mark }

func (m *fanotifyMonitor) consumerCPU() (time.Duration, error) { return selfCPU() }

// stop: fanotify does not say how many events an overflow dropped; lost is
// what is missing from the files created.
func (m *fanotifyMonitor) stop() (counts, error) {
	err := m.f.Close()
	<-m.done
	c := counts{received: m.received.Load(), known: true}
	if c.received < uint64(m.expected) {
		c.lost = uint64(m.expected) - c.received
	}
	return c, errors.Join(err, m.readErr)
}
