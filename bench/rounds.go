// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"
)

// sample is one measured run of one configuration.
type sample struct {
	nsPerFile       float64 // creator wall time per file
	cpuPerFile      float64 // creator user+sys per file
	consumerPerFile float64 // user-space consumer CPU per file (reader, auditd)
	c               counts
	ok              bool // received+lost equals what the monitor should see
}

// configResult gathers one configuration's runs over the rounds.
type configResult struct {
	cfg     config
	samples []sample
	ratios  []float64 // per round, to the same round's baseline run
	notes   map[string]bool
}

// fsResult is one alternation on one filesystem.
type fsResult struct {
	fs      *testFS
	configs []*configResult // configs[0] is the baseline
	// foreignRounds counts rounds that began or ended with other tracing
	// BPF programs loaded (see tracers.go).
	foreignRounds int
}

// describer is a monitor that has something to say about its setup.
type describer interface{ describe() string }

// runRounds alternates the configurations (A B C A B C ...) so that drift
// (other load, page cache, thermal) lands on all of them alike; cfgs[0] must
// be the baseline.
func runRounds(ctx context.Context, fs *testFS, cfgs []config, p params, tr *foreignTracers) (*fsResult, error) {
	res := &fsResult{fs: fs}
	for _, c := range cfgs {
		res.configs = append(res.configs, &configResult{cfg: c, notes: map[string]bool{}})
	}
	// A discarded warm-up round: the first run of each configuration pays
	// for page-cache misses on the binary, BPF verification caches and
	// the like.
	for _, cr := range res.configs {
		if _, err := runOne(ctx, fs, cr, min(p.files, 2000)); err != nil {
			return nil, fmt.Errorf("warm-up %s: %w", cr.cfg.name, err)
		}
	}
	for r := 0; r < p.reps; r++ {
		waitClean(ctx, tr, p.waitClean)
		foreign := tr.check()
		var base float64
		for i, cr := range res.configs {
			s, err := runOne(ctx, fs, cr, p.files)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", r+1, cr.cfg.name, err)
			}
			if i == 0 {
				base = s.nsPerFile
			}
			cr.samples = append(cr.samples, s)
			cr.ratios = append(cr.ratios, s.nsPerFile/base)
		}
		// Count the round as affected when other programs were loaded at
		// its start or its end.
		if n := max(foreign, tr.check()); n > 0 {
			res.foreignRounds++
			logf("warning: %d tracing BPF programs of other processes were loaded during this round", n)
		}
		logf("%s round %d/%d: %s", fs.name, r+1, p.reps, roundLine(res.configs))
	}
	return res, nil
}

func roundLine(crs []*configResult) string {
	s := ""
	for _, cr := range crs {
		last := cr.samples[len(cr.samples)-1]
		s += fmt.Sprintf("%.0f ", last.nsPerFile)
	}
	return s + "ns/file"
}

// runOne measures one run: a fresh directory, the monitor started, one
// creator, the monitor drained and stopped.
func runOne(ctx context.Context, fs *testFS, cr *configResult, files int) (sample, error) {
	if err := ctx.Err(); err != nil {
		return sample{}, err
	}
	dir, err := fs.newRunDir("run")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(dir)
	if err := fs.settle(); err != nil {
		return sample{}, err
	}
	expected := 0
	if cr.cfg.exact {
		expected = files
	}
	m, err := startMonitor(cr, dir)
	if err != nil {
		return sample{}, err
	}
	cpu0, err := consumerCPU(m)
	if err != nil {
		_, _ = stopMonitor(m) // the error being returned is the one to report
		return sample{}, err
	}
	rs, err := runCreators(ctx, []genSpec{{Dir: dir, Files: files}})
	if err != nil {
		_, _ = stopMonitor(m) // the error being returned is the one to report
		return sample{}, err
	}
	if m != nil {
		m.drain(expected)
	}
	cpu1, err := consumerCPU(m)
	if err != nil {
		_, _ = stopMonitor(m) // the error being returned is the one to report
		return sample{}, err
	}
	c, err := stopMonitor(m)
	if err != nil {
		return sample{}, fmt.Errorf("stop monitor: %w", err)
	}
	n := float64(files)
	return sample{
		nsPerFile:       float64(rs[0].wallNs()) / n,
		cpuPerFile:      float64(rs[0].CPUNs) / n,
		consumerPerFile: float64(cpu1-cpu0) / n,
		c:               c,
		ok:              m == nil || !c.known || c.received+c.lost == uint64(expected),
	}, nil
}

func startMonitor(cr *configResult, dir string) (monitor, error) {
	if cr.cfg.newMonitor == nil {
		return nil, nil
	}
	m := cr.cfg.newMonitor()
	if err := m.start(dir); err != nil {
		return nil, err
	}
	if d, ok := m.(describer); ok {
		cr.notes[d.describe()] = true
	}
	return m, nil
}

func consumerCPU(m monitor) (time.Duration, error) {
	if m == nil {
		return selfCPU()
	}
	return m.consumerCPU()
}

func stopMonitor(m monitor) (counts, error) {
	if m == nil {
		return counts{}, nil
	}
	return m.stop()
}

// summary is what the report prints for one configuration.
type summary struct {
	ns, ratio, cpu, consumer dist
	received, lost           uint64
	known                    bool
	okRuns, runs             int
}

func summarize(cr *configResult) summary {
	s := summary{runs: len(cr.samples), ratio: distOf(cr.ratios)}
	var ns, cpu, cons []float64
	for _, x := range cr.samples {
		ns, cpu, cons = append(ns, x.nsPerFile), append(cpu, x.cpuPerFile), append(cons, x.consumerPerFile)
		s.received += x.c.received
		s.lost += x.c.lost
		s.known = s.known || x.c.known
		if x.ok {
			s.okRuns++
		}
	}
	s.ns, s.cpu, s.consumer = distOf(ns), distOf(cpu), distOf(cons)
	return s
}

// dist is the median and spread of a set of measurements.
type dist struct {
	median, q1, q3, min, max float64
	n                        int
}

func distOf(xs []float64) dist {
	if len(xs) == 0 {
		return dist{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return dist{median: quantile(s, 0.5), q1: quantile(s, 0.25), q3: quantile(s, 0.75), min: s[0], max: s[len(s)-1], n: len(s)}
}

// quantile interpolates linearly between the closest ranks of sorted s.
func quantile(s []float64, q float64) float64 {
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}
