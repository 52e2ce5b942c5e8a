// SPDX-License-Identifier: Apache-2.0

//go:build linux

package identity

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// The creator's own view of the world must not choose who it is: these
// tests run an unprivileged attacker (uid 65534, root of its own user
// namespace, with a private mount namespace: unshare -Urm) against the real
// /proc of this kernel.

const attackerUID = 65534

// inUserNS starts sh -c script as uid 65534 in a new user and mount
// namespace in which it is root, killed at the end of the test, and returns
// its pid once ready says the script got where it should.
func inUserNS(t *testing.T, script string, ready func(pid int) bool) int {
	t.Helper()
	testutil.RequireRoot(t)
	cmd := exec.Command("/bin/sh", "-c", script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: attackerUID, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: attackerUID, Size: 1}},
		Credential:  &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
		Pdeathsig:   syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		testutil.SkipUnlessStrict(t, "start a process in a new user namespace: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for !ready(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the process in a user namespace never got ready: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return pid
}

// startNs is the process's start time as the kernel sample carries it
// (CLOCK_BOOTTIME ns; /proc keeps clock ticks).
func startNs(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	n, err := strconv.ParseUint(f[19], 10, 64)
	require.NoError(t, err)
	return n * (1e9 / userHZ)
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}

func ruleOf(t *testing.T, name string, m Match) *Rules {
	t.Helper()
	rules, err := CompileRules("rules", []Rule{{Name: name, Match: m, Attributes: map[string]string{"team": name}}})
	require.NoError(t, err)
	return rules
}

func ruleNamed(r *Resolver, id uint32) string {
	for _, kv := range r.Workload(id).Attrs {
		if kv.Key == RuleAttribute {
			return kv.Value
		}
	}
	return ""
}

// A program bind-mounted over a trusted program's path in a private mount
// namespace, then run under that path: /proc/<pid>/exe reads the trusted
// path and is the sample's file (device and inode), but on the node the
// program is where it really is. The `executable` rule must not match.
func TestExecutableIsTheNodePathNotTheCreatorsView(t *testing.T) {
	dir := testutil.TempDir(t)
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	trusted, evil := filepath.Join(dir, "trusted"), filepath.Join(dir, "evil")
	copyFile(t, sleep, trusted, 0o755)
	copyFile(t, sleep, evil, 0o755)
	evilDev, evilIno := statExe(t, evil)
	trustedDev, trustedIno := statExe(t, trusted)

	pid := inUserNS(t, "mount --bind "+evil+" "+trusted+" && exec "+trusted+" 3600", func(pid int) bool {
		l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		return l == trusted
	})
	// The evasion as the creator sees it: its exe reads the trusted path
	// and is the evil file.
	d, i := statExe(t, "/proc/"+strconv.Itoa(pid)+"/exe")
	require.Equal(t, [2]uint64{evilDev, evilIno}, [2]uint64{d, i})

	r := NewResolver(Options{Rules: ruleOf(t, "trusted", Match{Executable: trusted}), CgroupRoot: "none", HostRoot: "/"})
	defer r.Close()
	e := &event.Event{TGID: uint32(pid), StartNs: startNs(t, pid), EUID: attackerUID, EGID: attackerUID, ExeDev: evilDev, ExeIno: evilIno, Comm: []byte("trusted")}
	id, f := resolveNow(r, e)
	assert.Equal(t, evil, f.Executable, "the program is named where it is on the node")
	assert.Empty(t, ruleNamed(r, id), "the executable rule on the trusted path must not match the evil program")

	// The control: the trusted program run as it is is named and matched.
	honest := inUserNS(t, "exec "+trusted+" 3600", func(pid int) bool {
		l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		return l == trusted
	})
	id, f = resolveNow(r, &event.Event{TGID: uint32(honest), StartNs: startNs(t, honest), EUID: attackerUID, EGID: attackerUID, ExeDev: trustedDev, ExeIno: trustedIno, Comm: []byte("trusted")})
	assert.Equal(t, trusted, f.Executable)
	assert.Equal(t, "trusted", ruleNamed(r, id))
}

// A private /etc/passwd in the creator's mount namespace that calls its uid
// root: the user name is the node's (uid 65534's on this node), and a
// `user: root` rule does not match.
func TestUserNameIsTheNodesNotTheCreatorsPasswd(t *testing.T) {
	dir := testutil.TempDir(t)
	fake := filepath.Join(dir, "passwd")
	require.NoError(t, os.WriteFile(fake, []byte("root:x:65534:65534:root:/root:/bin/sh\n"), 0o644))
	nodePasswd, err := os.ReadFile("/etc/passwd")
	require.NoError(t, err)
	nodeName := parsePasswd(bytes.NewReader(nodePasswd))[attackerUID]
	require.NotEqual(t, "root", nodeName)

	pid := inUserNS(t, "mount --bind "+fake+" /etc/passwd && exec sleep 3600", func(pid int) bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/root/etc/passwd")
		c, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return strings.HasPrefix(string(b), "root:x:65534:") && string(c) == "sleep\n"
	})

	r := NewResolver(Options{Rules: ruleOf(t, "root", Match{User: "root"}), CgroupRoot: "none", HostRoot: "/"})
	defer r.Close()
	id, f := resolveNow(r, &event.Event{TGID: uint32(pid), StartNs: startNs(t, pid), EUID: attackerUID, EGID: attackerUID, RUID: attackerUID, Comm: []byte("sleep")})
	assert.Equal(t, nodeName, f.User, "uid 65534 is named by the node's /etc/passwd")
	assert.Empty(t, ruleNamed(r, id), "a user: root rule must not match uid 65534")
}
