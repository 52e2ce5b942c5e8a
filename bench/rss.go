// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/kernelevents/kernelevents/internal/procstatus"
)

// rssResult is the collector's memory once the series cap is reached.
type rssResult struct {
	measured                 bool
	why                      string // why not measured, or what went wrong
	bin                      string
	maxSeries, dirs          int
	idleRSS, capRSS, capHWM  uint64 // bytes
	series, overflowed, lost float64
}

const collectorEnv = "KERNELEVENTS_COLLECTOR"

// collectorConfig: the receiver watching dir with one series per directory,
// the Prometheus exporter, no health check and no self-telemetry server.
const collectorConfig = `receivers:
  kernel_events:
    collection_interval: 1s
    filter:
      path_prefixes: ["%s/"]
      exclude_self: true
    file_directory_depth: 32
    max_series: %d
exporters:
  prometheus:
    endpoint: %s
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [kernel_events]
      exporters: [prometheus]
`

// measureRSS starts the collector named by KERNELEVENTS_COLLECTOR, creates
// one file in each of more directories than max_series, waits until the
// receiver reports the cap reached and reads VmRSS and VmHWM.
func measureRSS(ctx context.Context, fs *testFS, p params) rssResult {
	r := rssResult{bin: os.Getenv(collectorEnv), maxSeries: p.maxSeries, dirs: p.rssDirs}
	if r.bin == "" {
		r.why = "not measured: " + collectorEnv + " is not set (make build, then KERNELEVENTS_COLLECTOR=_build/collector/otelcol-kernelevents)"
		return r
	}
	if err := r.measure(ctx, fs); err != nil {
		r.why = err.Error()
		r.measured = false
	}
	return r
}

func (r *rssResult) measure(ctx context.Context, fs *testFS) error {
	dir, err := fs.newRunDir("rss")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	confPath := filepath.Join(filepath.Dir(fs.root), "collector.yaml")
	if err := os.WriteFile(confPath, fmt.Appendf(nil, collectorConfig, dir, r.maxSeries, addr), 0o644); err != nil {
		return err
	}
	var logs bytes.Buffer
	cmd := exec.Command(r.bin, "--config", confPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start collector: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() { _ = stopProcess(cmd.Process, exited, 30*time.Second) }() // it is killed if it will not stop

	url := "http://" + addr + "/metrics"
	if !waitFor(func() bool { _, ok := promSum(scrape(url), "kernel_probe_hook"); return ok }, 60*time.Second) {
		return fmt.Errorf("the collector never served kernel_probe_hook: %s", lastLines(logs.String(), 5))
	}
	if r.idleRSS, _, err = memStatus(cmd.Process.Pid); err != nil {
		return err
	}
	if _, err := runCreators(ctx, []genSpec{{Dir: dir, Files: r.dirs, Spread: r.dirs}}); err != nil {
		return err
	}
	full := func() bool {
		text := scrape(url)
		r.series, _ = promSum(text, "kernel_series_active")
		r.overflowed, _ = promSum(text, "kernel_series_overflowed_total")
		r.lost, _ = promSum(text, "kernel_events_lost_total")
		return r.series >= float64(r.maxSeries) && r.overflowed > 0
	}
	if !waitFor(full, 60*time.Second) {
		return fmt.Errorf("series cap not reached within 60s: %v active, %v overflowed", r.series, r.overflowed)
	}
	// Let a few more collections and scrapes run at the cap: the exporter's
	// copy of 10000 series is part of the collector's memory.
	for range 3 {
		time.Sleep(1100 * time.Millisecond)
		scrape(url)
	}
	if r.capRSS, r.capHWM, err = memStatus(cmd.Process.Pid); err != nil {
		return err
	}
	r.measured = true
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// memStatus reads VmRSS and VmHWM (bytes) of the collector.
func memStatus(pid int) (rss, hwm uint64, err error) {
	if rss, err = procstatus.Bytes(pid, "VmRSS"); err != nil {
		return 0, 0, fmt.Errorf("collector memory: %w", err)
	}
	if hwm, err = procstatus.Bytes(pid, "VmHWM"); err != nil {
		return 0, 0, fmt.Errorf("collector memory: %w", err)
	}
	return rss, hwm, nil
}
