// SPDX-License-Identifier: Apache-2.0

package probe

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
)

// TestLostReasonsMatchCounters holds lostReasons (the names the lost
// counters are exported under, keyed by enum counter_idx in bpf/event.h as
// internal/event generates it) against COUNTER_MAX and against the counters
// map of the compiled programs: a counter C adds without a Go name fails
// here. No kernel needed: it reads the embedded object.
func TestLostReasonsMatchCounters(t *testing.T) {
	require.Len(t, lostReasons, event.Counters, "lostReasons against COUNTER_MAX")
	seen := map[string]bool{}
	for c, reason := range lostReasons {
		assert.NotEmpty(t, reason, "counter %d has no reason", c)
		assert.False(t, seen[reason], "reason %s named twice", reason)
		seen[reason] = true
	}
	assert.ElementsMatch(t, CgroupLostReasons, lostReasons[:], "every kernel counter is counted by cgroup too (count_lost_cgroup)")
	spec, err := loadKernelevents()
	require.NoError(t, err)
	m := spec.Maps["counters"]
	require.NotNil(t, m, "the programs have no counters map")
	assert.EqualValues(t, event.Counters, m.MaxEntries, "counters map size (COUNTER_MAX in the compiled programs)")
}

// TestLimitsMatchObjects holds the limits Options checks against the
// compiled programs' filter maps (max_entries in bpf/filter.h). No kernel
// needed: it reads the embedded object.
func TestLimitsMatchObjects(t *testing.T) {
	spec, err := loadKernelevents()
	require.NoError(t, err)
	for _, name := range []string{"uid_filter", "comm_exclude", "cgroup_exclude"} {
		m := spec.Maps[name]
		require.NotNil(t, m, name)
		assert.EqualValues(t, MaxFilterEntries, m.MaxEntries, "%s's max_entries", name)
	}
	m := spec.Maps["path_prefixes"]
	require.NotNil(t, m)
	assert.EqualValues(t, 8+MaxPathPrefix, m.KeySize, "struct prefix_key: prefixlen, dev, data")
}
