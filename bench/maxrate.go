// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kernelevents/kernelevents/internal/probe"
)

// rateCase is the probe under creators creating files as fast as they can.
type rateCase struct {
	hook     probe.Hook
	creators int
	files    int // per repetition, all creators together
	reps     []rateRep
}

type rateRep struct {
	span           time.Duration // first creator start to last creator end
	received, lost uint64
}

func (r rateRep) createdPerSec(files int) float64 { return float64(files) / r.span.Seconds() }

// maxRate runs one and two parallel creators (the VM has two cores) against
// the default options: 4 MiB ring, batched wakeups.
func maxRate(ctx context.Context, fs *testFS, h hookInfo, p params) ([]*rateCase, error) {
	if h.auto == "" {
		return nil, errors.New("no probe hook attaches")
	}
	var out []*rateCase
	for _, n := range []int{1, 2} {
		rc := &rateCase{hook: h.auto, creators: n, files: n * p.rateFiles}
		for r := 0; r < p.rateReps; r++ {
			rr, err := rateRun(ctx, fs, h.auto, n, p.rateFiles)
			if err != nil {
				return out, fmt.Errorf("%d creators: %w", n, err)
			}
			logf("max rate, %d creator(s): %.0f files/s, received %d, lost %d", n, rr.createdPerSec(rc.files), rr.received, rr.lost)
			rc.reps = append(rc.reps, rr)
		}
		out = append(out, rc)
	}
	return out, nil
}

func rateRun(ctx context.Context, fs *testFS, hook probe.Hook, creators, files int) (rateRep, error) {
	dir, err := fs.newRunDir("rate")
	if err != nil {
		return rateRep{}, err
	}
	defer os.RemoveAll(dir)
	var specs []genSpec
	for i := 0; i < creators; i++ {
		d := filepath.Join(dir, fmt.Sprintf("c%d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			return rateRep{}, err
		}
		specs = append(specs, genSpec{Dir: d, Files: files})
	}
	if err := fs.settle(); err != nil {
		return rateRep{}, err
	}
	m := newProbeMonitor(hook, probe.DefaultOptions().WakeupBytes, "")
	if err := m.start(dir); err != nil {
		return rateRep{}, err
	}
	rs, err := runCreators(ctx, specs)
	if err != nil {
		_, _ = m.stop() // the error being returned is the one to report
		return rateRep{}, err
	}
	m.drain(creators * files)
	c, err := m.stop()
	if err != nil {
		return rateRep{}, err
	}
	return rateRep{span: span(rs), received: c.received, lost: c.lost}, nil
}
