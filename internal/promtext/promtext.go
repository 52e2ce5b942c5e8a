// SPDX-License-Identifier: Apache-2.0

// Package promtext reads what a Prometheus exporter serves: the end-to-end
// tests and the benchmark scrape the collector with it.
package promtext

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

var client = http.Client{Timeout: 5 * time.Second}

// Scrape returns the page at url.
func Scrape(url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Value returns the first sample of metric whose labels include every one
// of labels (name="value" strings).
func Value(text, metric string, labels ...string) (float64, bool) {
	var out float64
	found := false
	samples(text, metric, labels, func(v float64) bool {
		out, found = v, true
		return false
	})
	return out, found
}

// Sum adds up the samples of metric whose labels include every one of
// labels.
func Sum(text, metric string, labels ...string) (float64, bool) {
	var sum float64
	found := false
	samples(text, metric, labels, func(v float64) bool {
		sum, found = sum+v, true
		return true
	})
	return sum, found
}

// samples calls fn with the value of each matching sample until fn returns
// false.
func samples(text, metric string, labels []string, fn func(float64) bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
lines:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		rest := line[len(metric):]
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil && !fn(v) {
			return
		}
	}
}
