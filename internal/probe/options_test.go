// SPDX-License-Identifier: Apache-2.0

package probe

import (
	"cmp"
	"os"
	"slices"
	"strconv"
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

// TestAutoOrder: auto tries the hooks cheapest first, as ranked in Debian's
// 6.1 kernel (bench/RESULTS.md, "Hooks ranked in Debian 6.1"): the order of
// Hooks is the order of each hook's mean × baseline over the ranking's rows
// in the default configuration, read from that table, so a new ranking that
// changes the order fails here until Hooks follows it. Which hook auto
// really picks on a kernel is TestAutoSaysWhy's (KERNELEVENTS_EXPECT_AUTO in
// the VM matrix: fexit where trampolines work, kretprobe on arm64 6.1).
func TestAutoOrder(t *testing.T) {
	raw, err := os.ReadFile("../../bench/RESULTS.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(raw), "\n## Hooks ranked in Debian 6.1")
	require.True(t, ok, "bench/RESULTS.md has no hook ranking")
	section, _, _ = strings.Cut(section, "\n## ")
	// The table's header names the columns; each row gives "× [IQR]".
	var cols map[Hook]int
	sum := map[Hook]float64{}
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cols == nil {
			cols = map[Hook]int{}
			for i, c := range cells {
				if slices.Contains(Hooks, Hook(c)) {
					cols[Hook(c)] = i
				}
			}
			require.Len(t, cols, len(Hooks), "header %q names every hook", line)
			continue
		}
		// Default configuration only (batched wakeups), numeric rows.
		if strings.Contains(cells[0], "per-event") || strings.HasPrefix(cells[0], "---") {
			continue
		}
		for h, i := range cols {
			f := strings.Fields(cells[i])
			require.NotEmpty(t, f, line)
			v, err := strconv.ParseFloat(f[0], 64)
			require.NoError(t, err, line)
			sum[h] += v
		}
		rows++
	}
	require.GreaterOrEqual(t, rows, 4, "the ranking's rows")
	want := slices.Clone(Hooks)
	slices.SortStableFunc(want, func(a, b Hook) int { return cmp.Compare(sum[a], sum[b]) })
	assert.Equal(t, want, Hooks, "auto's order against the measured mean × baseline over %d rows: %v", rows, sum)
}
