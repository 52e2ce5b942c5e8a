// SPDX-License-Identifier: Apache-2.0

// Package event decodes the samples the kernelevents BPF programs write into
// the ring buffer. Decoding is pure: it never trusts the kernel's bytes, checks
// every length first and needs no kernel to test.
//
// The layout mirrors struct event in bpf/event.h; TestLayoutMatchesBPF keeps
// the two in step through the bpf2go-generated type.
package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Sizes of the sample and its fixed fields, from bpf/event.h.
const (
	Size     = 336
	CommLen  = 16
	PathLen  = 256
	offComm  = 36
	offPath  = 52
	maxPath  = PathLen - 1
	hookMin  = HookKretprobe
	hookMax  = HookIOUring
	knownFlg = FlagTruncated | FlagIOUring | FlagMknod | FlagUnresolved | FlagTmpfileLink | FlagRootless
)

// Hook says which kernel program saw a creation.
type Hook uint8

// Hooks, as numbered in bpf/event.h.
const (
	HookKretprobe  Hook = 1
	HookFexit      Hook = 2
	HookTracepoint Hook = 3
	HookIOUring    Hook = 4
)

// String returns the name users see in config and in the hook attribute.
func (h Hook) String() string {
	switch h {
	case HookKretprobe:
		return "kretprobe"
	case HookFexit:
		return "fexit"
	case HookTracepoint:
		return "tracepoint"
	case HookIOUring:
		return "io_uring_tracepoint"
	}
	return fmt.Sprintf("hook(%d)", uint8(h))
}

// Flags qualify a sample.
type Flags uint8

// Flags, as in bpf/event.h.
const (
	// FlagTruncated marks a path cut at PathLen-1 bytes or at the walk's depth.
	FlagTruncated Flags = 0x01
	// FlagIOUring marks a file created through io_uring.
	FlagIOUring Flags = 0x02
	// FlagMknod marks a file created by mknod(2) rather than an open.
	FlagMknod Flags = 0x04
	// FlagUnresolved marks a path whose tail after the directory the kernel
	// resolved is the caller's string as written, holding a '/' (mknod seen
	// by the tracepoint hook): the in-kernel prefix filter did not apply.
	// internal/probe resolves it and clears the flag when it can.
	FlagUnresolved Flags = 0x20
	// FlagTmpfileLink marks an O_TMPFILE file given its first name by
	// linkat(2): the creation is the link.
	FlagTmpfileLink Flags = 0x40
	// FlagRootless marks a path whose root side the kernel could not reach
	// (deeper than its walk allows): Path is the leaf side only and names no
	// top directory. FlagTruncated is set with it. Without FlagRootless a
	// truncated path starts at the root and was cut on the leaf side.
	FlagRootless Flags = 0x80
)

// Errors returned by Decode; each wraps ErrMalformed.
var (
	ErrMalformed = errors.New("malformed sample")
	errSize      = fmt.Errorf("%w: size", ErrMalformed)
	errPathLen   = fmt.Errorf("%w: path length", ErrMalformed)
	errPathNUL   = fmt.Errorf("%w: NUL byte in path", ErrMalformed)
	errHook      = fmt.Errorf("%w: unknown hook", ErrMalformed)
	errFlags     = fmt.Errorf("%w: unknown flags", ErrMalformed)
)

// Event is one decoded sample. Comm and Path alias the buffer given to
// Decode: they are valid until that buffer is reused, which lets the reader
// decode without allocating.
type Event struct {
	// TimeNs is CLOCK_MONOTONIC at the hook, in nanoseconds.
	TimeNs   uint64
	CgroupID uint64
	TGID     uint32
	TID      uint32
	// UID and GID are the effective ids (process.user.id): whose authority
	// the file was created with. A setuid program's files are its owner's.
	UID uint32
	GID uint32
	// RealUID and RealGID are the real ids (who started the program).
	RealUID uint32
	RealGID uint32
	// ExeDev (a user-space dev_t, as stat(2) reports it) and ExeIno name the
	// executable the process ran at the creation; both 0 for kernel threads.
	ExeDev uint64
	ExeIno uint64
	// StartNs is the process's start time (CLOCK_BOOTTIME): with TGID it
	// names one process, whatever reuses the pid later.
	StartNs uint64
	Hook    Hook
	Flags   Flags
	// Comm is the task's name, without the NUL padding.
	Comm []byte
	// Path is the created file's path as the kernel resolved it: absolute
	// from the task's root; with FlagTruncated its leaf side is cut, and with
	// FlagRootless too its root side is missing instead.
	Path []byte
}

// Decode fills e from the raw sample b. It returns an error wrapping
// ErrMalformed when b is not a sample this version understands; e is then
// left in an unspecified state.
func Decode(b []byte, e *Event) error {
	if len(b) != Size {
		return fmt.Errorf("%w: got %d bytes, want %d", errSize, len(b), Size)
	}
	le := binary.LittleEndian
	pathLen := int(le.Uint16(b[32:34]))
	if pathLen == 0 || pathLen > maxPath {
		return fmt.Errorf("%w: %d", errPathLen, pathLen)
	}
	path := b[offPath : offPath+pathLen]
	if bytes.IndexByte(path, 0) >= 0 {
		return errPathNUL
	}
	hook := Hook(b[34])
	if hook < hookMin || hook > hookMax {
		return fmt.Errorf("%w: %d", errHook, hook)
	}
	flags := Flags(b[35])
	if flags&^knownFlg != 0 {
		return fmt.Errorf("%w: %#x", errFlags, uint8(flags))
	}
	e.TimeNs = le.Uint64(b[0:8])
	e.CgroupID = le.Uint64(b[8:16])
	e.TGID = le.Uint32(b[16:20])
	e.TID = le.Uint32(b[20:24])
	e.RealUID = le.Uint32(b[24:28])
	e.RealGID = le.Uint32(b[28:32])
	e.UID = le.Uint32(b[308:312])
	e.GID = le.Uint32(b[312:316])
	e.ExeDev = kernelDevToUser(le.Uint32(b[316:320]))
	e.ExeIno = le.Uint64(b[320:328])
	e.StartNs = le.Uint64(b[328:336])
	e.Hook = hook
	e.Flags = flags
	e.Comm = CString(b[offComm : offComm+CommLen])
	e.Path = path
	return nil
}

// CString cuts b at its first NUL.
func CString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// Encode writes e as the kernel would; tests and benchmarks use it to make
// samples. Fields longer than the layout allows are cut.
func Encode(e *Event) []byte {
	b := make([]byte, Size)
	le := binary.LittleEndian
	le.PutUint64(b[0:8], e.TimeNs)
	le.PutUint64(b[8:16], e.CgroupID)
	le.PutUint32(b[16:20], e.TGID)
	le.PutUint32(b[20:24], e.TID)
	le.PutUint32(b[24:28], e.RealUID)
	le.PutUint32(b[28:32], e.RealGID)
	le.PutUint32(b[308:312], e.UID)
	le.PutUint32(b[312:316], e.GID)
	le.PutUint32(b[316:320], userDevToKernel(e.ExeDev))
	le.PutUint64(b[320:328], e.ExeIno)
	le.PutUint64(b[328:336], e.StartNs)
	n := copy(b[offPath:offPath+maxPath], e.Path)
	le.PutUint16(b[32:34], uint16(n))
	b[34] = byte(e.Hook)
	b[35] = byte(e.Flags)
	copy(b[offComm:offComm+CommLen-1], e.Comm)
	return b
}

// The kernel keeps a dev_t as major<<20 | minor (include/linux/kdev_t.h);
// stat(2) reports the "huge" encoding glibc's makedev uses
// (major<<8 | minor&0xff | (minor&^0xff)<<12 | (major&^0xfff)<<32).
func kernelDevToUser(d uint32) uint64 {
	major, minor := uint64(d>>20), uint64(d&0xfffff)
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}

func userDevToKernel(d uint64) uint32 {
	major := (d>>8)&0xfff | (d>>32)&^0xfff
	minor := d&0xff | (d>>12)&^0xff
	return uint32(major&0xfff)<<20 | uint32(minor&0xfffff)
}
