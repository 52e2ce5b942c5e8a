// SPDX-License-Identifier: Apache-2.0

//go:build linux

package e2etest

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var promClient = http.Client{Timeout: 5 * time.Second}

// scrapeProm returns the page a Prometheus exporter serves at url.
func scrapeProm(url string) (string, error) {
	resp, err := promClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// promSamples calls fn with each sample of metric in text (the Prometheus
// text format, parsed by expfmt) whose labels include every one of labels,
// each written name="value" (Go or Prometheus quoting), until fn returns
// false. A page expfmt refuses has no samples.
func promSamples(text, metric string, labels []string, fn func(float64) bool) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return
	}
	want := map[string]string{}
	for _, l := range labels {
		name, quoted, ok := strings.Cut(l, "=")
		v, err := strconv.Unquote(quoted)
		if !ok || err != nil {
			return
		}
		want[name] = v
	}
	mf := families[metric]
	if mf == nil {
		return
	}
samples:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if hv, ok := have[k]; !ok || hv != v {
				continue samples
			}
		}
		if !fn(sampleValue(mf.GetType(), m)) {
			return
		}
	}
}

func sampleValue(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

// promValue returns the first matching sample of metric.
func promValue(text, metric string, labels ...string) (float64, bool) {
	var out float64
	found := false
	promSamples(text, metric, labels, func(v float64) bool {
		out, found = v, true
		return false
	})
	return out, found
}

// promSum adds up the matching samples of metric.
func promSum(text, metric string, labels ...string) (float64, bool) {
	var sum float64
	found := false
	promSamples(text, metric, labels, func(v float64) bool {
		sum, found = sum+v, true
		return true
	})
	return sum, found
}

// TestPromValueAndSum: labels match by name and whole value (a label name
// that ends like another's, or a value that is a prefix, does not match);
// escaped values are compared unescaped.
func TestPromValueAndSum(t *testing.T) {
	text := `# HELP kernel_events_lost_total x
# TYPE kernel_events_lost_total counter
kernel_events_lost_total{kernelevents_lost_reason="malformed"} 2
kernel_events_lost_total{kernelevents_lost_reason="ring_buffer_full"} 5
# TYPE kernel_events_lost_total_extra counter
kernel_events_lost_total_extra 9
# TYPE kernel_probe_hook gauge
kernel_probe_hook{kernelevents_hook="tracepoint"} 1
kernel_series_active 3.5
kernel_file_creations_total{kernelevents_directory_prefix="/tmp/a\"b\\c"} 4
`
	v, ok := promValue(text, "kernel_events_lost_total", `kernelevents_lost_reason="ring_buffer_full"`)
	assert.True(t, ok)
	assert.Equal(t, 5.0, v)
	_, ok = promValue(text, "kernel_events_lost_total", `reason="ring_buffer_full"`)
	assert.False(t, ok, "another label name")
	_, ok = promValue(text, "kernel_events_lost_total", `kernelevents_lost_reason="ring_buffer"`)
	assert.False(t, ok, "a prefix of the value")
	v, ok = promSum(text, "kernel_events_lost_total")
	assert.True(t, ok)
	assert.Equal(t, 7.0, v, "the _extra metric is another name")
	v, ok = promValue(text, "kernel_series_active")
	assert.True(t, ok)
	assert.Equal(t, 3.5, v)
	_, ok = promValue(text, "kernel_probe_hook", `kernelevents_hook="fexit"`)
	assert.False(t, ok)
	_, ok = promSum(text, "kernel_missing")
	assert.False(t, ok)
	v, ok = promValue(text, "kernel_file_creations_total", fmt.Sprintf("kernelevents_directory_prefix=%q", `/tmp/a"b\c`))
	assert.True(t, ok)
	assert.Equal(t, 4.0, v)
}
