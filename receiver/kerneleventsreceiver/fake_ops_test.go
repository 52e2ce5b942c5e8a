// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
)

// TestFakeEvidenceOperations: each way a name comes to be has its own verb
// in the record's body and its operation and file type in
// kernelevents.file.operation and kernelevents.file.type, and the
// kernel.file.creations series keep the operations apart.
func TestFakeEvidenceOperations(t *testing.T) {
	cases := []struct {
		path      string
		op        event.Op
		typ       event.Type
		verb      string
		operation string
		fileType  string
	}{
		{"/ops/create/f", event.OpCreate, event.TypeFile, "created", "create", "file"},
		{"/ops/symlink/l", event.OpSymlink, event.TypeSymlink, "made a symbolic link", "symlink", "symlink"},
		{"/ops/copyup/f", event.OpCopyUp, event.TypeFile, "copied up into", "copy_up", "file"},
		{"/ops/link/f", event.OpLink, event.TypeFile, "linked", "link", "file"},
		{"/ops/rename/f", event.OpRename, event.TypeFile, "renamed into", "rename", "file"},
		{"/ops/renamedir/d", event.OpRename, event.TypeDirectory, "renamed a directory into", "rename", "directory"},
	}
	run := startFake(t, fakeConfig(), true, nil)
	for _, c := range cases {
		e := sample(c.path)
		e.Op, e.Type = c.op, c.typ
		run.src.push(e)
	}
	run.waitDelivered(t, uint64(len(cases)))
	run.r.flushLogs(context.Background(), true)
	byPath := map[string]record{}
	for _, r := range records(run.lsink) {
		if r.name == EventName {
			byPath[r.attrs["file.path"].(string)] = r
		}
	}
	series := map[string]string{}
	for _, p := range run.emit(t)["kernel.file.creations"] {
		series[p.attrs["kernelevents.directory.prefix"].(string)] = p.attrs["kernelevents.file.operation"].(string)
	}
	for _, c := range cases {
		r, ok := byPath[c.path]
		require.True(t, ok, "a record of %s", c.path)
		assert.Contains(t, r.body, " "+c.verb+" "+c.path+" (pid ", c.path)
		assert.Equal(t, c.operation, r.attrs["kernelevents.file.operation"], c.path)
		assert.Equal(t, c.fileType, r.attrs["kernelevents.file.type"], c.path)
		dir := c.path[:len(c.path)-2]
		assert.Equal(t, c.operation, series[dir], "the series of %s", dir)
	}
}
