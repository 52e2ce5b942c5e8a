// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kernelevents/kernelevents/internal/probe"
)

// TestProbeOptionKeys: every probe.Options field the config sets has the
// configuration key its validation errors are reported under, and that key
// exists; the fields the config does not set are listed with the reason.
func TestProbeOptionKeys(t *testing.T) {
	notFromConfig := map[string]string{
		"ExcludePID":         "filter::exclude_self, a bool, sets the collector's own pid",
		"KretprobeMaxActive": "not configurable: the kernel's maximum",
	}
	keys := configKeys(reflect.TypeFor[Config](), "")
	for f := range reflect.TypeFor[probe.Options]().Fields() {
		key, ok := probeOptionKeys[f.Name]
		if !ok {
			assert.NotEmpty(t, notFromConfig[f.Name], "probe.Options.%s has no configuration key", f.Name)
			continue
		}
		assert.True(t, slices.Contains(keys, key), "probe.Options.%s: %s is no configuration key", f.Name, key)
	}
}

// TestDefaultsAreTheLoaders: the receiver's defaults for the loader's
// options are the loader's own.
func TestDefaultsAreTheLoaders(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	po := probe.DefaultOptions()
	got := cfg.probeOptions()
	assert.Equal(t, po.Hook, got.Hook)
	assert.Equal(t, po.RingBufferSize, got.RingBufferSize)
	assert.Equal(t, po.WakeupBytes, got.WakeupBytes)
	assert.Equal(t, po.MaxLatency, got.MaxLatency)
}
