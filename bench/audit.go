// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

// Linux audit with the rules audit users deploy to watch creations (OSPP's
// "successful file creation" set, see auditRules), limited to the run
// directory, written to a log by auditd. Opt-in (-audit, make bench AUDIT=1).
//
// Enabling audit has a cost beyond the rules: once audit has ever been
// enabled since boot, every process forked afterwards gets an audit context
// and takes the slow syscall path (kernel/auditsc.c: audit_alloc), even with
// no rules and audit disabled again. That is why the audit phase is opt-in,
// runs last and has its own baseline, why a marker in /run remembers that
// this boot has had audit enabled by the bench, and why the bench checks
// its own audit context at start (auditstate.go).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	auditKey    = "kebench"
	auditMarker = "/run/kebench-audit-enabled"
)

// auditRules are the rules for one directory tree, each after -a: the
// "successful file creation" set of the OSPP audit rules
// (30-ospp-v42-1-create-success.rules), which is how audit users watch
// creations: open-family syscalls with O_CREAT (0100) in their flags that
// succeeded. Audit cannot tell a creation from an O_CREAT re-open of an
// existing file, so it logs both; openat2 passes its flags in a struct that
// rules cannot read, so it is audited whatever its flags.
func auditRules(dir string) [][]string {
	tail := []string{"-F", "dir=" + dir, "-F", "success=1", "-k", auditKey}
	rule := func(args ...string) []string {
		return append(append([]string{"always,exit", "-F", "arch=b64"}, args...), tail...)
	}
	return [][]string{
		rule("-S", "openat", "-F", "a2&0100"),
		rule("-S", "open", "-F", "a1&0100"),
		rule("-S", "creat,openat2"),
	}
}

// addAuditRules adds the rules for each directory.
func addAuditRules(ctx context.Context, dirs ...string) error {
	for _, d := range dirs {
		for _, r := range auditRules(d) {
			if out, err := command(ctx, "auditctl", append([]string{"-a"}, r...)...); err != nil {
				return fmt.Errorf("auditctl -a %s: %w: %s", strings.Join(r, " "), err, oneLine(out))
			}
		}
	}
	return nil
}

func auditRulesText() string {
	var parts []string
	for _, r := range auditRules("<run dir>") {
		parts = append(parts, "`auditctl -a "+strings.Join(r, " ")+"`")
	}
	return strings.Join(parts, ", ")
}

// auditSetup is a running auditd the bench can count records from.
type auditSetup struct {
	daemonPID  int
	ours       bool   // the bench started auditd (and stops it)
	logFile    string // where auditd writes
	kauditdPID int    // the kernel thread that sends records to auditd
	backlog    string
}

func (a *auditSetup) describe() string {
	who := "an auditd already running"
	if a.ours {
		who = "auditd started by the bench (Debian's auditd.conf, own log file)"
	}
	return fmt.Sprintf("%s, pid %d, log %s; backlog %s; rules: %s", who, a.daemonPID, a.logFile,
		a.backlog, auditRulesText())
}

func auditConfigs(a *auditSetup, extra ...string) []config {
	return []config{
		{name: "baseline (audit phase: audit enabled, no rule)", kind: kindBaseline},
		{name: "audit creation rules (OSPP) + auditd", kind: kindAudit, exact: true, newMonitor: func() monitor { return &auditMonitor{a: a, extra: extra} }},
	}
}

// auditPhase starts auditd if needed and alternates baseline and audit on
// each filesystem; auditd stops and the rules go when it returns. Failures
// end up in the report, not as an error: the other phases stand.
func auditPhase(ctx context.Context, p params, fss []*testFS, base string, nodeWs []*nodeWorkload, rep *report) {
	if !p.phases[phaseCreate] && len(nodeWs) == 0 {
		rep.audit.why = "not run: neither the create nor the node phase ran"
		return
	}
	var cl cleanups
	defer cl.run()
	a, err := setupAudit(ctx, base, &cl)
	if err != nil {
		rep.audit.why = err.Error()
		logf("audit unavailable: %v", err)
		return
	}
	rep.audit.setup = a.describe()
	if len(nodeWs) > 0 {
		// The node workloads live on every test filesystem: one rule set
		// per filesystem root.
		var roots []string
		for _, fs := range fss {
			roots = append(roots, fs.root)
		}
		logf("== whole node: audit rounds")
		res, err := runNodeRounds(ctx, nodeWs, auditConfigs(a, roots[1:]...), p, rep.tracers)
		if err != nil {
			rep.audit.why = fmt.Sprintf("node audit rounds failed: %v", err)
			logf("%s", rep.audit.why)
			return
		}
		rep.audit.node = res
	}
	if !p.phases[phaseCreate] {
		return
	}
	for _, fs := range fss {
		logf("== %s: audit rounds", fs.name)
		res, err := runRounds(ctx, fs, auditConfigs(a), p, rep.tracers)
		if err != nil {
			rep.audit.why = fmt.Sprintf("%s audit rounds failed: %v", fs.name, err)
			logf("%s", rep.audit.why)
			return
		}
		rep.audit.perFS = append(rep.audit.perFS, res)
	}
}

func setupAudit(ctx context.Context, base string, cl *cleanups) (*auditSetup, error) {
	if err := ensureAuditTools(ctx); err != nil {
		return nil, err
	}
	st, err := auditStatus(ctx)
	if err != nil {
		return nil, err
	}
	a := &auditSetup{}
	if pid, _ := strconv.Atoi(st["pid"]); pid != 0 {
		a.daemonPID, a.logFile = pid, configuredLogFile("/etc/audit/auditd.conf")
	} else if err := startAuditd(ctx, a, base, cl); err != nil {
		return nil, err
	}
	markAuditEnabled()
	// auditd started with -s enable leaves audit enabled when it exits:
	// put back what was there.
	cl.add("restore audit enabled flag", func() error {
		if out, err := command(context.Background(), "auditctl", "-e", st["enabled"]); err != nil {
			return fmt.Errorf("auditctl -e %s: %w: %s", st["enabled"], err, oneLine(out))
		}
		return nil
	})
	if err := setBacklog(ctx, st, cl); err != nil {
		return nil, err
	}
	a.backlog = "8192, wait 60000 (Debian's audit.rules)"
	a.kauditdPID = findKernelThread("kauditd")
	// Delete our rules whatever happens, including after an interrupt.
	cl.add("delete audit rules", func() error { return deleteAuditRules(context.Background()) })
	if err := tryAuditRule(ctx, base); err != nil {
		return nil, err
	}
	return a, nil
}

// ensureAuditTools installs Debian's auditd when auditctl is missing.
func ensureAuditTools(ctx context.Context) error {
	if _, err := exec.LookPath("auditctl"); err == nil {
		return nil
	}
	logf("auditctl missing: apt-get install auditd")
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", "auditd")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("install auditd: %w: %s", err, lastLines(string(out), 3))
	}
	return nil
}

// auditStatus parses `auditctl -s` ("key value" lines).
func auditStatus(ctx context.Context) (map[string]string, error) {
	out, err := command(ctx, "auditctl", "-s")
	if err != nil {
		return nil, fmt.Errorf("auditctl -s (is audit compiled in, are we in the initial user namespace?): %w: %s", err, oneLine(out))
	}
	st := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			st[k] = strings.TrimSpace(v)
		}
	}
	return st, nil
}

// startAuditd runs auditd in the foreground with Debian's configuration but
// its own log file (so records can be counted and the system log is left
// alone). auditd enables audit when it starts (but does not disable it when
// it exits: setupAudit restores the flag).
func startAuditd(ctx context.Context, a *auditSetup, base string, cl *cleanups) error {
	dir := filepath.Join(base, "audit")
	if err := os.Mkdir(dir, 0o750); err != nil {
		return err
	}
	a.logFile = filepath.Join(dir, "audit.log")
	conf, err := auditdConf("/etc/audit/auditd.conf", a.logFile)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "auditd.conf"), conf, 0o640); err != nil {
		return err
	}
	cmd := exec.Command("auditd", "-n", "-s", "enable", "-c", dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start auditd: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	cl.add("stop auditd", func() error { return stopProcess(cmd.Process, exited, 10*time.Second) })
	a.daemonPID, a.ours = cmd.Process.Pid, true
	ok := waitFor(func() bool {
		st, err := auditStatus(ctx)
		return err == nil && st["pid"] == strconv.Itoa(a.daemonPID) && st["enabled"] == "1"
	}, 10*time.Second)
	if !ok {
		return fmt.Errorf("auditd did not register and enable audit within 10s: %s", oneLine(out.String()))
	}
	return nil
}

// auditdConf rewrites Debian's auditd.conf for a private log file that is
// never rotated (rotation would lose records between two counts).
func auditdConf(path, logFile string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read auditd.conf: %w", err)
	}
	set := map[string]string{"log_file": logFile, "max_log_file_action": "IGNORE"}
	var out bytes.Buffer
	for _, line := range strings.Split(string(b), "\n") {
		k, _, _ := strings.Cut(line, "=")
		if v, ok := set[strings.TrimSpace(k)]; ok {
			line = strings.TrimSpace(k) + " = " + v
			delete(set, strings.TrimSpace(k))
		}
		out.WriteString(line + "\n")
	}
	for k, v := range set {
		out.WriteString(k + " = " + v + "\n")
	}
	return out.Bytes(), nil
}

func configuredLogFile(conf string) string {
	b, _ := os.ReadFile(conf)
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "log_file" {
			return strings.TrimSpace(v)
		}
	}
	return "/var/log/audit/audit.log"
}

// setBacklog uses Debian's buffer settings (the default 64 records would
// make the creator wait for auditd after a few files) and restores the old
// ones afterwards.
func setBacklog(ctx context.Context, old map[string]string, cl *cleanups) error {
	if out, err := command(ctx, "auditctl", "-b", "8192", "--backlog_wait_time", "60000"); err != nil {
		return fmt.Errorf("auditctl -b: %w: %s", err, oneLine(out))
	}
	cl.add("restore audit backlog", func() error {
		args := []string{"-b", old["backlog_limit"]}
		if w := old["backlog_wait_time"]; w != "" {
			args = append(args, "--backlog_wait_time", w)
		}
		if out, err := command(context.Background(), "auditctl", args...); err != nil {
			return fmt.Errorf("%w: %s", err, oneLine(out))
		}
		return nil
	})
	return nil
}

// tryAuditRule adds and deletes the rule once, so that a kernel that refuses
// it is reported before any round starts.
func tryAuditRule(ctx context.Context, base string) error {
	if err := addAuditRules(ctx, base); err != nil {
		return fmt.Errorf("the kernel refused an audit rule: %w", err)
	}
	return deleteAuditRules(ctx)
}

func deleteAuditRules(ctx context.Context) error {
	out, err := command(ctx, "auditctl", "-D", "-k", auditKey)
	if err != nil {
		return fmt.Errorf("auditctl -D -k %s: %w: %s", auditKey, err, oneLine(out))
	}
	return nil
}

// markAuditEnabled remembers, until reboot (/run is tmpfs), that this boot
// has had audit enabled, so later runs can say their baseline pays for it.
func markAuditEnabled() {
	if err := os.WriteFile(auditMarker, []byte(bootID()), 0o644); err != nil {
		logf("write %s: %v", auditMarker, err)
	}
}

// auditEverEnabled says whether an earlier run enabled audit in this boot.
func auditEverEnabled() bool {
	b, err := os.ReadFile(auditMarker)
	return err == nil && string(b) == bootID()
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// stopProcess sends SIGTERM and waits, then kills.
func stopProcess(p *os.Process, exited <-chan struct{}, grace time.Duration) error {
	select {
	case <-exited:
		return nil
	default:
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
		p.Kill()
		<-exited
		return fmt.Errorf("pid %d ignored SIGTERM for %s: killed", p.Pid, grace)
	}
}

// auditMonitor adds the rules for one run and counts the files auditd logs
// as created: PATH records with nametype=CREATE (the rules also log O_CREAT
// re-opens of existing files, as PATH records of nametype NORMAL; the
// bench's rules are the only ones, so every CREATE record is the bench's).
type auditMonitor struct {
	a     *auditSetup
	extra []string // more directories to watch (the node rows)
	log   *os.File
	lines lineCounter
	lost0 uint64
}

func (m *auditMonitor) start(dir string) error {
	f, err := os.Open(m.a.logFile)
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	// Count only what is written from now on.
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return err
	}
	m.log = f
	if m.lost0, err = auditLost(); err != nil {
		f.Close()
		return err
	}
	if err := addAuditRules(context.Background(), append([]string{dir}, m.extra...)...); err != nil {
		f.Close()
		return errors.Join(fmt.Errorf("add audit rules: %w", err), deleteAuditRules(context.Background()))
	}
	return nil
}

// drain reads the log as auditd writes it; auditd flushes asynchronously.
func (m *auditMonitor) drain(expected int) {
	waitFor(func() bool {
		m.lines.readFrom(m.log)
		return m.lines.n >= uint64(expected)
	}, 15*time.Second)
}

// consumerCPU is auditd's and kauditd's CPU: the user-space side of audit.
func (m *auditMonitor) consumerCPU() (time.Duration, error) {
	d, err := processCPU(m.a.daemonPID)
	if err != nil {
		return 0, err
	}
	if m.a.kauditdPID != 0 {
		k, _ := processCPU(m.a.kauditdPID)
		d += k
	}
	return d, nil
}

func (m *auditMonitor) stop() (counts, error) {
	// By key rather than by the exact rule: nothing of ours may stay.
	derr := deleteAuditRules(context.Background())
	m.lines.readFrom(m.log)
	m.log.Close()
	lost1, err := auditLost()
	var terr error
	if m.a.ours {
		// The log is the bench's own (auditd opens it O_APPEND): empty it
		// between runs, or the O_CREAT re-open rows alone would write
		// gigabytes. The next run counts from the end again.
		terr = os.Truncate(m.a.logFile, 0)
	}
	return counts{received: m.lines.n, lost: lost1 - m.lost0, known: true}, errors.Join(derr, err, terr)
}

// auditLost is the kernel's count of records it dropped.
func auditLost() (uint64, error) {
	st, err := auditStatus(context.Background())
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(st["lost"], 10, 64)
}

// lineCounter counts complete log lines that record a created name, across
// reads that may end mid-line.
type lineCounter struct {
	partial []byte
	n       uint64
}

var (
	pathRecord = []byte("type=PATH ")
	createName = []byte(" nametype=CREATE")
)

func (c *lineCounter) readFrom(r io.Reader) {
	b, _ := io.ReadAll(r)
	if len(b) == 0 {
		return
	}
	b = append(c.partial, b...)
	last := bytes.LastIndexByte(b, '\n')
	c.partial = append([]byte(nil), b[last+1:]...)
	sc := bufio.NewScanner(bytes.NewReader(b[:last+1]))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, pathRecord) && bytes.Contains(line, createName) {
			c.n++
		}
	}
}

// processCPU is utime+stime of a process (all threads) from /proc.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces: state is
	// field 3, utime 14 and stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(ut+st) * tick, nil
}

// findKernelThread returns the pid of the process named comm, or 0.
func findKernelThread(comm string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(b)) == comm {
			return pid
		}
	}
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
