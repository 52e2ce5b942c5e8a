// SPDX-License-Identifier: Apache-2.0

package event

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sample() *Event {
	return &Event{
		TimeNs: 123456789, CgroupID: 42, TGID: 1000, TID: 1001, EUID: 65534, EGID: 65533,
		RUID: 1000, RGID: 1001, ExeDev: 0x10303, ExeIno: 1 << 40, StartNs: 987654321, ExecState: ExecSame, ExecNs: 123456789,
		Hook: HookTracepoint, Flags: FlagMknod, Comm: []byte("touch"), Path: []byte("/tmp/x/new"),
		FSDev: 0x803, FSPath: []byte("/tmp/x/new"), MountID: 31, MountPath: []byte("/x/new"), Where: WhereOverlayUpper,
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	want := sample()
	var got Event
	require.NoError(t, Decode(Encode(want), &got))
	assert.Equal(t, *want, got)
	// a directory renamed in, a symbolic link made
	want.Flags, want.Op, want.Type = 0, OpRename, TypeDirectory
	require.NoError(t, Decode(Encode(want), &got))
	assert.Equal(t, *want, got)
	want.Op, want.Type = OpSymlink, TypeSymlink
	require.NoError(t, Decode(Encode(want), &got))
	assert.Equal(t, *want, got)
}

func TestDecodeFullComm(t *testing.T) {
	b := Encode(sample())
	copy(b[offComm:], "0123456789abcdef") // 16 bytes, no NUL: the kernel never does this, but be safe
	var e Event
	require.NoError(t, Decode(b, &e))
	assert.Equal(t, "0123456789abcdef", string(e.Comm))
}

func TestDecodeErrors(t *testing.T) {
	valid := Encode(sample())
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), valid...)
		f(b)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, errSize},
		{"short", valid[:Size-1], errSize},
		{"long", append(append([]byte(nil), valid...), 0), errSize},
		{"zero path", mod(func(b []byte) { b[32], b[33] = 0, 0 }), errPathLen},
		{"path too long", mod(func(b []byte) { b[32], b[33] = 0, 1 }), errPathLen},
		{"NUL in path", mod(func(b []byte) { b[offPath+2] = 0 }), errPathNUL},
		{"hook zero", mod(func(b []byte) { b[34] = 0 }), errHook},
		{"hook unknown", mod(func(b []byte) { b[34] = 9 }), errHook},
		{"flags unknown", mod(func(b []byte) { b[35] = 0x10 }), errFlags},
		{"where unknown", mod(func(b []byte) { b[offWhere] = 0x40 }), errWhere},
		{"where node unknown is Go's own", mod(func(b []byte) { b[offWhere] = byte(WhereNodeUnknown) }), errWhere},
		{"mount path past the path", mod(func(b []byte) { b[offMntOff] = 11 }), errMntOff},
		{"operation unknown", mod(func(b []byte) { b[offOp] = byte(opMax) + 1 }), errOp},
		{"file type unknown", mod(func(b []byte) { b[offType] = byte(typeMax) + 1 }), errType},
		{"exec state unknown", mod(func(b []byte) { b[offExecSt] = byte(ExecReplaced) + 1 }), errExecState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			err := Decode(tt.in, &e)
			require.ErrorIs(t, err, tt.want)
			assert.True(t, errors.Is(err, ErrMalformed))
		})
	}
}

// The kernel's dev_t (major<<20 | minor) decodes to what stat(2) reports.
func TestDecodeExeDev(t *testing.T) {
	for _, tc := range []struct {
		kernel uint32
		user   uint64
	}{
		{8<<20 | 1, 0x801},   // sda1
		{0<<20 | 0x23, 0x23}, // an anonymous (tmpfs, overlay) superblock
		{259<<20 | 0x12345, 0x12345<<0&0xff | 0x103<<8 | (0x12345&^0xff)<<12},
	} {
		b := Encode(sample())
		binary.LittleEndian.PutUint32(b[316:320], tc.kernel)
		var e Event
		require.NoError(t, Decode(b, &e))
		assert.Equal(t, tc.user, e.ExeDev, "kernel dev %#x", tc.kernel)
		assert.Equal(t, tc.kernel, userDevToKernel(e.ExeDev))
	}
}

func TestHookString(t *testing.T) {
	assert.Equal(t, "kretprobe", HookKretprobe.String())
	assert.Equal(t, "fexit", HookFexit.String())
	assert.Equal(t, "tracepoint", HookTracepoint.String())
	assert.Equal(t, "io_uring_tracepoint", HookIOUring.String())
	assert.Equal(t, "hook(7)", HookID(7).String())
}

func BenchmarkDecode(b *testing.B) {
	raw := Encode(sample())
	var e Event
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(raw, &e); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(sample()))
	f.Add([]byte{})
	f.Add(make([]byte, Size))
	f.Add(make([]byte, 312)) // the sample before euid, exe and start time
	setuid := sample()
	setuid.EUID, setuid.RUID, setuid.ExeDev, setuid.ExeIno = 0, 1000, 0xfff<<8|0xff, ^uint64(0)
	f.Add(Encode(setuid))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		if err := Decode(b, &e); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(e.Path) == 0 || len(e.Path) > maxPath || len(e.Comm) > CommLen {
			t.Fatalf("decoded out of bounds: path %d comm %d", len(e.Path), len(e.Comm))
		}
		// A valid sample survives a round trip.
		var again Event
		if err := Decode(Encode(&e), &again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
