// SPDX-License-Identifier: Apache-2.0

package event

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typesBTF returns the BTF of bpf/types.bpf.c as clang compiled it (the
// object bpf2go embedded beside the generated Go).
func typesBTF(t *testing.T) *btf.Spec {
	t.Helper()
	spec, err := loadTypes()
	require.NoError(t, err, "load the embedded types object")
	require.NotNil(t, spec.Types, "the types object has no BTF")
	return spec.Types
}

// enumValues returns the enumerators of the C enum name, by name.
func enumValues(t *testing.T, types *btf.Spec, name string) map[string]uint64 {
	t.Helper()
	var e *btf.Enum
	require.NoError(t, types.TypeByName(name, &e), "enum %s in the BTF of bpf/types.bpf.c", name)
	out := make(map[string]uint64, len(e.Values))
	for _, v := range e.Values {
		out[v.Name] = v.Value
	}
	return out
}

// TestLayoutMatchesBPF holds the sample's layout documented in bpf/event.h
// (offsets and sizes, 368 bytes) against struct event as clang laid it out
// (BTF) and against the offsets Decode and Encode use, and every enum of
// event.h against the Go constants: a field moved or resized, a value
// changed, or a hook, flag or counter added in C without a Go name fails.
func TestLayoutMatchesBPF(t *testing.T) {
	types := typesBTF(t)

	t.Run("struct event", func(t *testing.T) {
		var st *btf.Struct
		require.NoError(t, types.TypeByName("event", &st))
		type field struct{ off, size, goOff int }
		want := map[string]field{ // the table in bpf/event.h's comment
			"ts_ns":     {0, 8, offTsNs},
			"cgroup_id": {8, 8, offCgroupID},
			"tgid":      {16, 4, offTgid},
			"tid":       {20, 4, offTid},
			"ruid":      {24, 4, offRUID},
			"rgid":      {28, 4, offRGID},
			"path_len":  {32, 2, offPathLen},
			"hook":      {34, 1, offHook},
			"flags":     {35, 1, offFlags},
			"comm":      {36, 16, offComm},
			"path":      {52, 256, offPath},
			"euid":      {308, 4, offEUID},
			"egid":      {312, 4, offEGID},
			"exe_dev":   {316, 4, offExeDev},
			"exe_ino":   {320, 8, offExeIno},
			"start_ns":  {328, 8, offStartNs},
			// appended for the node's path (issue 24)
			"fs_dev":       {336, 4, offFSDev},
			"mnt_id":       {340, 4, offMntID},
			"mnt_path_off": {344, 2, offMntOff},
			"where":        {346, 1, offWhere},
			"op":           {347, 1, offOp},
			// appended for the exec record (issue 24)
			"exec_state": {348, 4, offExecSt},
			"exec_ns":    {352, 8, offExecNs},
			// appended for directories and symbolic links (issue 24)
			"type": {360, 1, offType},
			"_pad": {361, 7, offType + 1},
		}
		assert.EqualValues(t, 368, st.Size, "sizeof(struct event)")
		assert.Equal(t, 368, Size, "event.Size")
		assert.Equal(t, Size, binary.Size(typesEvent{}), "the generated struct's encoded size")
		assert.EqualValues(t, Size, unsafe.Sizeof(typesEvent{}), "the generated struct's size in memory")
		assert.Equal(t, 16, CommLen)
		assert.Equal(t, 256, PathLen)
		seen := map[string]bool{}
		for _, m := range st.Members {
			seen[m.Name] = true
			w, ok := want[m.Name]
			if !assert.True(t, ok, "struct event has field %s, which the documented layout lacks", m.Name) {
				continue
			}
			size, err := btf.Sizeof(m.Type)
			require.NoError(t, err, m.Name)
			assert.Equal(t, w.off, int(m.Offset.Bytes()), "offset of %s in C", m.Name)
			assert.Equal(t, w.size, size, "size of %s in C", m.Name)
			assert.Equal(t, w.off, w.goOff, "offset of %s in Go", m.Name)
		}
		for name := range want {
			assert.True(t, seen[name], "struct event lacks field %s", name)
		}
	})

	t.Run("enum hook_id", func(t *testing.T) {
		named := map[string]HookID{
			"HOOK_KRETPROBE":  HookKretprobe,
			"HOOK_FEXIT":      HookFexit,
			"HOOK_TRACEPOINT": HookTracepoint,
			"HOOK_IO_URING":   HookIOUring,
		}
		got := enumValues(t, types, "hook_id")
		assert.Len(t, got, len(named), "hooks in C: %v", got)
		for name, v := range got {
			h, ok := named[name]
			if assert.True(t, ok, "C hook %s (%d) has no Go name", name, v) {
				assert.EqualValues(t, v, h, name)
			}
			assert.NotContains(t, HookID(v).String(), "hook(", "%s has no String name", name)
			assert.True(t, HookID(v) >= hookMin && HookID(v) <= hookMax, "%s = %d outside what Decode accepts", name, v)
		}
		for name, h := range named {
			assert.Contains(t, got, name, "Go's %s (%d) is not in C", h, h)
		}
	})

	t.Run("enum event_flag", func(t *testing.T) {
		named := map[string]Flags{
			"EVENT_F_TRUNCATED":    FlagTruncated,
			"EVENT_F_IO_URING":     FlagIOUring,
			"EVENT_F_MKNOD":        FlagMknod,
			"EVENT_F_OPEN_FAILED":  FlagOpenFailed,
			"EVENT_F_UNRESOLVED":   FlagUnresolved,
			"EVENT_F_TMPFILE_LINK": FlagTmpfileLink,
			"EVENT_F_ROOTLESS":     FlagRootless,
		}
		got := enumValues(t, types, "event_flag")
		assert.Len(t, got, len(named), "flags in C: %v", got)
		var all Flags
		for name, v := range got {
			f, ok := named[name]
			if assert.True(t, ok, "C flag %s (%#x) has no Go name", name, v) {
				assert.EqualValues(t, v, f, name)
			}
			all |= Flags(v)
		}
		assert.Equal(t, all, Flags(knownFlg), "the flags Decode accepts")
		for name := range named {
			assert.Contains(t, got, name)
		}
	})

	t.Run("enum where_flag", func(t *testing.T) {
		named := map[string]Where{
			"WHERE_OVERLAY_UPPER":      WhereOverlayUpper,
			"WHERE_NO_MNT_PATH":        WhereNoMountPath,
			"WHERE_DISCONNECTED":       WhereDisconnected,
			"WHERE_OVERLAY_UNFOLLOWED": WhereOverlayUnfollowed,
			"WHERE_USERNS_FS":          WhereUserNSFS,
		}
		got := enumValues(t, types, "where_flag")
		assert.Len(t, got, len(named), "where bits in C: %v", got)
		var all Where
		for name, v := range got {
			w, ok := named[name]
			if assert.True(t, ok, "C where bit %s (%#x) has no Go name", name, v) {
				assert.EqualValues(t, v, w, name)
			}
			all |= Where(v)
		}
		assert.Equal(t, all, Where(knownWhere), "the where bits Decode accepts")
		assert.Zero(t, all&WhereNodeUnknown, "WhereNodeUnknown is Go's own: C must not use it")
	})

	t.Run("enum exec_state", func(t *testing.T) {
		named := map[string]ExecState{
			"EXEC_UNKNOWN":  ExecUnknown,
			"EXEC_SAME":     ExecSame,
			"EXEC_REPLACED": ExecReplaced,
		}
		got := enumValues(t, types, "exec_state")
		assert.Len(t, got, len(named), "exec states in C: %v", got)
		for name, v := range got {
			st, ok := named[name]
			if assert.True(t, ok, "C exec state %s (%d) has no Go name", name, v) {
				assert.EqualValues(t, v, st, name)
			}
		}
	})

	t.Run("enum file_op", func(t *testing.T) {
		named := map[string]Op{
			"FILE_OP_CREATE":       OpCreate,
			"FILE_OP_MKNOD":        OpMknod,
			"FILE_OP_TMPFILE_LINK": OpTmpfileLink,
			"FILE_OP_LINK":         OpLink,
			"FILE_OP_RENAME":       OpRename,
			"FILE_OP_COPY_UP":      OpCopyUp,
			"FILE_OP_SYMLINK":      OpSymlink,
		}
		got := enumValues(t, types, "file_op")
		assert.Len(t, got, len(named), "operations in C: %v", got)
		for name, v := range got {
			o, ok := named[name]
			if assert.True(t, ok, "C operation %s (%d) has no Go name", name, v) {
				assert.EqualValues(t, v, o, name)
			}
			assert.NotContains(t, Op(v).String(), "op(", "%s has no String name", name)
			assert.LessOrEqual(t, Op(v), Op(opMax), "%s = %d above what Decode accepts", name, v)
		}
	})

	t.Run("enum file_type", func(t *testing.T) {
		named := map[string]Type{
			"FILE_TYPE_REGULAR": TypeFile,
			"FILE_TYPE_DIR":     TypeDirectory,
			"FILE_TYPE_SYMLINK": TypeSymlink,
			"FILE_TYPE_UNKNOWN": TypeUnknown,
		}
		got := enumValues(t, types, "file_type")
		assert.Len(t, got, len(named), "file types in C: %v", got)
		for name, v := range got {
			ty, ok := named[name]
			if assert.True(t, ok, "C file type %s (%d) has no Go name", name, v) {
				assert.EqualValues(t, v, ty, name)
			}
			assert.NotContains(t, Type(v).String(), "type(", "%s has no String name", name)
			assert.LessOrEqual(t, Type(v), Type(typeMax), "%s = %d above what Decode accepts", name, v)
		}
	})

	t.Run("enum counter_idx", func(t *testing.T) {
		named := map[string]Counter{
			"COUNTER_LOST":            CounterRingBufferFull,
			"COUNTER_FD_RACE":         CounterFDRace,
			"COUNTER_IO_URING":        CounterIOURingUnobserved,
			"COUNTER_INFLIGHT_FULL":   CounterInflightTableFull,
			"COUNTER_SCRATCH_BUSY":    CounterScratchBusy,
			"COUNTER_CORE_DUMP":       CounterCoreDump,
			"COUNTER_URING_INSTALL":   CounterURingInstall,
			"COUNTER_NAME_UNRESOLVED": CounterNameUnresolved,
		}
		got := enumValues(t, types, "counter_idx")
		require.Contains(t, got, "COUNTER_MAX")
		assert.EqualValues(t, got["COUNTER_MAX"], Counters, "COUNTER_MAX")
		delete(got, "COUNTER_MAX")
		assert.Len(t, got, Counters, "every counter below COUNTER_MAX, once: %v", got)
		for name, v := range got {
			c, ok := named[name]
			if assert.True(t, ok, "C counter %s (%d) has no Go name", name, v) {
				assert.EqualValues(t, v, c, name)
			}
		}
		for name := range named {
			assert.Contains(t, got, name)
		}
	})
}

// TestEncodeMatchesGeneratedStruct writes a sample with Encode and reads it
// back through the generated struct: every field lands where C reads it.
func TestEncodeMatchesGeneratedStruct(t *testing.T) {
	e := sample()
	e.Flags = FlagTruncated | FlagRootless
	var got typesEvent
	_, err := binary.Decode(Encode(e), binary.LittleEndian, &got)
	require.NoError(t, err)
	assert.Equal(t, e.TimeNs, got.TsNs)
	assert.Equal(t, e.CgroupID, got.CgroupId)
	assert.Equal(t, e.TGID, got.Tgid)
	assert.Equal(t, e.TID, got.Tid)
	assert.Equal(t, e.RUID, got.Ruid)
	assert.Equal(t, e.RGID, got.Rgid)
	assert.Equal(t, e.EUID, got.Euid)
	assert.Equal(t, e.EGID, got.Egid)
	assert.Equal(t, userDevToKernel(e.ExeDev), got.ExeDev)
	assert.Equal(t, e.ExeIno, got.ExeIno)
	assert.Equal(t, e.StartNs, got.StartNs)
	assert.Equal(t, e.ExecNs, got.ExecNs)
	assert.EqualValues(t, e.ExecState, got.ExecState)
	assert.EqualValues(t, len(e.Path), got.PathLen)
	assert.EqualValues(t, e.Hook, got.Hook)
	assert.EqualValues(t, e.Flags, got.Flags)
	assert.Equal(t, userDevToKernel(e.FSDev), got.FsDev)
	assert.Equal(t, e.MountID, got.MntId)
	assert.EqualValues(t, len(e.FSPath)-len(e.MountPath), got.MntPathOff)
	assert.EqualValues(t, e.Where, got.Where)
	comm := make([]byte, 0, CommLen)
	for _, c := range got.Comm {
		if c == 0 {
			break
		}
		comm = append(comm, byte(c))
	}
	assert.Equal(t, string(e.Comm), string(comm))
	path := make([]byte, got.PathLen)
	for i := range path {
		path[i] = byte(got.Path[i])
	}
	assert.Equal(t, string(e.Path), string(path))
}
