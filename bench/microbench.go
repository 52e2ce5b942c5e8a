// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// pathStep is one user-space step every sample goes through, and the
// micro-benchmark that measures it.
type pathStep struct {
	pkg, bench string
	optional   bool // identity enrichment may not exist yet
}

// samplePath: decode the ring-buffer sample, enrich it with the creator's
// identity (warm cache), count it in the series table.
var samplePath = []pathStep{
	{pkg: "internal/event", bench: "BenchmarkDecode"},
	{pkg: "internal/identity", bench: "BenchmarkResolveWarm", optional: true},
	{pkg: "internal/aggregate", bench: "BenchmarkAdd"},
}

// benchStat is one benchmark over its -count runs.
type benchStat struct {
	pkg, name            string
	ns, bytes, allocs    []float64
	medNs, maxB, maxAllc float64
}

type microResult struct {
	cmd     string
	err     string // go test failed (some packages may still have run)
	benches []*benchStat
	steps   []stepResult
	sumNs   float64
	allocs  float64 // allocs/op summed over the steps (worst run of each)
	missing []string
}

type stepResult struct {
	step pathStep
	stat *benchStat // nil when not found
}

// runMicroBenchmarks runs every benchmark under internal/ and sums the
// per-sample path.
func runMicroBenchmarks(ctx context.Context, p params) microResult {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", strconv.Itoa(p.benchCount), "-benchtime", p.benchTime, "./internal/..."}
	r := microResult{cmd: "go " + strings.Join(args, " ")}
	root, err := moduleRoot(ctx)
	if err != nil {
		r.err = err.Error()
		return r
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.err = fmt.Sprintf("%v: %s", err, lastLines(failures(string(out)), 6))
	}
	r.benches = parseBenchmarks(string(out))
	r.sumPath()
	return r
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		return "", fmt.Errorf("not inside the module: run from the repository root")
	}
	return filepath.Dir(gomod), nil
}

// failures keeps the lines of go test output that explain a failure.
func failures(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "#") || strings.Contains(l, ".go:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// benchLine matches "BenchmarkX-2   123   45.6 ns/op   0 B/op   0 allocs/op".
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?`)

func parseBenchmarks(out string) []*benchStat {
	byKey := map[string]*benchStat{}
	var order []string
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(v)
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key := pkg + "." + m[1]
		b := byKey[key]
		if b == nil {
			b = &benchStat{pkg: pkg, name: m[1]}
			byKey[key] = b
			order = append(order, key)
		}
		b.ns = append(b.ns, atof(m[2]))
		b.bytes = append(b.bytes, atof(m[3]))
		b.allocs = append(b.allocs, atof(m[4]))
	}
	var stats []*benchStat
	for _, k := range order {
		b := byKey[k]
		b.medNs = distOf(b.ns).median
		b.maxB, b.maxAllc = maxOf(b.bytes), maxOf(b.allocs)
		stats = append(stats, b)
	}
	sort.SliceStable(stats, func(i, j int) bool { return stats[i].pkg < stats[j].pkg })
	return stats
}

func (r *microResult) sumPath() {
	for _, step := range samplePath {
		sr := stepResult{step: step}
		for _, b := range r.benches {
			if strings.HasSuffix(b.pkg, "/"+step.pkg) && b.name == step.bench {
				sr.stat = b
			}
		}
		if sr.stat == nil {
			if !step.optional {
				r.missing = append(r.missing, step.pkg+"."+step.bench)
			}
		} else {
			r.sumNs += sr.stat.medNs
			r.allocs += sr.stat.maxAllc
		}
		r.steps = append(r.steps, sr)
	}
}

func atof(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
