// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"bytes"
	"fmt"
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

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// containerCLI runs a container runtime's command line (podman, or docker
// against a private dockerd) with the flags that work on this hybrid-cgroup
// host (/work/shared/TOOLCHAIN.md: runc, the cgroupfs manager, ulimits, no
// network) and a private store, so the tests neither need nor touch the
// host's images and containers.
type containerCLI struct {
	t    *testing.T
	bin  string
	args []string
}

// installRuntime runs testdata/install-runtimes.sh for which ("podman",
// "docker") when bin is missing.
func installRuntime(t *testing.T, which, bin string) {
	t.Helper()
	testutil.RequireRoot(t)
	if _, err := exec.LookPath(bin); err == nil {
		return
	}
	out, err := exec.Command("sh", filepath.Join("..", "..", "testdata", "install-runtimes.sh"), which).CombinedOutput()
	if err != nil {
		testutil.SkipUnlessStrict(t, "%s is missing and testdata/install-runtimes.sh %s failed: %v: %s", bin, which, err, out)
	}
}

// newPodman returns podman with a private store using driver (vfs copies
// image files; overlay, podman's default, serves them through overlayfs).
func newPodman(t *testing.T, driver string) *containerCLI {
	t.Helper()
	installRuntime(t, "podman", "podman")
	// A short path: overlay refuses a runroot longer than 50 characters.
	store := testutil.TempDir(t)
	c := &containerCLI{t: t, bin: "podman", args: []string{
		"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
		"--storage-driver", driver, "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
	}}
	t.Cleanup(func() {
		c.quiet("system", "reset", "--force") // unmounts what the store mounted, before TempDir removes it
	})
	return c
}

// newDocker starts a private dockerd (its own data, exec root and socket;
// the cgroupfs driver: this host's PID 1 is not systemd) and stops it, by
// its pid, at cleanup. It runs in a mount namespace of its own (private
// propagation): the mounts it and its containers make (shm, netns, the
// store) go with it, even when a test fails half-way or dockerd has to be
// killed; the cleanup checks that none is left on the host.
func newDocker(t *testing.T) *containerCLI {
	t.Helper()
	installRuntime(t, "docker", "/usr/sbin/dockerd")
	dir := testutil.TempDir(t) // removed after the cleanup below stops dockerd
	sock := filepath.Join(dir, "docker.sock")
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	require.NoError(t, err)
	d := exec.Command("/usr/sbin/dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none",
		"--exec-opt", "native.cgroupdriver=cgroupfs", "--storage-driver", "vfs",
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "-H", "unix://"+sock)
	d.Stdout, d.Stderr = log, log
	// (Go makes / private, recursively, in the new namespace before exec.)
	d.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	require.NoError(t, d.Start())
	exited := make(chan struct{})
	go func() { d.Wait(); close(exited) }()
	t.Cleanup(func() {
		d.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			d.Process.Kill()
			<-exited
		}
		log.Close()
		// A dockerd that died (or was killed) leaves its containers'
		// shims and their processes running: stop them, by pid.
		if left := shimsOf(dir); len(left) > 0 {
			t.Logf("dockerd left %d processes of its containers; killing them", len(left))
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if m := mountsUnder(t, dir); len(m) > 0 {
			t.Errorf("dockerd left mounts on the host under %s: %v", dir, m)
		}
	})
	c := &containerCLI{t: t, bin: "/usr/bin/docker", args: []string{"-H", "unix://" + sock}}
	died := false
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			died = true // reported below: t.Fatal belongs to the test's goroutine
			return true
		default:
		}
		return exec.Command(c.bin, append(c.args, "info")...).Run() == nil
	}, 60*time.Second, 100*time.Millisecond, "dockerd did not answer on %s", sock)
	if died {
		b, _ := os.ReadFile(log.Name())
		t.Fatalf("dockerd exited: %s", b)
	}
	return c
}

// shimsOf lists the containerd shims serving the private dockerd in dir
// and every process below them (the containers).
func shimsOf(dir string) []int {
	marker := []byte(filepath.Join(dir, "exec") + "/")
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil &&
			bytes.Contains(cmd, []byte("containerd-shim")) && bytes.Contains(cmd, marker) {
			pids = append(pids, pid)
		}
	}
	for i := 0; i < len(pids); i++ { // descendants, breadth first
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pids[i]))
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					pids = append(pids, c)
				}
			}
		}
	}
	return pids
}

// mountsUnder lists this mount namespace's mount points at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	var under []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if mp := f[4]; mp == dir || strings.HasPrefix(mp, dir+"/") {
			under = append(under, mp)
		}
	}
	return under
}

func (c *containerCLI) run(args ...string) string {
	c.t.Helper()
	out, err := exec.Command(c.bin, append(append([]string(nil), c.args...), args...)...).CombinedOutput()
	require.NoError(c.t, err, "%s %s: %s", c.bin, strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// quiet runs a clean-up command whose failure (nothing left to remove) is
// no error.
func (c *containerCLI) quiet(args ...string) {
	_ = exec.Command(c.bin, append(append([]string(nil), c.args...), args...)...).Run()
}

// image builds an image with no registry: a static busybox as the whole
// root filesystem, imported from a tar.
func (c *containerCLI) image() string {
	c.t.Helper()
	rootfs := testutil.TempDir(c.t)
	require.NoError(c.t, os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755))
	bb, err := os.ReadFile("/bin/busybox")
	require.NoError(c.t, err, "busybox-static")
	require.NoError(c.t, os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755))
	require.NoError(c.t, os.Symlink("busybox", filepath.Join(rootfs, "bin", "sh")))
	tar := filepath.Join(testutil.TempDir(c.t), "rootfs.tar")
	out, err := exec.Command("tar", "-C", rootfs, "-cf", tar, ".").CombinedOutput()
	require.NoError(c.t, err, "tar: %s", out)
	const name = "localhost/kernelevents-test:busybox"
	c.run("import", tar, name)
	c.t.Cleanup(func() { c.quiet("rmi", "-f", name) })
	return name
}

// containerIDs runs real containers that create files: one that exits at
// once (named through its cgroup id after it is gone) and one that stays.
// Their series carry exactly the ids the runtime's inspect reports, and the
// cgroup path its runc made (cgroupParent/<prefix><id>).
func containerIDs(t *testing.T, c *containerCLI, cgroup func(id string) string) {
	img := c.image()
	out := testutil.TempDir(t)
	require.NoError(t, os.Chmod(out, 0o777))
	// Inside the container the directory is /kernelevents-out; the filter
	// is on the node's path of the files, out (the creator's view never
	// decides what is filtered).
	const inside = "/kernelevents-out"
	cfg := testConfig(out)
	cfg.Filter.PathPrefixes = []string{out + "/"}
	cfg.Identity.UnmatchedAttributes = map[string]string{}
	// The executable inside the container, by where it is on the node:
	// under the runtime's storage (the image's /bin/busybox below the
	// container's root filesystem there), checked by device and inode.
	cfg.Identity.Rules = []identity.Rule{{Name: "busybox", Match: identity.Match{Executable: "/**/bin/busybox", ContainerID: "*"}, Attributes: map[string]string{"image": "busybox"}}}
	sink, stop := startReceiver(t, cfg)

	start := func(name, script string) string {
		c.run("run", "-d", "--name", name, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "none",
			"-v", out+":"+inside, img, "/bin/sh", "-c", script)
		t.Cleanup(func() { c.quiet("rm", "-f", name) })
		return c.run("inspect", "--format", "{{.Id}}", name)
	}
	short := start("kernelevents-short", ": > "+inside+"/short")
	long := start("kernelevents-long", ": > "+inside+"/long1; : > "+inside+"/long2; exec /bin/busybox sleep 60")
	got := waitTotal(t, sink, 3)
	stop()
	require.Len(t, short, 64)
	require.Len(t, long, 64)
	// The long-running one was looked up alive: its executable is known.
	assert.Equal(t, int64(2), got["container.id="+long+",image=busybox,kernelevents.cgroup.path="+cgroup(long)+",kernelevents.identity.rule=busybox"], "%v", got)
	// The short one may have exited before its lookup: then only its
	// cgroup (by id) names it.
	shortKey := "container.id=" + short + ",kernelevents.cgroup.path=" + cgroup(short)
	if got[shortKey] == 0 {
		shortKey = "container.id=" + short + ",image=busybox,kernelevents.cgroup.path=" + cgroup(short) + ",kernelevents.identity.rule=busybox"
	}
	assert.Equal(t, int64(1), got[shortKey], "%v", got)
	assert.Len(t, got, 2)
}

// TestPodmanContainerID: podman (runc, cgroupfs manager) names its
// containers' cgroups /libpod_parent/libpod-<id>. With both storage
// drivers: through overlayfs the executable's device and inode, as the
// kernel sample carries them, are those stat(2) reports too.
func TestPodmanContainerID(t *testing.T) {
	for _, driver := range []string{"vfs", "overlay"} {
		t.Run(driver, func(t *testing.T) {
			containerIDs(t, newPodman(t, driver), func(id string) string { return "/libpod_parent/libpod-" + id })
		})
	}
}

// TestDockerContainerID: dockerd with the cgroupfs driver names its
// containers' cgroups /docker/<id>. (The systemd driver needs systemd as
// PID 1, which this host does not run; its layout,
// /system.slice/docker-<id>.scope, is covered by TestParseCgroupPath.)
func TestDockerContainerID(t *testing.T) {
	containerIDs(t, newDocker(t), func(id string) string { return "/docker/" + id })
}
