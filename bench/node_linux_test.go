// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestMakeRunPrefixes keeps the node rows' path filter equal to `make run`'s
// configuration, so that the bench measures what a user's collector does.
func TestMakeRunPrefixes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "collector-prometheus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Receivers struct {
			KernelEvents struct {
				Filter struct {
					PathPrefixes []string `yaml:"path_prefixes"`
				} `yaml:"filter"`
			} `yaml:"kernel_events"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	got := cfg.Receivers.KernelEvents.Filter.PathPrefixes
	if len(got) == 0 || !slices.Equal(got, makeRunPrefixes) {
		t.Fatalf("testdata/collector-prometheus.yaml filters %q, the bench's node rows %q", got, makeRunPrefixes)
	}
}

// TestTarball checks the generated tree: the counts the report divides by
// are what the archive holds.
func TestTarball(t *testing.T) {
	dir := t.TempDir()
	tb, err := writeTarball(filepath.Join(dir, "src.tar"), 120, 25)
	if err != nil {
		t.Fatal(err)
	}
	if tb.files != 120 || tb.dirs < 25 {
		t.Fatalf("tarball: %d files, %d dirs; want 120 files and at least 25 dirs", tb.files, tb.dirs)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &nodeWorkload{key: opTar, fs: &testFS{name: "test", root: dir}, tarball: tb}
	s, err := w.runTar(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.nsPerOp <= 0 {
		t.Fatalf("tar took %v ns per file", s.nsPerOp)
	}
	// runTar removes its directory; extract once more to count.
	files, dirs := 0, 0
	tarDir := filepath.Join(dir, "count")
	if err := os.Mkdir(tarDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := command(t.Context(), "tar", "-xf", tb.path, "-C", tarDir); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	err = filepath.WalkDir(tarDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs++
		} else {
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != tb.files || dirs-1 != tb.dirs {
		t.Fatalf("extracted %d files and %d directories; the report says %d and %d", files, dirs-1, tb.files, tb.dirs)
	}
}

// TestAuditIsOptIn: a default run (full or quick) never enables audit, whose
// effect lasts until reboot.
func TestAuditIsOptIn(t *testing.T) {
	for _, quick := range []bool{false, true} {
		if defaultParams(quick).audit {
			t.Fatalf("defaultParams(quick=%v) runs the audit phase", quick)
		}
	}
	ph, err := parsePhases("node,rate")
	if err != nil || !ph[phaseNode] || !ph[phaseRate] || ph[phaseCreate] || ph[phaseMicro] {
		t.Fatalf("parsePhases(node,rate) = %v, %v", ph, err)
	}
	if _, err := parsePhases("node,audit"); err == nil {
		t.Fatal("parsePhases accepted audit, which only -audit may turn on")
	}
}
