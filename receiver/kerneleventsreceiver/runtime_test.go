// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// podman runs podman with the flags that work on a hybrid-cgroup host (runc,
// the cgroupfs manager; /work/shared/TOOLCHAIN.md) and a private store, so
// the test neither needs nor touches the host's images and containers.
type podman struct {
	t    *testing.T
	args []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("podman"); err != nil {
		// The runtimes come from Debian: testdata/install-runtimes.sh.
		out, err := exec.Command("sh", filepath.Join("..", "..", "testdata", "install-runtimes.sh")).CombinedOutput()
		if err != nil {
			testutil.SkipUnlessStrict(t, "podman is missing and testdata/install-runtimes.sh failed: %v: %s", err, out)
		}
	}
	store := t.TempDir()
	return &podman{t: t, args: []string{
		"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
		"--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
	}}
}

func (p *podman) run(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("podman", append(append([]string(nil), p.args...), args...)...).CombinedOutput()
	require.NoError(p.t, err, "podman %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// image builds an image with no registry: a static busybox as the whole
// root filesystem, imported from a tar.
func (p *podman) image() string {
	p.t.Helper()
	rootfs := p.t.TempDir()
	require.NoError(p.t, os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755))
	bb, err := os.ReadFile("/bin/busybox")
	require.NoError(p.t, err, "busybox-static")
	require.NoError(p.t, os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755))
	require.NoError(p.t, os.Symlink("busybox", filepath.Join(rootfs, "bin", "sh")))
	tar := filepath.Join(p.t.TempDir(), "rootfs.tar")
	out, err := exec.Command("tar", "-C", rootfs, "-cf", tar, ".").CombinedOutput()
	require.NoError(p.t, err, "tar: %s", out)
	const name = "localhost/kernelevents-test:busybox"
	p.run("import", tar, name)
	p.t.Cleanup(func() { exec.Command("podman", append(append([]string(nil), p.args...), "rmi", "-f", name)...).Run() })
	return name
}

// TestPodmanContainerID runs real podman containers that create files: one
// that exits at once (named through its cgroup id after it is gone) and one
// that stays. Their series carry exactly the ids podman inspect reports, and
// the cgroup path runc made.
func TestPodmanContainerID(t *testing.T) {
	p := newPodman(t)
	img := p.image()
	out := tempDir(t)
	require.NoError(t, os.Chmod(out, 0o777))
	// Inside the container the directory is /kernelevents-out: the path the
	// kernel reports (up to the task's root).
	const inside = "/kernelevents-out"
	cfg := testConfig(out)
	cfg.Filter.PathPrefixes = []string{inside + "/"}
	cfg.Identity.UnmatchedAttributes = map[string]string{}
	// The executable inside the container, by its path there, checked by
	// device and inode through the container's storage.
	cfg.Identity.Rules = []identity.Rule{{Name: "busybox", Match: identity.Match{Executable: "/bin/busybox", Cgroup: "/libpod_parent/**"}, Attributes: map[string]string{"image": "busybox"}}}
	sink, stop := startReceiver(t, cfg)

	start := func(name, script string) string {
		p.run("run", "-d", "--name", name, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "none",
			"-v", out+":"+inside, img, "/bin/sh", "-c", script)
		t.Cleanup(func() {
			exec.Command("podman", append(append([]string(nil), p.args...), "rm", "-f", "-t", "0", name)...).Run()
		})
		return p.run("inspect", "--format", "{{.Id}}", name)
	}
	short := start("kernelevents-short", ": > "+inside+"/short")
	long := start("kernelevents-long", ": > "+inside+"/long1; : > "+inside+"/long2; exec /bin/busybox sleep 60")
	got := waitTotal(t, sink, 3)
	stop()
	require.Len(t, short, 64)
	require.Len(t, long, 64)
	// The long-running one was looked up alive: its executable is known.
	assert.Equal(t, int64(2), got["container.id="+long+",image=busybox,kernelevents.cgroup.path=/libpod_parent/libpod-"+long+",kernelevents.identity.rule=busybox"], "%v", got)
	// The short one may have exited before its lookup: then only its
	// cgroup (by id) names it.
	shortKey := "container.id=" + short + ",kernelevents.cgroup.path=/libpod_parent/libpod-" + short
	if got[shortKey] == 0 {
		shortKey = "container.id=" + short + ",image=busybox,kernelevents.cgroup.path=/libpod_parent/libpod-" + short + ",kernelevents.identity.rule=busybox"
	}
	assert.Equal(t, int64(1), got[shortKey], "%v", got)
	assert.Len(t, got, 2)
}
