// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// RingBufferOf opens, by id, the one BPF ring buffer that process pid holds
// (its /proc fdinfo says map_type 27, BPF_MAP_TYPE_RINGBUF). It fails the
// test when the process holds none or several.
func RingBufferOf(t testing.TB, pid int) *ebpf.Map {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	var found []*ebpf.Map
	for _, fd := range fds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil || !bytes.Contains(b, []byte("map_type:\t27\n")) {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "map_id:\t"); ok {
				id, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("fdinfo map_id %q: %v", v, err)
				}
				m, err := ebpf.NewMapFromID(ebpf.MapID(id))
				if err != nil {
					t.Fatalf("open ring buffer map %d: %v", id, err)
				}
				found = append(found, m)
			}
		}
	}
	// One process can hold the same map under several fds: keep one per id.
	ids := map[ebpf.MapID]*ebpf.Map{}
	for _, m := range found {
		info, err := m.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		if _, dup := ids[id]; dup {
			m.Close()
			continue
		}
		ids[id] = m
	}
	if len(ids) != 1 {
		t.Fatalf("process %d holds %d BPF ring buffers, want 1", pid, len(ids))
	}
	for _, m := range ids {
		t.Cleanup(func() { m.Close() })
		return m
	}
	return nil
}

// CorruptRingConsumer sets the ring buffer's consumer position 4 bytes short
// of the producer's, as any root process can by mapping the ring's consumer
// page: the reader's next read finds less than a record header and fails
// for good. The producer must be still (no sample reserved meanwhile).
func CorruptRingConsumer(t testing.TB, m *ebpf.Map) {
	t.Helper()
	page := os.Getpagesize()
	cons, err := unix.Mmap(m.FD(), 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap the consumer page: %v", err)
	}
	defer unix.Munmap(cons)
	prod, err := unix.Mmap(m.FD(), int64(page), page, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap the producer page: %v", err)
	}
	defer unix.Munmap(prod)
	p := atomic.LoadUintptr((*uintptr)(unsafe.Pointer(&prod[0])))
	atomic.StoreUintptr((*uintptr)(unsafe.Pointer(&cons[0])), p-4)
}
