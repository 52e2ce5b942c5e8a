// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// objectStructs are every struct the loader hands to LoadAndAssign.
var objectStructs = []any{
	kretprobeObjects{}, fexitObjects{}, tracepointObjects{}, rawTracepointObjects{},
	uringComplete{}, uringSubmitReq{}, uringSubmitSqe{}, uringCqeOverflow{}, execRecorder{}, execRecorderRaw{},
	copyUpKprobe{}, copyUpKretprobe{}, copyUpFentry{}, copyUpFexit{},
}

// objectFields returns the ebpf-tagged fields of t and of the structs it
// embeds, as LoadAndAssign walks them.
func objectFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for f := range t.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, objectFields(f.Type)...)
			continue
		}
		if _, ok := f.Tag.Lookup("ebpf"); ok {
			out = append(out, f)
		}
	}
	return out
}

// TestObjectsMatchGenerated holds every hand-written objects struct to what
// bpf2go generated from the C: each program and map field has the name and
// the tag of its generated counterpart, so a program or map renamed in C
// fails here (and the attach tables, which use the fields, fail to build).
// No kernel needed.
func TestObjectsMatchGenerated(t *testing.T) {
	generated := map[reflect.Type]reflect.Type{
		reflect.TypeFor[*ebpf.Program](): reflect.TypeFor[kerneleventsPrograms](),
		reflect.TypeFor[*ebpf.Map]():     reflect.TypeFor[kerneleventsMaps](),
	}
	spec, err := loadKernelevents()
	require.NoError(t, err)
	for _, o := range objectStructs {
		typ := reflect.TypeOf(o)
		fields := objectFields(typ)
		require.NotEmpty(t, fields, "%s", typ)
		for _, f := range fields {
			tag := f.Tag.Get("ebpf")
			if tag == ".rodata" || tag == ".bss" {
				// Sections, not named by the C: no generated field.
				assert.Contains(t, spec.Maps, tag, "%s.%s", typ, f.Name)
				continue
			}
			gen, ok := generated[f.Type]
			require.True(t, ok, "%s.%s has type %s", typ, f.Name, f.Type)
			gf, ok := gen.FieldByName(f.Name)
			if assert.True(t, ok, "%s.%s: no such field in the generated %s (renamed in C?)", typ, f.Name, gen) {
				assert.Equal(t, gf.Tag.Get("ebpf"), tag, "%s.%s: tag", typ, f.Name)
			}
		}
	}
}

// TestHookMapsComplete: each hook's objects hold every map any of its
// programs, required or optional, uses, and objectMaps names each of them by
// the tag LoadAndAssign fills. A map missing there would be created once per
// optional program instead of shared (one ring, one scratch, one .bss per
// hook). No kernel needed.
func TestHookMapsComplete(t *testing.T) {
	spec, err := loadKernelevents()
	require.NoError(t, err)
	cases := []struct {
		name     string
		objs     hookObjects
		optional []optionalProgram
	}{
		{"kretprobe", &kretprobeObjects{}, kretprobeCopyUp},
		{"fexit", &fexitObjects{}, fexitCopyUp},
		{"tracepoint", &tracepointObjects{}, uringPrograms},
		{"raw tracepoint", &rawTracepointObjects{}, uringPrograms},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var progs, maps []string
			for _, f := range objectFields(reflect.TypeOf(c.objs).Elem()) {
				if f.Type == reflect.TypeFor[*ebpf.Program]() {
					progs = append(progs, f.Tag.Get("ebpf"))
				} else {
					maps = append(maps, f.Tag.Get("ebpf"))
				}
			}
			assert.Len(t, objectPrograms(c.objs), len(progs), "objectPrograms lists every program field")
			assert.Len(t, c.objs.required(), len(progs), "required() attaches every program field")
			var named []string
			for name := range objectMaps(c.objs) {
				named = append(named, name)
			}
			sort.Strings(maps)
			sort.Strings(named)
			assert.Equal(t, maps, named, "objectMaps names the map fields by their tags")
			for _, op := range c.optional {
				progs = append(progs, optionalName(t, op))
			}
			used := map[string]bool{}
			for _, name := range progs {
				ps, ok := spec.Programs[name]
				require.True(t, ok, "program %s", name)
				for _, ins := range ps.Instructions {
					if ref := ins.Reference(); ref != "" && spec.Maps[ref] != nil {
						used[ref] = true
					}
				}
			}
			for ref := range used {
				assert.Contains(t, maps, ref, "a program of the hook uses map %s", ref)
			}
		})
	}
}

// optionalName returns the ELF name of the program op loads.
func optionalName(t *testing.T, op optionalProgram) string {
	t.Helper()
	fields := objectFields(reflect.TypeOf(op.objects()).Elem())
	require.Len(t, fields, 1, "%T", op.objects())
	return fields[0].Tag.Get("ebpf")
}

// TestOptionalProgramsShareMaps: the io_uring programs, loaded one by one
// after the tracepoint hook's own, use the very maps it uses (one ring, one
// scratch, one .bss), not copies.
func TestOptionalProgramsShareMaps(t *testing.T) {
	leaveToHost(t, HookTracepoint)
	testutil.RequireRoot(t)
	opts := DefaultOptions()
	types, err := kernelTypes(opts.BTFPath)
	require.NoError(t, err)
	objs, notes, err := loadObjects(HookTracepoint, &opts, types, false)
	require.NoError(t, err)
	defer objs.close()
	if len(objs.optional) == 0 {
		testutil.SkipUnlessStrict(t, "no io_uring program loaded on this kernel: %q", notes)
	}
	var hookMaps []ebpf.MapID
	for _, m := range objs.maps() {
		info, err := m.Info()
		require.NoError(t, err)
		id, ok := info.ID()
		require.True(t, ok, "this kernel reports no map ids")
		hookMaps = append(hookMaps, id)
	}
	for _, a := range objs.optional {
		info, err := a.prog.Info()
		require.NoError(t, err)
		ids, ok := info.MapIDs()
		require.True(t, ok, "this kernel reports no map ids of a program")
		require.NotEmpty(t, ids, "%s", a.what)
		for _, id := range ids {
			assert.True(t, slices.Contains(hookMaps, id), "%s uses map %d, not one of the hook's %v", a.what, id, hookMaps)
		}
	}
}

// missingProgram names a program the object does not have: loading it fails
// as a program this kernel refuses would, on every kernel.
type missingProgram struct {
	P *ebpf.Program `ebpf:"no_such_program"`
}

func (o *missingProgram) program() *ebpf.Program { return o.P }

// TestIOUringLoadFailureFailsTheHook: on a kernel with io_uring, an io_uring
// program the kernel refuses fails the tracepoint hook (auto moves on, or
// Start fails) instead of leaving io_uring creations unseen behind a log
// line; VerifyLoad fails on it too.
func TestIOUringLoadFailureFailsTheHook(t *testing.T) {
	leaveToHost(t, HookTracepoint)
	testutil.RequireRoot(t)
	testutil.RequireTracefs(t)
	saved := uringPrograms
	t.Cleanup(func() { uringPrograms = saved })
	uringPrograms = slices.Clone(saved)
	uringPrograms[0].objects = func() optionalObjects { return new(missingProgram) }

	opts := DefaultOptions()
	opts.Hook = HookTracepoint
	p, err := Open(opts)
	if err == nil {
		p.Close()
	}
	require.Error(t, err, "the hook opened without its io_uring_complete program")
	assert.Contains(t, err.Error(), "io_uring_complete")
	assert.Contains(t, err.Error(), "no_such_program")

	err = VerifyLoad(HookTracepoint, DefaultOptions())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no_such_program")
}
