// SPDX-License-Identifier: Apache-2.0

package aggregate

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
)

func TestDir(t *testing.T) {
	tests := []struct {
		path  string
		depth int
		want  string
	}{
		{"/var/lib/app/x", 2, "/var/lib"},
		{"/var/lib/app/x", 1, "/var"},
		{"/var/lib/app/x", 3, "/var/lib/app"},
		{"/var/lib/app/x", 9, "/var/lib/app"},
		{"/var/x", 2, "/var"},
		{"/x", 2, "/"},
		{"x", 2, ""},
		{"a/b/c", 1, "a"},
		{"a/b/c", 2, "a/b"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, string(Dir([]byte(tt.path), tt.depth)), "Dir(%q, %d)", tt.path, tt.depth)
	}
}

func ev(path, comm string, uid uint32) *event.Event {
	return &event.Event{Path: []byte(path), Comm: []byte(comm), EUID: uid, TGID: 7, Hook: event.HookTracepoint}
}

type row struct {
	dir, path, comm string
	uid             uint32
	count           uint64
}

func rows(t *Table) []row {
	var out []row
	t.Range(func(s *Series, dir, path string) {
		out = append(out, row{dir, path, string(trim(s.Key.Comm[:])), s.Key.EUID, s.Count})
	})
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func trim(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

func TestAddGroupsByEnabledAttributes(t *testing.T) {
	tb := New(Options{DirectoryDepth: 2, MaxSeries: 10, Comm: true, EUID: true})
	tb.Add(ev("/var/lib/a/1", "nginx", 33))
	tb.Add(ev("/var/lib/b/2", "nginx", 33))
	tb.Add(ev("/var/log/3", "nginx", 33))
	tb.Add(ev("/var/log/4", "bash", 0))
	assert.Equal(t, []row{
		{"/var/lib", "", "nginx", 33, 2},
		{"/var/log", "", "bash", 0, 1},
		{"/var/log", "", "nginx", 33, 1},
	}, rows(tb))
}

func TestMknodPathsAreCleaned(t *testing.T) {
	tb := New(Options{DirectoryDepth: 3, MaxSeries: 10, Path: true})
	e := ev("/tmp/d/./sub/../x", "c", 0)
	e.Flags = event.FlagMknod
	tb.Add(e)
	assert.Equal(t, []row{{"/tmp/d", "/tmp/d/x", "", 0, 1}}, rows(tb))
}

func TestOverflow(t *testing.T) {
	tb := New(Options{DirectoryDepth: 1, MaxSeries: 2, Comm: true})
	for i := 0; i < 10; i++ {
		tb.Add(ev(fmt.Sprintf("/d%d/f", i), "c", 0))
	}
	tb.Add(ev("/d0/g", "c", 0)) // an existing series still counts
	assert.Equal(t, 2, tb.Len())
	assert.Equal(t, uint64(8), tb.Overflow())
	var total uint64
	tb.Range(func(s *Series, _, _ string) { total += s.Count })
	assert.Equal(t, uint64(3), total)
}

func TestTTLDropsStaleSeriesAndStrings(t *testing.T) {
	tb := New(Options{DirectoryDepth: 1, MaxSeries: 2, TTL: time.Minute})
	now := time.Unix(1000, 0)
	tb.now = func() time.Time { return now }
	tb.Add(ev("/old/f", "c", 0))
	assert.Equal(t, []row{{"/old", "", "", 0, 1}}, rows(tb), "emitted once")
	now = now.Add(2 * time.Minute)
	tb.Add(ev("/new/f", "c", 0))
	assert.Equal(t, []row{{"/new", "", "", 0, 1}}, rows(tb))
	assert.Len(t, tb.strs.strs, 2, "the interner forgets /old")
	// Room again for a second series.
	tb.Add(ev("/other/f", "c", 0))
	assert.Equal(t, 2, tb.Len())
	assert.Zero(t, tb.Overflow())
}

// TestTTLNeverDropsAnUnemittedCount: a collection that runs late (a
// stalled exporter, a loaded node) or a TTL shorter than the collection
// interval must not drop a series whose last increments no collection has
// emitted yet: the count would vanish without a trace.
func TestTTLNeverDropsAnUnemittedCount(t *testing.T) {
	tb := New(Options{DirectoryDepth: 1, MaxSeries: 10, TTL: time.Minute})
	now := time.Unix(1000, 0)
	tb.now = func() time.Time { return now }
	tb.Add(ev("/a/f", "c", 0))
	assert.Equal(t, []row{{"/a", "", "", 0, 1}}, rows(tb))
	tb.Add(ev("/a/f", "c", 0)) // counted after that collection
	now = now.Add(time.Hour)   // the next collection is very late
	assert.Equal(t, []row{{"/a", "", "", 0, 2}}, rows(tb), "the late collection still emits the second count")
	now = now.Add(time.Hour)
	assert.Empty(t, rows(tb), "then, emitted and stale, it goes")
}

func TestAddDoesNotAllocate(t *testing.T) {
	tb := New(Options{DirectoryDepth: 2, MaxSeries: 10, Comm: true, EUID: true, Hook: true})
	e := ev("/var/lib/app/file", "nginx", 33)
	tb.Add(e)
	allocs := testing.AllocsPerRun(1000, func() { tb.Add(e) })
	require.Zero(t, allocs)
}

func BenchmarkAdd(b *testing.B) {
	tb := New(Options{DirectoryDepth: 2, MaxSeries: 10000, Comm: true, EUID: true, Hook: true})
	evs := make([]*event.Event, 64)
	for i := range evs {
		evs[i] = ev(fmt.Sprintf("/var/lib/app%d/file", i%16), fmt.Sprintf("comm%d", i%4), uint32(i%3))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tb.Add(evs[i&63])
		i++
	}
}

// TestDirLabel: a path cut by the kernel never passes for a directory it is
// not: whole paths and cut paths with depth whole directories give Dir;
// shallower cut paths are marked; rootless ones are unresolved.
func TestDirLabel(t *testing.T) {
	for _, tt := range []struct {
		path  string
		flags event.Flags
		depth int
		want  string
	}{
		{"/tmp/a/b/x", 0, 2, "/tmp/a"},
		{"/tmp/a/b/x", event.FlagTruncated, 2, "/tmp/a"},
		{"/tmp/a/b/x", event.FlagTruncated, 3, "/tmp/a/b"},
		{"/tmp/a/b/x", event.FlagTruncated, 4, "truncated:/tmp/a/b"},
		{"/tmp/aaaa", event.FlagTruncated, 2, "truncated:/tmp"},
		{"/aaaa", event.FlagTruncated, 1, "truncated:/"},
		{"/d/d/d/x", event.FlagTruncated | event.FlagRootless, 2, "unresolved"},
		{"/etc/d/x", event.FlagTruncated | event.FlagRootless, 1, "unresolved"},
	} {
		assert.Equal(t, tt.want, string(DirLabel([]byte(tt.path), tt.flags, tt.depth)), "DirLabel(%q, %#x, %d)", tt.path, tt.flags, tt.depth)
	}
}
