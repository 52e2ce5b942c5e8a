// SPDX-License-Identifier: Apache-2.0

// Package testutil holds what the kernel tests of several packages share:
// the rule that decides whether a missing privilege skips or fails, and a
// child process that creates files on command.
package testutil

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// NoKernelEnv, set to 1 (make check sets it), asks for the daily loop's
// tests only: every test that needs root, the kernel or a built tool
// (RequireRoot, SkipUnlessStrict) skips, as root too and whatever CI says.
// make test never sets it.
const NoKernelEnv = "KERNELEVENTS_NO_KERNEL"

// NoKernel reports whether NoKernelEnv is set.
func NoKernel() bool { return os.Getenv(NoKernelEnv) == "1" }

// Strict reports whether kernel tests must run: under CI=true or
// KERNELEVENTS_REQUIRE_BPF=1 a missing privilege or kernel feature fails the
// test instead of skipping it (unless NoKernel: then they skip).
func Strict() bool {
	if NoKernel() {
		return false
	}
	return os.Getenv("CI") == "true" || os.Getenv("KERNELEVENTS_REQUIRE_BPF") == "1"
}

// SkipUnlessStrict skips t with reason, or fails it when Strict.
func SkipUnlessStrict(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if NoKernel() {
		t.Skip(NoKernelEnv + "=1 (make check): " + msg)
	}
	if Strict() {
		t.Fatalf("required kernel test cannot run (CI=true or KERNELEVENTS_REQUIRE_BPF=1): %s", msg)
	}
	t.Skip(msg)
}

// RequireRoot skips (or fails, when Strict) unless the test runs as root;
// under NoKernel it skips.
func RequireRoot(t testing.TB) {
	t.Helper()
	if NoKernel() {
		t.Skip(NoKernelEnv + "=1 (make check): a test as root is make test's")
	}
	if os.Geteuid() != 0 {
		SkipUnlessStrict(t, "needs root to load BPF programs (run make test as root)")
	}
}

// RequireTracefs skips (or fails) unless tracefs is mounted.
func RequireTracefs(t testing.TB) {
	t.Helper()
	for _, dir := range []string{"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"} {
		if _, err := os.Stat(dir); err == nil {
			return
		}
	}
	SkipUnlessStrict(t, "tracefs is not mounted (make test mounts it: mount -t tracefs tracefs /sys/kernel/tracing)")
}

// TempDir returns a new directory for t, removed when t ends: the one
// helper for temporary directories in this repository's tests. Unlike
// t.TempDir's it is short (os.TempDir()/ke-<random>: a unix socket path holds
// 108 bytes, podman's runroot 50), its symlinks are resolved (the kernel
// reports real paths, which the tests compare with) and it is reachable by
// every user (mode 0755 in the world-writable os.TempDir(), where t.TempDir's
// parent is 0700), so that a child running as another user
// (ChildSpec.AsUser) can reach files in it; a test that lets that user write
// there makes it 0777 itself.
func TempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ke-")
	if err != nil {
		t.Fatalf("create a temporary directory: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("remove temporary directory: %v", err)
		}
	})
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatalf("make %s reachable: %v", d, err)
	}
	resolved, err := filepath.EvalSymlinks(d)
	if err != nil {
		t.Fatalf("resolve %s: %v", d, err)
	}
	return resolved
}

// The test binary is re-executed in two ways, both through this package and
// both with the binary Exe names: RunChild starts a child that runs no test
// (-test.run=^$) but a ChildSpec, picked up by MaybeRunChild in TestMain;
// Rerun starts a child that runs the calling test again, alone, in a mode the
// test reads back with RerunMode (for what must happen in another process:
// fewer capabilities, another pid, cgroup or mount namespace).

// childEnv carries a ChildSpec to the re-executed test binary.
const childEnv = "KERNELEVENTS_TEST_CHILD"

// rerunEnv carries "<top-level test name>:<mode>" to a test run again by
// Rerun.
const rerunEnv = "KERNELEVENTS_TEST_RERUN"

// RerunMode returns the mode t runs in when Rerun started this process for
// t's top-level test, and whether it did.
func RerunMode(t testing.TB) (string, bool) {
	name, mode, ok := strings.Cut(os.Getenv(rerunEnv), ":")
	if !ok || name != topLevel(t) {
		return "", false
	}
	return mode, true
}

// Rerun runs t's top-level test again in a child (the test binary, that test
// alone, verbose, once), with mode for RerunMode, and returns what it
// printed and whether the test skipped there (the caller decides what a skip
// means: SkipUnlessStrict, or a failure for a required hook). It fails t when
// the child fails or when the test did not run in it. opts set what the
// child needs (capabilities, namespaces, environment). Call it from the
// test's goroutine only.
func Rerun(t testing.TB, mode string, opts ...ChildOption) (out string, skipped bool) {
	t.Helper()
	name := topLevel(t)
	cmd := exec.Command(Exe(), "-test.run=^"+regexp.QuoteMeta(name)+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), rerunEnv+"="+name+":"+mode)
	var b strings.Builder
	cmd.Stdout, cmd.Stderr = &b, &b
	err := start(cmd, opts)
	if err == nil {
		err = cmd.Wait()
	}
	out = b.String()
	t.Logf("%s run again (%s):\n%s", name, mode, out)
	if err != nil {
		t.Fatalf("%s run again (%s) failed: %v", name, mode, err)
	}
	skipped = strings.Contains(out, "\n--- SKIP: "+name+" ")
	if !skipped && !strings.Contains(out, "\n--- PASS: "+name+" ") {
		t.Fatalf("%s run again (%s): the test did not run in the child", name, mode)
	}
	return out, skipped
}

// ChildOption changes how a child (RunChild, Rerun) is started.
type ChildOption func(*childStart)

// childStart is a child's command and how to start it.
type childStart struct {
	cmd *exec.Cmd
	// keep, when set, are the only capabilities the child gets
	// (WithCapabilities).
	keep []int
	// deny, when set, are the system calls a seccomp filter refuses the
	// child (WithSeccompDeny).
	deny []uintptr
}

// WithCmd applies f to the child's command (SysProcAttr, credentials).
func WithCmd(f func(*exec.Cmd)) ChildOption {
	return func(c *childStart) { f(c.cmd) }
}

// WithEnv adds kv ("KEY=value") to a child's environment.
func WithEnv(kv ...string) ChildOption {
	return func(c *childStart) { c.cmd.Env = append(c.cmd.Env, kv...) }
}

// start applies opts to cmd and starts it.
func start(cmd *exec.Cmd, opts []ChildOption) error {
	c := &childStart{cmd: cmd}
	for _, o := range opts {
		o(c)
	}
	if c.keep != nil || len(c.deny) > 0 {
		return startRestricted(cmd, c.keep, c.deny)
	}
	return cmd.Start()
}

// topLevel returns the name of t's top-level test.
func topLevel(t testing.TB) string {
	name, _, _ := strings.Cut(t.Name(), "/")
	return name
}

// ChildComm is the name the child gives its file-creating thread.
const ChildComm = "kechild"

// Op is one thing the child does. Kind is one of the Op* constants.
type Op struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	// For and Spread are OpChurn's duration (a Go duration) and number of
	// directories.
	For    string `json:"for,omitempty"`
	Spread int    `json:"spread,omitempty"`
}

// Kinds of Op. Those named create* must create the file; the others must
// not create anything (they fail or find the file there).
const (
	OpOpen           = "open"    // open(2) O_CREAT (amd64 only)
	OpOpenat         = "openat"  // openat(2) O_CREAT
	OpOpenat2        = "openat2" // openat2(2) O_CREAT
	OpCreat          = "creat"   // creat(2) (amd64 only)
	OpMknod          = "mknod"   // mknod(2) S_IFREG (amd64 only)
	OpMknodat        = "mknodat" // mknodat(2) S_IFREG
	OpOpenatRel      = "openat_relative"
	OpMknodatRel     = "mknodat_relative"
	OpReopen         = "reopen"                 // openat O_CREAT of an existing file: no creation
	OpExclFail       = "excl"                   // openat O_CREAT|O_EXCL of an existing file: EEXIST
	OpAccessFail     = "eaccess"                // openat O_CREAT where the child may not write: EACCES
	OpMkfifo         = "mkfifo"                 // mknodat S_IFIFO: not a regular file
	OpUnlink         = "unlink"                 // unlink(2), to make a name creatable again
	OpIOUring        = "io_uring_openat"        // IORING_OP_OPENAT O_CREAT, plain fd
	OpIOUringOpenat2 = "io_uring_openat2"       // IORING_OP_OPENAT2 O_CREAT, plain fd
	OpIOUringSQPoll  = "io_uring_sqpoll_openat" // IORING_OP_OPENAT O_CREAT on an IORING_SETUP_SQPOLL ring
	OpIOUringDirect  = "io_uring_direct_openat" // IORING_OP_OPENAT O_CREAT into direct descriptor slot 2
	OpIOUringReopen  = "io_uring_reopen"        // IORING_OP_OPENAT O_CREAT of an existing file: no creation
	OpIOUringExcl    = "io_uring_excl"          // IORING_OP_OPENAT O_CREAT|O_EXCL of an existing file: -EEXIST
	OpComm           = "comm"                   // rename the child (every thread) to Path
	OpSleep          = "sleep"                  // stay alive for Path (a Go duration), so user space can still look the process up
	// OpFIFOBlock starts Spread threads that each open the FIFO Path for
	// reading and stay blocked there (inside do_filp_open, waiting for a
	// writer) and returns once all are asleep in that open; OpFIFOUnblock
	// opens Path for writing, which releases them, and waits for them.
	OpFIFOBlock   = "fifo_block"
	OpFIFOUnblock = "fifo_unblock"
	// OpChurn creates and unlinks files as fast as it can for For: file
	// "f" in directories Path-0 ... Path-(Spread-1) in turn, each created
	// with O_EXCL, so that every open is one creation. It reports the
	// number created (Child.Churned).
	OpChurn = "churn"
)

// Raw carries s, a path or task name that may hold bytes that are not UTF-8,
// to the child exactly: the spec travels as JSON, which would replace such
// bytes with U+FFFD. Use it for ChildSpec.Dir, ChildSpec.Cgroup and Op.Path.
func Raw(s string) string { return rawPrefix + hex.EncodeToString([]byte(s)) }

const rawPrefix = "raw-hex:"

// unraw undoes Raw; other strings are returned as they are.
func unraw(s string) string {
	if h, ok := strings.CutPrefix(s, rawPrefix); ok {
		if b, err := hex.DecodeString(h); err == nil {
			return string(b)
		}
	}
	return s
}

// ChildSpec says what the child does and as whom.
type ChildSpec struct {
	Dir string `json:"dir"`
	Ops []Op   `json:"ops"`
	// UID and GID, when set, are taken (setgroups, setgid, setuid) after
	// the child entered Dir and before the first op.
	UID *uint32 `json:"uid,omitempty"`
	GID *uint32 `json:"gid,omitempty"`
	// Setresuid, when set, is (ruid, euid, suid) taken with setresuid(2)
	// after UID/GID, -1 keeping one: a root child with euid 65534 and real
	// uid 0 is what a setuid-nobody program looks like, and the reverse a
	// setuid-root one run by nobody.
	Setresuid []int `json:"setresuid,omitempty"`
	// Cgroup, when set, is a cgroup directory the child moves itself into
	// (by writing to its cgroup.procs) before anything else.
	Cgroup string `json:"cgroup,omitempty"`
}

// AsUser returns spec to be run as uid and gid.
func (s ChildSpec) AsUser(uid, gid uint32) ChildSpec {
	s.UID, s.GID = &uid, &gid
	return s
}

// MaybeRunChild runs the child when this process is one; call it first in
// TestMain. It never returns in a child.
func MaybeRunChild() {
	file := os.Getenv(childEnv)
	if file == "" {
		return
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: read spec:", err)
		os.Exit(2)
	}
	var spec ChildSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		fmt.Fprintln(os.Stderr, "child: bad spec:", err)
		os.Exit(2)
	}
	if err := runChild(&spec); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Child describes a finished child run.
type Child struct {
	PID int
	// Churned is how many files the OpChurn ops created.
	Churned int
	// Counts are the counts the ops reported (OpFDRace), by name.
	Counts map[string]int
}

// RunChild re-executes the test binary to perform spec and waits for it;
// it fails t when the child fails. Call it from the test's goroutine only
// (t.Fatal stops that goroutine); from others use RunChildErr.
func RunChild(t testing.TB, spec ChildSpec, opts ...ChildOption) Child {
	t.Helper()
	c, err := RunChildErr(spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RunChildErr is RunChild returning the failure, for goroutines other than
// the test's.
func RunChildErr(spec ChildSpec, opts ...ChildOption) (Child, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return Child{}, err
	}
	// The spec goes in a file: thousands of ops do not fit in the environment.
	f, err := os.CreateTemp("", "kernelevents-child-*.json")
	if err != nil {
		return Child{}, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return Child{}, err
	}
	f.Close()
	if err := os.Chmod(f.Name(), 0o644); err != nil { // children running as another user read it too
		return Child{}, err
	}
	cmd := exec.Command(Exe(), "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+f.Name())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err = start(cmd, opts)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return Child{}, fmt.Errorf("child failed: %w\n%s", err, out.String())
	}
	c := Child{PID: cmd.Process.Pid}
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, churnedPrefix); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return c, fmt.Errorf("child: bad line %q", line)
			}
			c.Churned += n
		}
		if v, ok := strings.CutPrefix(line, countPrefix); ok {
			key, num, _ := strings.Cut(v, " ")
			n, err := strconv.Atoi(num)
			if err != nil {
				return c, fmt.Errorf("child: bad line %q", line)
			}
			if c.Counts == nil {
				c.Counts = map[string]int{}
			}
			c.Counts[key] += n
		}
	}
	return c, nil
}

// churnedPrefix starts the line on which the child reports an OpChurn count.
const churnedPrefix = "kernelevents-child: churned "

// countPrefix starts a child's line reporting a count by key ("<key> <n>").
const countPrefix = "kernelevents-child: count "

// Exe returns the path of the running test binary, as the kernel reports it
// for children re-executing it.
func Exe() string {
	p, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return p
}
