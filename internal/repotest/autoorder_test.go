// SPDX-License-Identifier: Apache-2.0

package repotest

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/probe"
)

// TestAutoOrderFollowsTheRanking: auto tries the hooks cheapest first, as ranked in Debian's
// 6.1 kernel (bench/RESULTS.md, "Hooks ranked in Debian 6.1"): the order of
// probe.Hooks is the order of each hook's mean × baseline over the ranking's rows
// in the default configuration, read from that table, so a new ranking that
// changes the order fails here until probe.Hooks follows it. Which hook auto
// really picks on a kernel is TestAutoSaysWhy's (KERNELEVENTS_EXPECT_AUTO in
// the VM matrix: fexit where trampolines work, kretprobe on arm64 6.1).
func TestAutoOrderFollowsTheRanking(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "bench", "RESULTS.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(raw), "\n## Hooks ranked in Debian 6.1")
	require.True(t, ok, "bench/RESULTS.md has no hook ranking")
	section, _, _ = strings.Cut(section, "\n## ")
	// The table's header names the columns; each row gives "× [IQR]".
	var cols map[probe.Hook]int
	sum := map[probe.Hook]float64{}
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
			cols = map[probe.Hook]int{}
			for i, c := range cells {
				if slices.Contains(probe.Hooks, probe.Hook(c)) {
					cols[probe.Hook(c)] = i
				}
			}
			require.Len(t, cols, len(probe.Hooks), "header %q names every hook", line)
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
	want := slices.Clone(probe.Hooks)
	slices.SortStableFunc(want, func(a, b probe.Hook) int { return cmp.Compare(sum[a], sum[b]) })
	assert.Equal(t, want, probe.Hooks, "auto's order against the measured mean × baseline over %d rows: %v", rows, sum)
}
