// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestCommBytes: the creator's name as the sample carries it and as the
// exclude_comms map (NUL-padded 16-byte keys) sees it, for names a task
// gives itself after a 15-byte one (the bytes after the new name's NUL
// were the old name's), of every length around the 8-byte words the
// programs load the name in (0, 2, 7, 8, 10, 15), and of bytes 0x01, 0x7f,
// 0x80, 0xff that a word-at-a-time NUL search could take for a NUL. Each
// child also runs as its own uid and gid, which the sample must carry.
func TestCommBytes(t *testing.T) {
	leaveToHost(t, HookTracepoint) // the kernel's semantics; the VM rows keep their time for their hooks
	root := testutil.TempDir(t)
	require.NoError(t, os.Chmod(root, 0o777))
	const long = "abcdefghijklmno" // 15 bytes: the longest name the kernel keeps
	excluded := []string{"ab", "abcdefgh", "abcdefg", "\x01\x80", "\xff\xff\xff\xff\xff\xff\xff\xff\x01"}
	kept := []string{"", "\x01\x80\xff", "abcdefghij", "abcdefga", "\xff\xfe\x80\x01\x7f\x81zz\x01\x80",
		"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01", long}
	opts := DefaultOptions()
	opts.Hook = HookTracepoint
	opts.PathPrefixes = []string{root + "/"}
	opts.ExcludePID = os.Getpid()
	opts.ExcludeComms = excluded
	p := openHook(t, opts)
	c := collect(p)

	run := func(name string, i int) testutil.Child {
		spec := testutil.ChildSpec{Dir: root, Ops: []testutil.Op{
			{Kind: testutil.OpComm, Path: long},
			{Kind: testutil.OpComm, Path: testutil.Raw(name)},
			{Kind: testutil.OpOpenat, Path: "f"},
			{Kind: testutil.OpUnlink, Path: "f"},
		}}
		return testutil.RunChild(t, spec.AsUser(uint32(60000+i), uint32(61000+i)))
	}
	var pids []uint32
	for i, name := range excluded {
		pids = append(pids, uint32(run(name, i).PID))
	}
	want := map[uint32]int{}
	for i, name := range kept {
		pid := uint32(run(name, len(excluded)+i).PID)
		want[pid] = i
		pids = append(pids, pid)
	}
	got := c.wait(t, len(kept), pids...)
	seenBy := map[uint32]bool{}
	for _, e := range got {
		i, ok := want[e.tgid]
		if !assert.True(t, ok, "a file of a child named as excluded: tgid %d comm %q", e.tgid, e.comm) {
			continue
		}
		seenBy[e.tgid] = true
		assert.Equal(t, filepath.Join(root, "f"), e.path)
		assert.Equal(t, kept[i], e.comm, "comm of child %d", e.tgid)
		assert.Equal(t, uint32(60000+len(excluded)+i), e.uid, "uid of child %q", kept[i])
		assert.Equal(t, uint32(61000+len(excluded)+i), e.gid, "gid of child %q", kept[i])
		assert.NotZero(t, e.tid)
	}
	for pid, i := range want {
		assert.True(t, seenBy[pid], "no file from child %d named %q", pid, kept[i])
	}
}

// TestCommBytesIOUring: as TestCommBytes for io_uring's creations, which
// run in the submitter's thread, an io_uring worker or the SQPOLL thread,
// and are named after the submitting program (its group leader's name for
// the last two): a short name after a long one is excluded by exclude_comms
// and a kept one arrives whole, with the submitter's uid and gid.
func TestCommBytesIOUring(t *testing.T) {
	leaveToHost(t, HookTracepoint) // the kernel's semantics; the VM rows keep their time for their hooks
	root := testutil.TempDir(t)
	require.NoError(t, os.Chmod(root, 0o777))
	const long = "abcdefghijklmno"
	opts := DefaultOptions()
	opts.Hook = HookTracepoint
	opts.PathPrefixes = []string{root + "/"}
	opts.ExcludePID = os.Getpid()
	opts.ExcludeComms = []string{"ab"}
	p := openHook(t, opts)
	if slices.ContainsFunc(p.Notes(), func(n string) bool { return strings.Contains(n, "io_uring") }) {
		testutil.SkipUnlessStrict(t, "this kernel has no io_uring_complete tracepoint: %q", p.Notes())
	}
	c := collect(p)
	run := func(name string, uid uint32) testutil.Child {
		return runIOUringChild(t, testutil.ChildSpec{Dir: root, Ops: []testutil.Op{
			{Kind: testutil.OpComm, Path: long},
			{Kind: testutil.OpComm, Path: name},
			{Kind: testutil.OpIOUring, Path: name + "-openat"},
			{Kind: testutil.OpIOUringOpenat2, Path: name + "-openat2"},
			{Kind: testutil.OpIOUringSQPoll, Path: name + "-sqpoll"},
		}}.AsUser(uid, uid+1000))
	}
	excluded := run("ab", 60100)
	kept := run("abcdefghij", 60101)
	got := c.wait(t, 3, uint32(excluded.PID), uint32(kept.PID))
	want := []string{filepath.Join(root, "abcdefghij-openat"), filepath.Join(root, "abcdefghij-openat2"), filepath.Join(root, "abcdefghij-sqpoll")}
	assert.Equal(t, want, paths(got))
	for _, e := range got {
		assert.Equal(t, "abcdefghij", e.comm, e.path)
		assert.Equal(t, uint32(60101), e.uid, e.path)
		assert.Equal(t, uint32(61101), e.gid, e.path)
	}
}

// TestCreatorRealIDsAndCgroup: the sample's real uid and gid (not the
// effective ones) and its cgroup v2 id, which the programs read from the
// task rather than from helpers: a root child with real uid 60202 and gid
// 61202 (effective uid 0) in a cgroup of its own.
func TestCreatorRealIDsAndCgroup(t *testing.T) {
	leaveToHost(t, HookTracepoint) // the kernel's semantics; the VM rows keep their time for their hooks
	root := testutil.TempDir(t)
	cg, _ := testutil.MakeCgroup(t, "ids")
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(cg, &st))
	opts := DefaultOptions()
	opts.Hook = HookTracepoint
	opts.PathPrefixes = []string{root + "/"}
	opts.ExcludePID = os.Getpid()
	sample := samplesByPath(t, openHook(t, opts))
	spec := testutil.ChildSpec{Dir: root, Cgroup: cg, Setresuid: []int{60202, 0, 0},
		Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "f"}}}.AsUser(0, 61202)
	child := testutil.RunChild(t, spec)
	e, ok := sample(filepath.Join(root, "f"), 10*time.Second)
	require.True(t, ok, "no sample from the child")
	assert.Equal(t, uint32(child.PID), e.TGID)
	assert.Equal(t, filepath.Join(root, "f"), string(e.Path))
	assert.Equal(t, uint32(60202), e.RUID, "real uid")
	assert.Equal(t, uint32(61202), e.RGID, "real gid")
	assert.Equal(t, uint32(0), e.EUID, "effective uid")
	assert.Equal(t, st.Ino, e.CgroupID, "the cgroup v2 id is its directory's inode")
	assert.Equal(t, testutil.ChildComm, string(e.Comm))
	assert.NotZero(t, e.TID)
}
