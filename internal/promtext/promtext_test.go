// SPDX-License-Identifier: Apache-2.0

package promtext

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValueAndSum(t *testing.T) {
	text := `# HELP kernel_events_lost_total x
kernel_events_lost_total{kernelevents_lost_reason="malformed"} 2
kernel_events_lost_total{kernelevents_lost_reason="ring_buffer_full"} 5
kernel_events_lost_total_extra 9
kernel_probe_hook{kernelevents_hook="tracepoint"} 1
kernel_series_active 3.5
`
	v, ok := Value(text, "kernel_events_lost_total", `kernelevents_lost_reason="ring_buffer_full"`)
	assert.True(t, ok)
	assert.Equal(t, 5.0, v)
	v, ok = Sum(text, "kernel_events_lost_total")
	assert.True(t, ok)
	assert.Equal(t, 7.0, v, "the _extra metric is another name")
	v, ok = Value(text, "kernel_series_active")
	assert.True(t, ok)
	assert.Equal(t, 3.5, v)
	_, ok = Value(text, "kernel_probe_hook", `kernelevents_hook="fexit"`)
	assert.False(t, ok)
	_, ok = Sum(text, "kernel_missing")
	assert.False(t, ok)
}
