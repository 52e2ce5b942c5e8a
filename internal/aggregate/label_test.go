// SPDX-License-Identifier: Apache-2.0

package aggregate

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// TestRangeGivesLabels: directories and paths whose names are not UTF-8
// come out of Range escaped (event.Label), distinct from each other and from
// a name that spells the escape itself.
func TestRangeGivesLabels(t *testing.T) {
	tb := New(Options{DirectoryDepth: 2, MaxSeries: 10, Path: true})
	tb.Add(ev("/srv/\xff\xfe/f", "x", 0))
	tb.Add(ev("/srv/\xfe\xff/f", "x", 0))
	tb.Add(ev(`/srv/\xff\xfe/f`, "x", 0))
	got := map[string]string{}
	tb.Range(func(_ *Series, dir, path string) {
		assert.True(t, utf8.ValidString(dir), "dir %q", dir)
		assert.True(t, utf8.ValidString(path), "path %q", path)
		got[dir] = path
	})
	assert.Equal(t, map[string]string{
		`/srv/\xff\xfe`:   `/srv/\xff\xfe/f`,
		`/srv/\xfe\xff`:   `/srv/\xfe\xff/f`,
		`/srv/\\xff\\xfe`: `/srv/\\xff\\xfe/f`,
	}, got)
}
