// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// creationsByResource sums kernel.file.creations in the newest batch by
// resource, keyed "k=v,k=v" with keys sorted.
func creationsByResource(sink *consumertest.MetricsSink) map[string]int64 {
	all := sink.AllMetrics()
	out := map[string]int64{}
	if len(all) == 0 {
		return out
	}
	rms := all[len(all)-1].ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		var kv []string
		for k, v := range rms.At(i).Resource().Attributes().All() {
			kv = append(kv, k+"="+v.AsString())
		}
		sort.Strings(kv)
		key := strings.Join(kv, ",")
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Name() != "kernel.file.creations" {
					continue
				}
				dps := ms.At(k).Sum().DataPoints()
				for l := 0; l < dps.Len(); l++ {
					out[key] += dps.At(l).IntValue()
				}
			}
		}
	}
	return out
}

func waitTotal(t *testing.T, sink *consumertest.MetricsSink, want int64) map[string]int64 {
	t.Helper()
	var got map[string]int64
	require.Eventually(t, func() bool {
		got = creationsByResource(sink)
		var total int64
		for _, v := range got {
			total += v
		}
		return total == want
	}, 20*time.Second, 50*time.Millisecond, "creations never reached %d: %v", want, got)
	return got
}

const (
	testPodUID = "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"
	cidA       = "aaaa5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
	cidB       = "bbbb5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
)

// TestIdentityOnResource puts children in real cgroups named like a
// containerd (Kubernetes) and a docker container, and one as another user:
// the container id, pod uid and matching rule attributes arrive on the
// resource; the unmatched one gets the unmatched value.
func TestIdentityOnResource(t *testing.T) {
	dir := testutil.TempDir(t)
	require.NoError(t, os.Chmod(dir, 0o777))
	cgA, pathA := testutil.MakeRuntimeCgroup(t, "kubepods/besteffort/pod"+testPodUID+"/cri-containerd-"+cidA+".scope")
	cgB, pathB := testutil.MakeRuntimeCgroup(t, "docker/"+cidB)

	cfg := testConfig(dir)
	cfg.Identity.Rules = []identity.Rule{
		{Name: "payments", Match: identity.Match{ContainerID: cidA[:12] + "*"}, Attributes: map[string]string{"team": "payments", "spiffe.id": "spiffe://example.org/payments"}},
		{Name: "nobody-tests", Match: identity.Match{UID: ptr(uint32(65534)), Executable: testutil.Exe()}, Attributes: map[string]string{"service.account": "nobody-sa"}},
	}
	sink, stop := startReceiver(t, cfg)

	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Cgroup: cgA, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "a1"}, {Kind: testutil.OpOpenat, Path: "a2"}}})
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Cgroup: cgB, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "b1"}}})
	// The executable is read from /proc/<pid>/exe: this child stays alive
	// until its sample has been counted. The two above exit at once and
	// are still attributed through the cgroup id the kernel sample carries.
	nobody := testutil.StartHeld(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "c1"}}}.AsUser(65534, 65534))
	waitTotal(t, sink, 4)
	nobody.Release(t)
	stop()

	got := creationsByResource(sink)
	want := map[string]int64{
		"container.id=" + cidA + ",k8s.pod.uid=" + testPodUID + ",kernelevents.cgroup.path=" + pathA + ",kernelevents.identity.rule=payments,spiffe.id=spiffe://example.org/payments,team=payments": 2,
		"container.id=" + cidB + ",kernelevents.cgroup.path=" + pathB + ",kernelevents.identity.rule=unmatched":                                                                                     1,
		"kernelevents.identity.rule=nobody-tests,service.account=nobody-sa":                                                                                                                         1,
	}
	assert.Equal(t, want, got)
}

func ptr[T any](v T) *T { return &v }

func TestIdentityConfigErrorsNameRule(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Identity.Rules = []identity.Rule{
		{Match: identity.Match{Comm: "ok"}, Attributes: map[string]string{"team": "x"}},
		{Match: identity.Match{Executable: "relative/path"}, Attributes: map[string]string{"team": "x"}},
	}
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "identity::rules[1]::match::executable:")
}

// startProcess starts argv and stops it (by its pid) at cleanup.
func startProcess(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// TestIdentityExecutableAtCreation: `sh -c ': > x; exec /usr/bin/sleep'`
// created x as the shell, whatever /proc/<pid>/exe says by the time it is
// looked up: it is not credited to a rule on /usr/bin/sleep. A shell that
// is still the shell when looked up is credited to the shell's rule, and
// then so is the first (its executable known by device and inode).
func TestIdentityExecutableAtCreation(t *testing.T) {
	dir := testutil.TempDir(t)
	shell, err := filepath.EvalSymlinks("/bin/sh")
	require.NoError(t, err)
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	sleep, err = filepath.EvalSymlinks(sleep)
	require.NoError(t, err)
	cfg := testConfig(dir)
	cfg.Identity.Rules = []identity.Rule{
		{Name: "trusted", Match: identity.Match{Executable: sleep}, Attributes: map[string]string{"trusted": "yes"}},
		{Name: "shell", Match: identity.Match{Executable: shell}, Attributes: map[string]string{"trusted": "no"}},
	}
	sink, stop := startReceiver(t, cfg)

	// The shell stays the shell (it waits for its child).
	startProcess(t, exec.Command("/bin/sh", "-c", ": > "+filepath.Join(dir, "by-shell")+"; "+sleep+" 60; true"))
	assert.Equal(t, map[string]int64{"kernelevents.identity.rule=shell,trusted=no": 1}, waitTotal(t, sink, 1))
	// The shell becomes sleep right after creating the file.
	startProcess(t, exec.Command("/bin/sh", "-c", ": > "+filepath.Join(dir, "then-exec")+"; exec "+sleep+" 60"))
	got := waitTotal(t, sink, 2)
	stop()
	assert.Equal(t, map[string]int64{"kernelevents.identity.rule=shell,trusted=no": 2}, got)
}

// TestIdentityEffectiveUID: a process with real uid 0 and effective uid
// 65534 (a setuid-nobody program run by root) creates files as nobody:
// process.user.id and uid rules say 65534.
func TestIdentityEffectiveUID(t *testing.T) {
	dir := testutil.TempDir(t)
	require.NoError(t, os.Chmod(dir, 0o777))
	cfg := testConfig(dir)
	cfg.Metrics.KernelFileCreations.EnabledAttributes = append(cfg.Metrics.KernelFileCreations.EnabledAttributes,
		metadata.KernelFileCreationsMetricAttributeKeyProcessPid)
	cfg.Identity.Rules = []identity.Rule{{Name: "nobody", Match: identity.Match{UID: ptr(uint32(65534))}, Attributes: map[string]string{"team": "nobody"}}}
	sink, stop := startReceiver(t, cfg)
	child := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Setresuid: []int{-1, 65534, -1}, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "x"}}})
	assert.Equal(t, map[string]int64{"kernelevents.identity.rule=nobody,team=nobody": 1}, waitTotal(t, sink, 1))
	stop()
	var uids []any
	for _, p := range lastBatch(sink)["kernel.file.creations"] {
		if p.attrs["process.pid"] == int64(child.PID) {
			uids = append(uids, p.attrs["process.user.id"])
		}
	}
	assert.Equal(t, []any{int64(65534)}, uids)
}

// TestIdentityUserNotFromCreatorsRoot: a process in another root filesystem
// (a chroot, a container's image) is not named by that root's /etc/passwd,
// which its creator chose: uid 4242 is "imageuser" only there, and a `user:
// imageuser` rule does not match it (the node names no uid 4242).
func TestIdentityUserNotFromCreatorsRoot(t *testing.T) {
	testutil.RequireRoot(t)
	root := testutil.TempDir(t)
	require.NoError(t, os.Chmod(root, 0o755))
	for _, d := range []string{"bin", "etc", "work"} {
		require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	require.NoError(t, os.Chmod(filepath.Join(root, "work"), 0o777))
	bb, err := os.ReadFile("/bin/busybox")
	require.NoError(t, err, "busybox-static")
	require.NoError(t, os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0::/:/bin/sh\nimageuser:x:4242:4242::/:/bin/sh\n"), 0o644))
	if b, err := os.ReadFile("/etc/passwd"); err == nil {
		require.NotContains(t, string(b), ":4242:", "this test needs uid 4242 unnamed on the host")
	}
	// Inside its root the process creates /work/x: on the node, and so for
	// the filter, <root>/work/x.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "work"), 0o777))
	marker := filepath.Join(root, "work") + "/"
	cfg := testConfig(root)
	cfg.Filter.PathPrefixes = []string{marker}
	cfg.Identity.Rules = []identity.Rule{{Name: "image-user", Match: identity.Match{User: "imageuser"}, Attributes: map[string]string{"team": "image"}}}
	sink, stop := startReceiver(t, cfg)
	cmd := exec.Command("/bin/busybox", "sh", "-c", ": > /work/x; exec /bin/busybox sleep 60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 4242, Gid: 4242}}
	cmd.Dir = "/"
	startProcess(t, cmd)
	got := waitTotal(t, sink, 1)
	stop()
	assert.Equal(t, map[string]int64{"kernelevents.identity.rule=unmatched": 1}, got)
}

// TestIdentityKubeletLayouts: pods in real cgroups named as the kubelet's
// cgroupfs and systemd drivers name them carry their pod uid and container
// id; a cgroup with a container's name inside a subtree anyone could be
// delegated (here a test-owned one) carries neither.
func TestIdentityKubeletLayouts(t *testing.T) {
	dir := testutil.TempDir(t)
	const (
		podFS = "1f6c2f2e-1b2c-4d5e-8f90-123456789abc"
		podSD = "2f6c2f2e-1b2c-4d5e-8f90-123456789abc"
		cidC  = "cccc5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
		cidD  = "dddd5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
		cidE  = "eeee5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
	)
	cgFS, pathFS := testutil.MakeRuntimeCgroup(t, "kubepods/burstable/pod"+podFS+"/"+cidC)
	sdPod := strings.ReplaceAll(podSD, "-", "_")
	cgSD, pathSD := testutil.MakeRuntimeCgroup(t, "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"+sdPod+".slice/cri-containerd-"+cidD+".scope")
	cgSpoof, pathSpoof := testutil.MakeCgroup(t, "kubepods/burstable/pod"+podFS+"/docker-"+cidE+".scope")
	cfg := testConfig(dir)
	cfg.Identity.UnmatchedAttributes = map[string]string{}
	sink, stop := startReceiver(t, cfg)
	for i, cg := range []string{cgFS, cgSD, cgSpoof} {
		testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Cgroup: cg, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: fmt.Sprint("f", i)}}})
	}
	got := waitTotal(t, sink, 3)
	stop()
	assert.Equal(t, map[string]int64{
		"container.id=" + cidC + ",k8s.pod.uid=" + podFS + ",kernelevents.cgroup.path=" + pathFS: 1,
		"container.id=" + cidD + ",k8s.pod.uid=" + podSD + ",kernelevents.cgroup.path=" + pathSD: 1,
		"kernelevents.cgroup.path=" + pathSpoof:                                                  1,
	}, got)
}

// TestIdentityInPrivateCgroupNamespace runs the receiver as a DaemonSet pod
// sees the node: in a cgroup namespace of its own, rooted at its own cgroup,
// where other processes' /proc/<pid>/cgroup read "/../../docker/<id>". The
// cgroup path is still the node's, resolved by id on the node's hierarchy.
func TestIdentityInPrivateCgroupNamespace(t *testing.T) {
	const cidF = "ffff5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
	if _, inside := testutil.RerunMode(t); !inside {
		testutil.RequireRoot(t)
		cg, _ := testutil.MakeCgroup(t, "collector")
		fd, err := syscall.Open(cg, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		require.NoError(t, err)
		defer syscall.Close(fd)
		// Started in cg, then a cgroup namespace of its own, rooted there.
		if _, skipped := testutil.Rerun(t, "cgroupns", testutil.WithCmd(func(cmd *exec.Cmd) {
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd, Unshareflags: syscall.CLONE_NEWCGROUP}
		})); skipped {
			testutil.SkipUnlessStrict(t, "the test skipped in its cgroup namespace (its output is above)")
		}
		return
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	require.Contains(t, string(self), "0::/\n", "not in a cgroup namespace of its own")
	dir := testutil.TempDir(t)
	cg, path := testutil.MakeRuntimeCgroup(t, "docker/"+cidF)
	cfg := testConfig(dir)
	cfg.Identity.UnmatchedAttributes = map[string]string{}
	sink, stop := startReceiver(t, cfg)
	// Alive at its lookup: its /proc/<pid>/cgroup is there to be misread.
	child := testutil.StartHeld(t, testutil.ChildSpec{Dir: dir, Cgroup: cg, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "f"}}})
	got := waitTotal(t, sink, 1)
	child.Release(t)
	stop()
	assert.Equal(t, map[string]int64{"container.id=" + cidF + ",kernelevents.cgroup.path=" + path: 1}, got)
}
