// SPDX-License-Identifier: Apache-2.0

//go:build linux

package identity

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// fakeSPIFFE answers from a function, which may change the fake /proc while
// the "agent" looks, as a process racing the lookup would.
type fakeSPIFFE func(pid uint32) SPIFFEAnswer

func (f fakeSPIFFE) Lookup(pid uint32) SPIFFEAnswer { return f(pid) }

// LookupSelectors answers no_entry: the fake knows no entries by selector.
func (f fakeSPIFFE) LookupSelectors([]string) SPIFFEAnswer {
	return SPIFFEAnswer{Status: SPIFFENoEntry}
}

// bySelectors is a fake agent with entries by selector set.
type bySelectors struct {
	fakeSPIFFE
	entries map[string]string // "sel,sel" (sorted as asked) → SPIFFE ID
	asked   [][]string
}

func (b *bySelectors) LookupSelectors(sel []string) SPIFFEAnswer {
	b.asked = append(b.asked, sel)
	var ids []string
	for need, id := range b.entries {
		ok := true
		for _, n := range strings.Split(need, ",") {
			if !slices.Contains(sel, n) {
				ok = false
			}
		}
		if ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return SPIFFEAnswer{Status: SPIFFENoEntry}
	}
	return SPIFFEAnswer{Status: SPIFFEIssued, IDs: ids}
}

const webID = "spiffe://example.org/web"

// spiffeProc writes a fake process 100 running /bin/sh as uid/gid (real and
// effective) under a new proc root and returns the root and the sample of
// a file it created.
func spiffeProc(t *testing.T, uid, gid uint32) (string, *event.Event) {
	t.Helper()
	proc := testutil.TempDir(t)
	fakeProc(t, proc, 100, startA, "0::/\n", binSh(t), "")
	writeStatus(t, proc, 100, uid, gid)
	dev, ino := statExe(t, binSh(t))
	return proc, &event.Event{TGID: 100, StartNs: startA, EUID: uid, RUID: uid, EGID: gid, ExeDev: dev, ExeIno: ino, Comm: []byte("sh")}
}

func writeStatus(t *testing.T, proc string, pid, uid, gid uint32) {
	t.Helper()
	status := fmt.Sprintf("Name:\tsh\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\n", uid, uid, uid, uid, gid, gid, gid, gid)
	require.NoError(t, os.WriteFile(filepath.Join(proc, fmt.Sprint(pid), "status"), []byte(status), 0o644))
}

func issued(ids ...string) SPIFFEAnswer {
	return SPIFFEAnswer{Status: SPIFFEIssued, IDs: ids, Hint: "h"}
}

func attrsOf(r *Resolver, id uint32) map[string]string {
	out := map[string]string{}
	for _, kv := range r.Workload(id).Attrs {
		out[kv.Key] = kv.Value
	}
	return out
}

// The agent's answer is about whatever process has the pid when it looks.
// A creator that exits and whose pid is reused while the agent looks (an
// attacker recycling pids so that its file is credited to a privileged
// workload) gets process_gone, not the answer.
func TestSPIFFEAnswerForAReusedPIDIsDiscarded(t *testing.T) {
	proc, e := spiffeProc(t, 1000, 1000)
	src := fakeSPIFFE(func(uint32) SPIFFEAnswer {
		// The creator exits; pid 100 is now a process started later.
		require.NoError(t, os.RemoveAll(filepath.Join(proc, "100")))
		fakeProc(t, proc, 100, startA+1e9, "0::/\n", binSh(t), "")
		writeStatus(t, proc, 100, 1000, 1000)
		return issued("spiffe://example.org/admin")
	})
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: src})
	id, f := resolveNow(r, e)
	assert.Equal(t, SPIFFEProcessGone, f.SPIFFE.Status)
	assert.Empty(t, f.SPIFFE.IDs)
	a := attrsOf(r, id)
	assert.Equal(t, "process_gone", a[AttrSPIFFEStatus])
	assert.NotContains(t, a, AttrSPIFFEID)
	assert.Equal(t, uint64(1), r.SPIFFECounts()[SPIFFEProcessGone])
}

// A creator that execs (or setuids) right after its creation would be
// attested as what it became: process_changed, whether it changed before
// the question or while the agent looked.
func TestSPIFFEProcessChangedIsNotBelieved(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, proc string)
		before bool
	}{
		{"exec before", func(t *testing.T, proc string) {
			require.NoError(t, os.Remove(filepath.Join(proc, "100", "exe")))
			require.NoError(t, os.Symlink("/bin/true", filepath.Join(proc, "100", "exe")))
		}, true},
		{"setuid while asked", func(t *testing.T, proc string) { writeStatus(t, proc, 100, 0, 1000) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, e := spiffeProc(t, 1000, 1000)
			asked := 0
			src := fakeSPIFFE(func(uint32) SPIFFEAnswer {
				asked++
				if !tc.before {
					tc.change(t, proc)
				}
				return issued(webID)
			})
			if tc.before {
				tc.change(t, proc)
			}
			r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: src})
			_, f := resolveNow(r, e)
			assert.Equal(t, SPIFFEProcessChanged, f.SPIFFE.Status)
			assert.Empty(t, f.SPIFFE.IDs)
			if tc.before {
				assert.Zero(t, asked, "the agent was asked about a changed process")
			}
		})
	}
}

// Issued IDs go on the resource with the hint; a rule may match on them,
// and an ID SPIRE issued replaces a spiffe.id typed into a rule.
func TestSPIFFEOnResourceAndRules(t *testing.T) {
	proc, e := spiffeProc(t, 1000, 1000)
	rules, err := CompileRules("identity::rules", []Rule{
		{Name: "web", Match: Match{SPIFFEID: "spiffe://example.org/w*"}, Attributes: map[string]string{"team": "web", AttrSPIFFEID: "spiffe://typed/by-hand"}},
	})
	require.NoError(t, err)
	src := fakeSPIFFE(func(uint32) SPIFFEAnswer { return issued(webID, "spiffe://example.org/other") })
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: src, Rules: rules})
	id, _ := resolveNow(r, e)
	assert.Equal(t, map[string]string{
		AttrSPIFFEID:     webID,
		AttrSPIFFEIDs:    webID + ",spiffe://example.org/other",
		AttrSPIFFEHint:   "h",
		AttrSPIFFEStatus: "issued",
		RuleAttribute:    "web",
		"team":           "web",
	}, attrsOf(r, id))
}

// Without an issued ID a rule on spiffe_id never matches, the status says
// why, and a rule's typed spiffe.id stays (the fallback for workloads SPIRE
// has no entry for).
func TestSPIFFENoEntry(t *testing.T) {
	proc, e := spiffeProc(t, 1000, 1000)
	rules, err := CompileRules("identity::rules", []Rule{
		{Name: "web", Match: Match{SPIFFEID: "spiffe://**"}, Attributes: map[string]string{"team": "web"}},
		{Name: "uid", Match: Match{UID: new(uint32(1000))}, Attributes: map[string]string{AttrSPIFFEID: "spiffe://typed/by-hand"}},
	})
	require.NoError(t, err)
	src := fakeSPIFFE(func(uint32) SPIFFEAnswer { return SPIFFEAnswer{Status: SPIFFENoEntry} })
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: src, Rules: rules})
	id, _ := resolveNow(r, e)
	assert.Equal(t, map[string]string{AttrSPIFFEID: "spiffe://typed/by-hand", AttrSPIFFEStatus: "no_entry", RuleAttribute: "uid"}, attrsOf(r, id))
}

// The answer's expiry (an SVID's, or a failure's retry time) bounds the
// process cache: the agent is asked again after it, not after cache_ttl.
func TestSPIFFEExpiryBoundsTheProcessCache(t *testing.T) {
	proc, e := spiffeProc(t, 1000, 1000)
	now := time.Unix(1_000_000, 0)
	asked := 0
	src := fakeSPIFFE(func(uint32) SPIFFEAnswer {
		asked++
		return SPIFFEAnswer{Status: SPIFFEAgentUnavailable, Expires: now.Add(time.Second)}
	})
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: src, CacheTTL: time.Hour})
	r.now = func() time.Time { return now }
	resolveNow(r, e)
	resolveNow(r, e)
	assert.Equal(t, 1, asked)
	now = now.Add(2 * time.Second)
	_, f := resolveNow(r, e)
	assert.Equal(t, 2, asked)
	assert.Equal(t, SPIFFEAgentUnavailable, f.SPIFFE.Status)
	assert.Equal(t, uint64(2), r.SPIFFECounts()[SPIFFEAgentUnavailable])
}

// A sample attributed from the caches alone (too many waiting) carries
// not_looked_up: never a silently missing spiffe.id.
func TestSPIFFENotLookedUp(t *testing.T) {
	proc, e := spiffeProc(t, 1000, 1000)
	block := make(chan struct{})
	src := fakeSPIFFE(func(uint32) SPIFFEAnswer { <-block; return issued(webID) })
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: src, MaxPending: 1, Workers: 1})
	delivered := make(chan uint32, 4)
	_ = r.Start(func(_ *event.Event, id uint32, _ *Facts, _ time.Time) { delivered <- id }) // no cgroup watcher on CgroupRoot "none"; the workers start
	_, _, ok := r.Lookup(e, time.Now())                                                     // queued; the worker blocks in the source
	require.False(t, ok)
	id, f, ok := r.Lookup(e, time.Now()) // over MaxPending: from the caches
	require.True(t, ok)
	assert.Equal(t, "not_looked_up", attrsOf(r, id)[AttrSPIFFEStatus])
	assert.Empty(t, f.SPIFFE.IDs)
	close(block)
	assert.Equal(t, webID, attrsOf(r, <-delivered)[AttrSPIFFEID])
	r.Close()
	assert.Equal(t, uint64(1), r.SPIFFECounts()[SPIFFENotLookedUp])
	assert.Equal(t, uint64(1), r.SPIFFECounts()[SPIFFEIssued])
}

// Without a source nothing SPIFFE is set or counted.
func TestNoSPIFFESource(t *testing.T) {
	proc, e := spiffeProc(t, 1000, 1000)
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: testutil.TempDir(t)})
	id, _ := resolveNow(r, e)
	assert.Empty(t, attrsOf(r, id))
	assert.Nil(t, r.SPIFFECounts())
}

func TestSPIFFERuleValidation(t *testing.T) {
	_, err := CompileRules("identity::rules", []Rule{{Match: Match{SPIFFEID: "example.org/web"}, Attributes: map[string]string{"a": "b"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "identity::rules[0]::match::spiffe_id")
}

// A creator that moves itself to another cgroup (a delegated subtree lets
// it) before the lookup would be attested, by the agent's k8s, docker or
// systemd attestors, as that cgroup's workload: process_changed, the agent
// not asked.
func TestSPIFFECgroupMoveIsNotBelieved(t *testing.T) {
	root := CgroupV2Root()
	if root == "" {
		t.Skip("no cgroup v2 mount")
	}
	// The sample says the root cgroup (id 1 on every cgroup2 mount is not
	// guaranteed: take the root's id); /proc says a child cgroup.
	proc, e := spiffeProc(t, 1000, 1000)
	sys := newSysLookup(proc, root, "/")
	rootID, ok := sys.cgroupIDOf("/")
	require.True(t, ok, "name_to_handle_at on %s", root)
	var other string
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, d := range entries {
		if d.IsDir() {
			other = "/" + d.Name()
			break
		}
	}
	if other == "" {
		t.Skip("no child cgroup under " + root)
	}
	require.NoError(t, os.WriteFile(filepath.Join(proc, "100", "cgroup"), []byte("0::"+other+"\n"), 0o644))
	e.CgroupID = rootID
	asked := 0
	src := fakeSPIFFE(func(uint32) SPIFFEAnswer { asked++; return issued(webID) })
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: root, HostRoot: "/", SPIFFE: src})
	_, f := resolveNow(r, e)
	assert.Equal(t, SPIFFEProcessChanged, f.SPIFFE.Status)
	assert.Zero(t, asked)

	// Still in the sample's cgroup: believed.
	require.NoError(t, os.WriteFile(filepath.Join(proc, "100", "cgroup"), []byte("0::/\n"), 0o644))
	r = NewResolver(Options{ProcRoot: proc, CgroupRoot: root, HostRoot: "/", SPIFFE: src})
	_, f = resolveNow(r, e)
	assert.Equal(t, SPIFFEIssued, f.SPIFFE.Status)
}

// A creator gone before its lookup (touch, cp) is asked about by the uid
// and gid its sample proves: an entry needing only those is issued
// (issued_by_uid); one that also needs the executable's path is not (the
// answer is a subset, never another workload's); with none, process_gone.
func TestSPIFFEGoneProcessAskedByUID(t *testing.T) {
	proc, e := spiffeProc(t, 1000, 1000)
	require.NoError(t, os.RemoveAll(filepath.Join(proc, "100"))) // exited
	src := &bySelectors{
		fakeSPIFFE: func(uint32) SPIFFEAnswer { t.Error("asked by pid about a gone process"); return SPIFFEAnswer{} },
		entries:    map[string]string{"unix:uid:1000": webID, "unix:uid:1000,unix:path:/bin/sh": "spiffe://example.org/sh"},
	}
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: src})
	id, f := resolveNow(r, e)
	assert.Equal(t, SPIFFEIssuedByUID, f.SPIFFE.Status)
	assert.Equal(t, []string{webID}, f.SPIFFE.IDs)
	assert.Equal(t, [][]string{{"unix:uid:1000", "unix:gid:1000"}}, src.asked)
	a := attrsOf(r, id)
	assert.Equal(t, webID, a[AttrSPIFFEID])
	assert.Equal(t, "issued_by_uid", a[AttrSPIFFEStatus])

	e.EUID, e.RUID = 2000, 2000
	_, f = resolveNow(r, e)
	assert.Equal(t, SPIFFEProcessGone, f.SPIFFE.Status)
	assert.Empty(t, f.SPIFFE.IDs)
}

func TestSPIFFECountsHoldEveryStatus(t *testing.T) {
	var c spiffeCounts
	require.LessOrEqual(t, len(SPIFFEStatuses), len(c))
}

// A gone process while the agent is down: agent_unavailable, the outcome an
// operator can act on, not process_gone.
func TestSPIFFEGoneProcessAgentDown(t *testing.T) {
	proc, e := spiffeProc(t, 1000, 1000)
	require.NoError(t, os.RemoveAll(filepath.Join(proc, "100")))
	src := downAgent{}
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: src})
	_, f := resolveNow(r, e)
	assert.Equal(t, SPIFFEAgentUnavailable, f.SPIFFE.Status)
}

type downAgent struct{}

func (downAgent) Lookup(uint32) SPIFFEAnswer {
	return SPIFFEAnswer{Status: SPIFFEAgentUnavailable}
}

func (downAgent) LookupSelectors([]string) SPIFFEAnswer {
	return SPIFFEAnswer{Status: SPIFFEAgentUnavailable}
}

// fakeExecs are the kernel's exec records, scripted: current is the
// process's exec now (0: none recorded, unless inherited: a record naming
// no exec), since when the records began (0: never).
type fakeExecs struct {
	current   uint64
	inherited bool
	file      ExecRecord
	since     uint64
}

func (f *fakeExecs) ExecFile(execNs uint64) (ExecRecord, bool) {
	return f.file, execNs == 7
}

func (f *fakeExecs) CurrentExec(uint32, uint64) (uint64, bool) {
	return f.current, f.current != 0 || f.inherited
}

func (f *fakeExecs) RecordedSince() (uint64, bool) { return f.since, f.since != 0 }

// A process that started after the exec records began always has one while
// it runs, unless it was pushed out (the table holds 16,384 processes; an
// attacker forks enough to push its own out). /proc/<pid>/exe then names its
// executable reference, which it can have replaced (prctl PR_SET_MM_MAP
// with exe_fd) with a trusted file before: such a process gets no
// executable, no executable rule and no SPIFFE answer. A process older than
// the records, or a child of one that did not exec (recorded at fork,
// naming no exec), is named from /proc as before.
func TestExecRecordPushedOutIsNotBelieved(t *testing.T) {
	rules, err := CompileRules("r", []Rule{{Name: "sh", Match: Match{Executable: binSh(t)}, Attributes: map[string]string{"team": "shell"}}})
	require.NoError(t, err)
	for _, tc := range []struct {
		name      string
		since     uint64
		inherited bool
		believed  bool
	}{
		{"started after the records, none", startA - 1, false, false},
		{"started before the records", startA + 1, false, true},
		{"a child of an older process, recorded at fork", startA - 1, true, true},
		{"no records kept", 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, e := spiffeProc(t, 1000, 1000)
			e.ExecState = event.ExecUnknown
			execs := &fakeExecs{since: tc.since, inherited: tc.inherited}
			r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", Rules: rules,
				SPIFFE: fakeSPIFFE(func(uint32) SPIFFEAnswer { return issued(webID) }), Execs: execs})
			id, f := resolveNow(r, e)
			if tc.believed {
				assert.Equal(t, binSh(t), f.Executable)
				assert.Equal(t, "shell", attrsOf(r, id)["team"], "the executable rule matches")
				assert.Equal(t, SPIFFEIssued, f.SPIFFE.Status)
				return
			}
			assert.Empty(t, f.Executable, "no executable from /proc")
			assert.Empty(t, attrsOf(r, id)["team"], "no executable rule")
			assert.Equal(t, SPIFFEProcessChanged, f.SPIFFE.Status)
			assert.Empty(t, f.SPIFFE.IDs)
			assert.Empty(t, r.lookupFacts(e).Executable, "none from the cache either")
		})
	}
}

// The agent attests the executable's path when it looks (SPIRE's unix:path
// is /proc/<pid>/exe then), and an inode has one path per hard link: an
// answer is believed only while the process runs the exec of the creation
// (the kernel's record) through the path inside its filesystem that exec
// mapped. The same inode under another path (a hard link swapped in with
// prctl after the creation), another exec since, or a reference the process
// replaced before the creation all give process_changed.
func TestSPIFFEAnswerNeedsTheCreationsExecAndPath(t *testing.T) {
	for _, tc := range []struct {
		name    string
		state   event.ExecState
		current uint64
		path    func(exe string) string
		want    SPIFFEStatus
	}{
		{"same exec, same path", event.ExecSame, 7, func(p string) string { return p }, SPIFFEIssued},
		{"same inode, another path", event.ExecSame, 7, func(p string) string { return p + "-hardlink" }, SPIFFEProcessChanged},
		{"another exec since", event.ExecSame, 8, func(p string) string { return p }, SPIFFEProcessChanged},
		{"replaced reference", event.ExecReplaced, 7, func(p string) string { return p }, SPIFFEProcessChanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, e := spiffeProc(t, 1000, 1000)
			e.ExecState = tc.state
			if tc.state == event.ExecSame {
				e.ExecNs = 7
			}
			execs := &fakeExecs{current: tc.current, file: ExecRecord{Dev: e.ExeDev, Ino: e.ExeIno, Path: tc.path(binSh(t))}}
			r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: fakeSPIFFE(func(uint32) SPIFFEAnswer { return issued(webID) }), Execs: execs})
			_, f := resolveNow(r, e)
			assert.Equal(t, tc.want, f.SPIFFE.Status)
			if tc.want != SPIFFEIssued {
				assert.Empty(t, f.SPIFFE.IDs)
			}
		})
	}
}

// An answer is kept only when the path the agent attests (/proc/<pid>/exe
// as the process's mount namespace names it) is the node path of its
// executable, in the node's mount namespace: a process in another mount
// namespace gets no IDs (exe_path_unverified), counted. (A path that is not
// the node's, with a real exec record: TestBindMountedExecGetsNoSPIFFEID in
// internal/spire, against SPIRE.)
func TestSPIFFEExePathNotTheNodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
	}{
		{"another mount namespace", func(t *testing.T, dir string) {
			// any other namespace's inode: this process's network one
			require.NoError(t, os.Remove(filepath.Join(dir, "ns", "mnt")))
			require.NoError(t, os.Symlink("/proc/self/ns/net", filepath.Join(dir, "ns", "mnt")))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, e := spiffeProc(t, 1000, 1000)
			r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: fakeSPIFFE(func(uint32) SPIFFEAnswer { return issued(webID) })})
			_, f := resolveNow(r, e)
			require.Equal(t, SPIFFEIssued, f.SPIFFE.Status, "the control")

			proc, e = spiffeProc(t, 1000, 1000)
			tc.change(t, filepath.Join(proc, "100"))
			r = NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: "/", SPIFFE: fakeSPIFFE(func(uint32) SPIFFEAnswer { return issued(webID) })})
			_, f = resolveNow(r, e)
			assert.Equal(t, SPIFFEExePathUnverified, f.SPIFFE.Status)
			assert.Empty(t, f.SPIFFE.IDs)
			assert.Equal(t, uint64(1), r.SPIFFECounts()[SPIFFEExePathUnverified])
		})
	}
}

// A process in a pod the inventory knows, exited or alive (and then in its
// container's mount namespace, where asking by pid would be refused as
// exe_path_unverified), is asked about by its pod's selectors (what SPIRE's
// k8s attestor reports) with its uid and gid, never by pid: an entry by
// namespace and ServiceAccount is issued; another pod's is not.
func TestSPIFFEPodProcessAskedByPod(t *testing.T) {
	for _, alive := range []bool{false, true} {
		t.Run(map[bool]string{false: "exited", true: "alive"}[alive], func(t *testing.T) { testSPIFFEAskedByPod(t, alive) })
	}
}

func testSPIFFEAskedByPod(t *testing.T, alive bool) {
	const uid = "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"
	proc, e := spiffeProc(t, 1000, 1000)
	if alive {
		require.NoError(t, os.Remove(filepath.Join(proc, "100", "ns", "mnt")))
		require.NoError(t, os.Symlink("/proc/self/ns/net", filepath.Join(proc, "100", "ns", "mnt")))
	} else {
		require.NoError(t, os.RemoveAll(filepath.Join(proc, "100")))
	}
	saID, otherID := "spiffe://example.org/ns/ke-apps/sa/ke-writer", "spiffe://example.org/ns/ke-apps/sa/other"
	src := &bySelectors{
		fakeSPIFFE: func(uint32) SPIFFEAnswer { t.Error("asked by pid about a process in a pod"); return SPIFFEAnswer{} },
		entries:    map[string]string{"k8s:ns:ke-apps,k8s:sa:ke-writer": saID, "k8s:ns:ke-apps,k8s:sa:other": otherID},
	}
	r := NewResolver(Options{ProcRoot: proc, CgroupRoot: "none", HostRoot: testutil.TempDir(t), SPIFFE: src,
		Pods: fakePods{uid: {Namespace: "ke-apps", Name: "web-1", ServiceAccount: "ke-writer"}}})
	e.CgroupID = 100
	r.cgroups.learn(100, "/kubepods/besteffort/pod"+uid+"/"+cid, r.now())
	id, f := resolveNow(r, e)
	assert.Equal(t, SPIFFEIssuedByPod, f.SPIFFE.Status)
	assert.Equal(t, []string{saID}, f.SPIFFE.IDs)
	assert.Equal(t, [][]string{{"unix:uid:1000", "unix:gid:1000", "k8s:ns:ke-apps", "k8s:sa:ke-writer", "k8s:pod-name:web-1", "k8s:pod-uid:" + uid}}, src.asked)
	a := attrsOf(r, id)
	assert.Equal(t, saID, a[AttrSPIFFEID])
	assert.Equal(t, "issued_by_pod", a[AttrSPIFFEStatus])
	assert.Equal(t, "ke-writer", a[AttrServiceAccount])
}
