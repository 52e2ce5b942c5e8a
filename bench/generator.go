// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

// The file-creation workload runs in a child process, this binary re-executed
// with genArg: the probe excludes the bench process itself (ExcludePID), and
// the child's CPU time is then only the creations and what the kernel-side
// monitors charge to them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const genArg = "__kebench_generate"

// genSpec is what one creator does.
type genSpec struct {
	Dir   string `json:"dir"`   // an existing, empty directory
	Files int    `json:"files"` // files to create
	// Spread > 0 puts file i in subdirectory i%Spread, made before timing
	// starts (the RSS test needs many distinct directories).
	Spread int `json:"spread"`
	// Op, when set, is one of the whole-node loops (node.go) instead of
	// creating files: Files iterations on the existing file Path.
	Op   string `json:"op,omitempty"`
	Path string `json:"path,omitempty"`
	// Chunks > 1 splits a node loop into that many equal parts, each timed:
	// the result's NsPerOp is their median (a burst of the shared machine's
	// other load spoils one part, not the run).
	Chunks int `json:"chunks,omitempty"`
	// CPUs, when set, pins the node loop's thread to these CPUs.
	CPUs []int `json:"cpus,omitempty"`
}

// genResult is what one creator measured around its creation loop only.
type genResult struct {
	Files   int   `json:"files"`
	StartNs int64 `json:"start_ns"` // CLOCK_MONOTONIC: comparable across processes
	EndNs   int64 `json:"end_ns"`
	CPUNs   int64 `json:"cpu_ns"` // user+sys of the creating thread
	// NsPerOp, set by chunked node loops: the median part's ns per operation.
	NsPerOp float64 `json:"ns_per_op,omitempty"`
	// CPUNsPerOp: the median part's thread CPU time per operation.
	CPUNsPerOp float64 `json:"cpu_ns_per_op,omitempty"`
}

func (r genResult) wallNs() int64 { return r.EndNs - r.StartNs }

// generatorMain is the child: prepare, say "ready", wait for one byte on
// stdin, create the files, print the result as JSON.
func generatorMain(args []string) error {
	if len(args) != 1 {
		return errors.New("want one JSON argument")
	}
	var spec genSpec
	if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
		return fmt.Errorf("parse spec: %w", err)
	}
	// One thread does all the creations, so RUSAGE_THREAD is their cost
	// (BPF programs and audit run in the creating task and count there).
	runtime.LockOSThread()
	if spec.Op != "" {
		return nodeLoopMain(spec)
	}
	dirfd, err := unix.Open(spec.Dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", spec.Dir, err)
	}
	defer unix.Close(dirfd)
	names, err := prepareNames(dirfd, spec)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	if _, err := io.ReadFull(os.Stdin, make([]byte, 1)); err != nil {
		return fmt.Errorf("wait for go: %w", err)
	}
	res, err := createAll(dirfd, names)
	if err != nil {
		return err
	}
	return jsonOut(res)
}

// jsonOut prints a generator's result for the parent.
func jsonOut(res genResult) error {
	return json.NewEncoder(os.Stdout).Encode(res)
}

// prepareNames builds the NUL-terminated names up front (and the spread
// subdirectories) so that the timed loop makes two syscalls per file and
// allocates nothing.
func prepareNames(dirfd int, spec genSpec) ([]*byte, error) {
	for d := 0; d < spec.Spread; d++ {
		if err := unix.Mkdirat(dirfd, fmt.Sprintf("d%06d", d), 0o755); err != nil {
			return nil, fmt.Errorf("mkdir: %w", err)
		}
	}
	names := make([]*byte, spec.Files)
	for i := range names {
		name := fmt.Sprintf("f%08d", i)
		if spec.Spread > 0 {
			name = fmt.Sprintf("d%06d/%s", i%spec.Spread, name)
		}
		p, err := unix.BytePtrFromString(name)
		if err != nil {
			return nil, err
		}
		names[i] = p
	}
	return names, nil
}

func createAll(dirfd int, names []*byte) (genResult, error) {
	cpu0, err := threadCPU()
	if err != nil {
		return genResult{}, err
	}
	t0 := monotonicNs()
	for _, name := range names {
		fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(name)),
			uintptr(unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC), 0o644, 0, 0)
		if errno != 0 {
			return genResult{}, fmt.Errorf("openat: %w", errno)
		}
		unix.Close(int(fd))
	}
	t1 := monotonicNs()
	cpu1, err := threadCPU()
	if err != nil {
		return genResult{}, err
	}
	return genResult{Files: len(names), StartNs: t0, EndNs: t1, CPUNs: cpu1 - cpu0}, nil
}

func threadCPU() (int64, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), nil
}

func monotonicNs() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return ts.Nano()
}

// creator is a running child on the parent side.
type creator struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr bytes.Buffer
}

func startCreator(ctx context.Context, spec genSpec) (*creator, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	arg, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	c := &creator{cmd: exec.CommandContext(ctx, self, genArg, string(arg))}
	c.cmd.Stderr = &c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.stdout = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start generator: %w", err)
	}
	line, err := c.stdout.ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		return nil, fmt.Errorf("generator not ready (%q, %v): %s", line, err, c.stderr.String())
	}
	return c, nil
}

func (c *creator) wait() (genResult, error) {
	var res genResult
	dec := json.NewDecoder(c.stdout)
	decErr := dec.Decode(&res)
	if err := c.cmd.Wait(); err != nil {
		return res, fmt.Errorf("generator: %w: %s", err, c.stderr.String())
	}
	if decErr != nil {
		return res, fmt.Errorf("generator result: %w", decErr)
	}
	return res, nil
}

// runCreators starts one child per spec, lets them all go at once and
// returns their results.
func runCreators(ctx context.Context, specs []genSpec) ([]genResult, error) {
	var cs []*creator
	defer func() {
		for _, c := range cs {
			if c.cmd.ProcessState == nil {
				c.cmd.Process.Kill()
				c.cmd.Wait()
			}
		}
	}()
	for _, s := range specs {
		c, err := startCreator(ctx, s)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		if _, err := c.stdin.Write([]byte{'g'}); err != nil {
			return nil, fmt.Errorf("start signal: %w", err)
		}
	}
	var out []genResult
	for _, c := range cs {
		r, err := c.wait()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// span is the wall time from the first start to the last end.
func span(rs []genResult) time.Duration {
	first, last := rs[0].StartNs, rs[0].EndNs
	for _, r := range rs[1:] {
		first, last = min(first, r.StartNs), max(last, r.EndNs)
	}
	return time.Duration(last - first)
}
