// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

const cid = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"

func TestParseCgroupPath(t *testing.T) {
	tests := []struct{ path, container, pod string }{
		{"/docker/" + cid, cid, ""},
		{"/system.slice/docker-" + cid + ".scope", cid, ""},
		{"/kubepods/besteffort/pod0f6c2f2e-1b2c-4d5e-8f90-123456789abc/" + cid, cid, "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f6c2f2e_1b2c_4d5e_8f90_123456789abc.slice/cri-containerd-" + cid + ".scope", cid, "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"},
		{"/kubepods.slice/kubepods-pod0f6c2f2e_1b2c_4d5e_8f90_123456789abc.slice/crio-" + cid + ".scope", cid, "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"},
		{"/kubepods.slice/kubepods-pod0f6c2f2e_1b2c_4d5e_8f90_123456789abc.slice/crio-conmon-" + cid + ".scope", "", "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"},
		{"/machine.slice/libpod-" + cid + ".scope", cid, ""},
		{"/libpod_parent/libpod-" + cid, cid, ""},
		{"/user.slice/user-1000.slice/session-2.scope", "", ""},
		{"/", "", ""},
		{"/docker/" + cid[:60], "", ""},
		// cgroupfs kubelet, guaranteed QoS (no QoS level), cri-o
		{"/kubepods/pod0f6c2f2e-1b2c-4d5e-8f90-123456789abc/crio-" + cid, cid, "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"},
		// systemd kubelet, guaranteed QoS, containerd
		{"/kubepods.slice/kubepods-pod0f6c2f2e_1b2c_4d5e_8f90_123456789abc.slice/cri-containerd-" + cid + ".scope", cid, "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"},
		// the pod's own cgroup (pause, pod-level accounting): a pod, no container
		{"/kubepods/burstable/pod0f6c2f2e-1b2c-4d5e-8f90-123456789abc", "", "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"},
		// a container's own nested cgroups keep its id
		{"/docker/" + cid + "/init", cid, ""},
		{"/system.slice/docker-" + cid + ".scope/sub", cid, ""},
		// Names a delegated subtree's owner can make are not container ids.
		{"/user.slice/user-1000.slice/user@1000.service/docker-" + cid + ".scope", "", ""},
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/docker/" + cid, "", ""},
		{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + cid + ".scope", "", ""},
		{"/system.slice/app.service/docker-" + cid + ".scope", "", ""},
		{"/docker/" + cid + "/docker-" + strings.Repeat("b", 64) + ".scope", cid, ""},
		{"/kubepods/besteffort/pod0f6c2f2e-1b2c-4d5e-8f90-123456789abc/" + cid + "/docker/" + strings.Repeat("b", 64), cid, "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"},
		{"/user.slice/kubepods/besteffort/pod0f6c2f2e-1b2c-4d5e-8f90-123456789abc/" + cid, "", ""},
		{"/x/pod0f6c2f2e-1b2c-4d5e-8f90-123456789abc", "", ""},
		// malformed
		{"/docker/" + strings.ToUpper(cid), "", ""},
		{"/kubepods.slice/kubepods-pod0f6c2f2e-1b2c-4d5e-8f90-123456789abc.slice/" + cid, "", ""},
		{"/kubepods/pod0f6c2f2e_1b2c_4d5e_8f90_123456789abc/" + cid, "", ""},
		{"/system.slice/docker-" + cid, "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		c, p := ParseCgroupPath(tt.path)
		assert.Equal(t, tt.container, c, tt.path)
		assert.Equal(t, tt.pod, p, tt.path)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"/usr/sbin/nginx", "/usr/sbin/nginx", true},
		{"/usr/*/nginx", "/usr/sbin/nginx", true},
		{"/usr/*", "/usr/sbin/nginx", false},
		{"/usr/**", "/usr/sbin/nginx", true},
		{"**/nginx", "/usr/sbin/nginx", true},
		{"/kubepods/**/cri-containerd-*.scope", "/kubepods/a/b/cri-containerd-x.scope", true},
		{"/usr/bin/python3.?", "/usr/bin/python3.11", false},
		{"/usr/bin/python3.??", "/usr/bin/python3.11", true},
		{"*", "", true},
		{"a", "ab", false},
		// "*" and "?" never cross "/": a deeper path does not pass for a
		// shallower one.
		{"/usr/*/nginx", "/usr/local/sbin/nginx", false},
		{"/usr/bin/?", "/usr/bin//", false},
		{"/opt/**", "/opt", false},
		// Alternation and classes.
		{"/usr/{sbin,bin}/nginx", "/usr/bin/nginx", true},
		{"/usr/{sbin,bin}/nginx", "/usr/lib/nginx", false},
		{"/system.slice/{docker,containerd}.service", "/system.slice/containerd.service", true},
		{"/usr/bin/python3.[0-9]", "/usr/bin/python3.9", true},
		{"/usr/bin/python3.[!0-9]", "/usr/bin/python3.9", false},
		{`/odd/\*`, "/odd/*", true},
		{`/odd/\*`, "/odd/x", false},
	}
	for _, tt := range tests {
		g, err := CompileGlob(tt.pattern)
		require.NoError(t, err)
		assert.Equal(t, tt.want, g.Match(tt.s), "%q ~ %q", tt.pattern, tt.s)
	}
	for _, bad := range []string{"", "/a/***", "/usr/[a-", "/usr/{a,b", "/usr/a,b}", "/usr/{a,{b}"} {
		_, err := CompileGlob(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func u32(v uint32) *uint32 { return &v }

func TestCompileRulesNamesIndexAndKey(t *testing.T) {
	_, err := CompileRules("identity::rules", []Rule{
		{Match: Match{UID: u32(0)}, Attributes: map[string]string{"team": "ops"}},
		{Match: Match{}, Attributes: map[string]string{"team": "x"}},
		{Match: Match{Executable: "nginx"}, Attributes: map[string]string{"team": "x"}},
		{Match: Match{Comm: "a-name-longer-than-15"}, Attributes: map[string]string{"team": "x"}},
		{Match: Match{UID: u32(1)}},
	})
	require.Error(t, err)
	for _, want := range []string{
		"identity::rules[1]::match:", "identity::rules[2]::match::executable:",
		"identity::rules[3]::match::comm:", "identity::rules[4]::attributes:",
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "identity::rules[0]")
}

func TestFirstMatchWins(t *testing.T) {
	rules, err := CompileRules("r", []Rule{
		{Name: "web", Match: Match{Executable: "/usr/sbin/nginx", UID: u32(33)}, Attributes: map[string]string{"spiffe.id": "spiffe://example.org/web"}},
		{Name: "any-33", Match: Match{UID: u32(33)}, Attributes: map[string]string{"team": "web-ops"}},
		{Name: "payments", Match: Match{ContainerID: cid[:12] + "*"}, Attributes: map[string]string{"team": "payments"}},
	})
	require.NoError(t, err)
	name, attrs, ok := rules.Match(&Facts{EUID: 33, Executable: "/usr/sbin/nginx"})
	assert.True(t, ok)
	assert.Equal(t, "web", name)
	assert.Equal(t, "spiffe://example.org/web", attrs["spiffe.id"])
	name, _, _ = rules.Match(&Facts{EUID: 33, Executable: "/usr/bin/other"})
	assert.Equal(t, "any-33", name)
	name, _, _ = rules.Match(&Facts{EUID: 0, ContainerID: cid})
	assert.Equal(t, "payments", name)
	_, _, ok = rules.Match(&Facts{EUID: 0})
	assert.False(t, ok)
}

func TestRulesThen(t *testing.T) {
	inline, err := CompileRules("identity::rules", []Rule{{Match: Match{UID: u32(33)}, Attributes: map[string]string{"team": "inline"}}})
	require.NoError(t, err)
	file, err := CompileRules("file", []Rule{
		{Name: "file-33", Match: Match{UID: u32(33)}, Attributes: map[string]string{"team": "file"}},
		{Match: Match{UID: u32(0)}, Attributes: map[string]string{"team": "root"}},
	})
	require.NoError(t, err)
	all := inline.Then(file)
	assert.Equal(t, 3, all.Len())
	name, attrs, _ := all.Match(&Facts{EUID: 33})
	assert.Equal(t, "rule-0", name, "the inline rule first")
	assert.Equal(t, "inline", attrs["team"])
	name, _, _ = all.Match(&Facts{EUID: 0})
	assert.Equal(t, "rule-1", name, "a rule keeps the name it was compiled with")
	assert.Equal(t, 1, (*Rules)(nil).Then(inline).Len())
	assert.Equal(t, []int{1, 2}, []int{inline.Len(), file.Len()}, "neither list changed")
}

func TestLoadRulesFile(t *testing.T) {
	dir := testutil.TempDir(t)
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("rules:\n  - name: root\n    match: {uid: 0}\n    attributes: {service.account: root}\n"), 0o644))
	r, err := LoadRulesFile(good)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Len())

	for name, body := range map[string]string{
		"unknown-key.yaml": "rules:\n  - match: {uidd: 0}\n    attributes: {a: b}\n",
		"no-attrs.yaml":    "rules:\n  - match: {uid: 0}\n",
		"not-yaml.yaml":    "rules: [",
	} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		_, err := LoadRulesFile(p)
		assert.Error(t, err, name)
	}
}

// A process that exited before its lookup is still attributed by what the
// sample carried.
func TestExitedProcessKeepsSampleFacts(t *testing.T) {
	rules, err := CompileRules("r", []Rule{{Name: "batch", Match: Match{UID: u32(4242), Comm: "job"}, Attributes: map[string]string{"team": "batch"}}})
	require.NoError(t, err)
	r := NewResolver(Options{Rules: rules, Unmatched: map[string]string{RuleAttribute: "unmatched"}, ProcRoot: testutil.TempDir(t)})
	e := &event.Event{TGID: 999999, EUID: 4242, EGID: 4242, Comm: []byte("job")}
	f := r.lookupFacts(e)
	assert.Equal(t, "", f.Executable)
	assert.Equal(t, "job", f.Comm)
	w := workloadNow(r, e)
	assert.Contains(t, w.Attrs, KV{"team", "batch"})
	assert.Contains(t, w.Attrs, KV{RuleAttribute, "batch"})

	other := workloadNow(r, &event.Event{TGID: 999998, EUID: 1, Comm: []byte("x")})
	assert.Equal(t, []KV{{RuleAttribute, "unmatched"}}, other.Attrs)
}

func TestSetRulesRecomputes(t *testing.T) {
	r := NewResolver(Options{ProcRoot: testutil.TempDir(t)})
	e := &event.Event{TGID: 1, EUID: 7, Comm: []byte("c")}
	assert.Empty(t, workloadNow(r, e).Attrs)
	rules, err := CompileRules("r", []Rule{{Match: Match{UID: u32(7)}, Attributes: map[string]string{"team": "t"}}})
	require.NoError(t, err)
	r.SetRules(rules)
	assert.Contains(t, workloadNow(r, e).Attrs, KV{"team", "t"})
}

func TestWorkloadCap(t *testing.T) {
	r := NewResolver(Options{MaxWorkloads: 2, ProcRoot: testutil.TempDir(t)})
	rules := []Rule{}
	for i := range 5 {
		rules = append(rules, Rule{Match: Match{UID: u32(uint32(i))}, Attributes: map[string]string{"n": strings.Repeat("x", i+1)}})
	}
	c, err := CompileRules("r", rules)
	require.NoError(t, err)
	r.SetRules(c)
	for i := range 5 {
		resolveNow(r, &event.Event{TGID: uint32(i + 1), EUID: uint32(i)})
	}
	// Two workloads alive at most: the other three samples go to the
	// overflow workload, which says so.
	assert.Equal(t, uint64(3), r.Stats().Overflow)
	assert.Equal(t, []KV{{AttrOverflow, "true"}}, workloadNow(r, &event.Event{TGID: 9, EUID: 4}).Attrs)
}

func TestCacheTTL(t *testing.T) {
	r := NewResolver(Options{CacheTTL: time.Second, ProcRoot: testutil.TempDir(t)})
	now := time.Unix(0, 0)
	r.now = func() time.Time { return now }
	e := &event.Event{TGID: 1, EUID: 7}
	resolveNow(r, e)
	assert.Equal(t, 1, r.procs.len())
	now = now.Add(2 * time.Second)
	r.Sweep(nil)
	assert.Zero(t, r.procs.len())
}

func BenchmarkResolveWarm(b *testing.B) {
	rules, _ := CompileRules("r", []Rule{{Match: Match{UID: u32(0)}, Attributes: map[string]string{"team": "root"}}})
	r := NewResolver(Options{Rules: rules})
	e := &event.Event{TGID: uint32(os.Getpid()), EUID: 0, Comm: []byte("bench")}
	resolveNow(r, e)
	b.ReportAllocs()
	for b.Loop() {
		resolveNow(r, e)
	}
}

// resolveNow looks e's creator up in the caller, as Lookup does on a
// resolver not started, and returns its workload and facts.
func resolveNow(r *Resolver, e *event.Event) (uint32, Facts) {
	id, f, ok := r.Lookup(e, time.Now())
	if !ok {
		panic("queued: the resolver was started")
	}
	return id, *f
}

// workloadNow is the workload of e's creator, looked up in the caller.
func workloadNow(r *Resolver, e *event.Event) Workload {
	id, _ := resolveNow(r, e)
	return r.Workload(id)
}

type fakePods map[string]Pod

func (f fakePods) Pod(uid string) (Pod, bool) { p, ok := f[uid]; return p, ok }

// A creator whose cgroup names a pod gets that pod's namespace, name and
// ServiceAccount from the inventory, over what a rule sets; a pod the
// inventory does not know gets its uid alone.
func TestPodFromInventory(t *testing.T) {
	const uid, other = "0f6c2f2e-1b2c-4d5e-8f90-123456789abc", "11111111-1b2c-4d5e-8f90-123456789abc"
	rules, err := CompileRules("r", []Rule{{Name: "spoof", Match: Match{UID: u32(5)}, Attributes: map[string]string{AttrServiceAccount: "admin"}}})
	require.NoError(t, err)
	r := NewResolver(Options{Rules: rules, ProcRoot: testutil.TempDir(t), CgroupRoot: "none",
		Pods: fakePods{uid: {Namespace: "ke-apps", Name: "web-1", ServiceAccount: "ke-writer"}}})
	r.cgroups.learn(100, "/kubepods/besteffort/pod"+uid+"/"+cid, r.now())
	r.cgroups.learn(101, "/kubepods/besteffort/pod"+other+"/"+cid, r.now())
	w := workloadNow(r, &event.Event{TGID: 999999, EUID: 5, CgroupID: 100})
	assert.Subset(t, w.Attrs, []KV{{AttrNamespace, "ke-apps"}, {AttrPodName, "web-1"}, {AttrServiceAccount, "ke-writer"}, {AttrPodUID, uid}})
	w = workloadNow(r, &event.Event{TGID: 999998, EUID: 6, CgroupID: 101})
	assert.Contains(t, w.Attrs, KV{AttrPodUID, other})
	for _, kv := range w.Attrs {
		assert.NotContains(t, []string{AttrNamespace, AttrPodName, AttrServiceAccount}, kv.Key)
	}
}
