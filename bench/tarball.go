// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"strings"
	"time"
)

// tarball is the generated source tree of the node rows' realistic
// workload: what `tar -xf project.tar` does on a developer's machine or in
// a container build.
type tarball struct {
	path         string
	files, dirs  int
	bytes        int64
	uncompressed bool
}

// Sizes of source files, weighted like a C or Go project's tree: mostly a
// few KiB, a tail of larger files.
var tarSizes = []struct {
	size   int
	weight int
}{{300, 10}, {1 << 10, 20}, {3 << 10, 30}, {8 << 10, 25}, {24 << 10, 10}, {96 << 10, 5}}

// writeTarball writes an uncompressed tar of files files spread over dirs
// directories (two levels, like src/pkgNN/subMM), deterministic from a fixed
// seed. Uncompressed on purpose: decompression is user-space work that every
// configuration pays alike and that would only dilute the ratios.
func writeTarball(file string, files, dirs int) (*tarball, error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	rng := rand.New(rand.NewPCG(17, 2026))
	mtime := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	total := 0
	for _, s := range tarSizes {
		total += s.weight
	}
	line := []byte("static int kebench_generated_source_line(int x) { return x * 31 + 7; }\n")
	buf := make([]byte, 0, 128<<10)
	tb := &tarball{path: file, uncompressed: true}
	var dirNames []string
	written := map[string]bool{}
	var addDir func(name string) error
	addDir = func(name string) error {
		if name == "." || name == "/" || written[name] {
			return nil
		}
		if err := addDir(path.Dir(name)); err != nil {
			return err
		}
		written[name] = true
		tb.dirs++
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: mtime})
	}
	for d := 0; d < dirs; d++ {
		name := fmt.Sprintf("project/src/pkg%02d", d/10)
		if d%10 != 0 {
			name = fmt.Sprintf("%s/sub%02d", name, d%10)
		}
		if err := addDir(name); err != nil {
			return nil, err
		}
		dirNames = append(dirNames, name+"/")
	}
	exts := []string{".c", ".h", ".go", ".md", "_test.go"}
	for i := 0; i < files; i++ {
		w := rng.IntN(total)
		size := tarSizes[0].size
		for _, s := range tarSizes {
			if w < s.weight {
				size = s.size
				break
			}
			w -= s.weight
		}
		size += rng.IntN(size/2 + 1)
		buf = buf[:0]
		for len(buf) < size {
			buf = append(buf, line...)
		}
		buf = buf[:size]
		name := fmt.Sprintf("%sfile%05d%s", dirNames[i%len(dirNames)], i, exts[i%len(exts)])
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(size), ModTime: mtime}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(buf); err != nil {
			return nil, err
		}
		tb.files++
		tb.bytes += int64(size)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return tb, f.Close()
}

// tarVersion names the tar that ran (GNU tar here, busybox in the VM).
func tarVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "tar", "--version").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	if err != nil || first == "" {
		return "tar (version unknown)"
	}
	return strings.TrimSpace(first)
}
