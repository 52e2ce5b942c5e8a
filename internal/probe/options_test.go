// SPDX-License-Identifier: Apache-2.0

package probe

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testPage = 4096

func TestDefaultOptionsAreValid(t *testing.T) {
	o := DefaultOptions()
	assert.Empty(t, o.Problems(testPage))
	assert.NoError(t, o.Validate(testPage))
}

// TestProblemsNameTheField: each invalid option is reported under its field
// (and entry), all at once, so that the receiver can name its own key.
func TestProblemsNameTheField(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Options)
		field  string
		index  int
	}{
		{"hook", func(o *Options) { o.Hook = "uprobe" }, "Hook", -1},
		{"ring not power of two", func(o *Options) { o.RingBufferSize = 3 << 20 }, "RingBufferSize", -1},
		{"ring not page multiple", func(o *Options) { o.RingBufferSize, o.WakeupBytes = 1024, 0 }, "RingBufferSize", -1},
		{"ring zero", func(o *Options) { o.RingBufferSize = 0 }, "RingBufferSize", -1},
		{"ring over 1GiB", func(o *Options) { o.RingBufferSize = 2 << 30 }, "RingBufferSize", -1},
		{"wakeup as big as the ring", func(o *Options) { o.WakeupBytes = o.RingBufferSize }, "WakeupBytes", -1},
		{"wakeup negative", func(o *Options) { o.WakeupBytes = -1 }, "WakeupBytes", -1},
		{"latency", func(o *Options) { o.MaxLatency = 0 }, "MaxLatency", -1},
		{"too many prefixes", func(o *Options) { o.PathPrefixes = make([]string, MaxFilterEntries+1); fill(o.PathPrefixes, "/p") }, "PathPrefixes", -1},
		{"relative prefix", func(o *Options) { o.PathPrefixes = []string{"/ok/", "etc/"} }, "PathPrefixes", 1},
		{"long prefix", func(o *Options) { o.PathPrefixes = []string{"/" + strings.Repeat("a", MaxPathPrefix)} }, "PathPrefixes", 0},
		{"too many uids", func(o *Options) { o.UIDs = make([]uint32, MaxFilterEntries+1) }, "UIDs", -1},
		{"too many comms", func(o *Options) { o.ExcludeComms = make([]string, MaxFilterEntries+1); fill(o.ExcludeComms, "c") }, "ExcludeComms", -1},
		{"long comm", func(o *Options) { o.ExcludeComms = []string{"ok", strings.Repeat("c", MaxCommLen+1)} }, "ExcludeComms", 1},
		{"empty comm", func(o *Options) { o.ExcludeComms = []string{""} }, "ExcludeComms", 0},
		{"too many cgroups", func(o *Options) { o.ExcludeCgroupIDs = make([]uint64, MaxFilterEntries+1) }, "ExcludeCgroupIDs", -1},
		{"maxactive", func(o *Options) { o.KretprobeMaxActive = MaxKretprobeActive + 1 }, "KretprobeMaxActive", -1},
		{"relative btf", func(o *Options) { o.BTFPath = "vmlinux.btf" }, "BTFPath", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.mutate(&o)
			ps := o.Problems(testPage)
			require.Len(t, ps, 1, "%v", ps)
			assert.Equal(t, tt.field, ps[0].Field)
			assert.Equal(t, tt.index, ps[0].Index)
			assert.NotContains(t, ps[0].Msg, tt.field, "the message leaves the naming to the caller")
			assert.ErrorContains(t, o.Validate(testPage), tt.field)
		})
	}
	o := DefaultOptions()
	o.Hook, o.BTFPath = "x", "y"
	assert.Len(t, o.Problems(testPage), 2, "every problem at once")
}

func fill(s []string, v string) {
	for i := range s {
		s[i] = v
	}
}
