// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/event"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestSampleCarriesCreatorIdentity: the sample names the effective uid (a
// setuid-nobody program's files are nobody's; a setuid-root program run by
// nobody is root's), the executable that was running (by inode and device)
// and the process's start time as /proc/<pid>/stat reports it. The uids
// filter keeps by effective uid.
func TestSampleCarriesCreatorIdentity(t *testing.T) {
	dir := testutil.TempDir(t)
	require.NoError(t, os.Chmod(dir, 0o777))
	opts := DefaultOptions()
	opts.Hook = HookAuto
	opts.PathPrefixes = []string{dir + "/"}
	opts.UIDs = []uint32{65534}
	p := openHook(t, opts)

	var mu sync.Mutex
	got := map[uint32]event.Event{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var e event.Event
		for {
			err := p.Read(&e)
			if errors.Is(err, event.ErrMalformed) {
				continue
			}
			if err != nil {
				return
			}
			c := e
			c.Comm, c.Path = nil, append([]byte(nil), e.Path...)
			mu.Lock()
			got[e.TGID] = c
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.Close(); <-done })

	create := func(name string, setresuid []int) testutil.Child {
		return testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Setresuid: setresuid, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: name}}})
	}
	// real 0, effective nobody: a setuid-nobody program started by root.
	setuidNobody := create("euid-nobody", []int{-1, 65534, -1})
	// real nobody, effective root: a setuid-root program started by nobody.
	setuidRoot := create("euid-root", []int{65534, 0, 0})
	// The marker: once it is read, the other samples were (one ring, in order).
	marker := testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "marker"}}}.AsUser(65534, 65534))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := got[uint32(marker.PID)]
		return ok
	}, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()

	e, ok := got[uint32(setuidNobody.PID)]
	require.True(t, ok, "the effective uid 65534 passes the uids filter")
	assert.Equal(t, filepath.Join(dir, "euid-nobody"), string(e.Path))
	assert.Equal(t, uint32(65534), e.EUID)
	assert.Equal(t, uint32(0), e.RUID)
	_, ok = got[uint32(setuidRoot.PID)]
	assert.False(t, ok, "real uid 65534 with effective uid 0 is root's file: filtered out")

	// The executable: the test binary, by device and inode.
	var st unix.Stat_t
	exe, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, unix.Stat(exe, &st))
	assert.Equal(t, st.Ino, e.ExeIno)
	assert.Equal(t, st.Dev, e.ExeDev)
	assert.NotZero(t, e.StartNs)

	// The start time of this process, as the kernel sees it, agrees with
	// /proc/self/stat's starttime (in clock ticks of 10 ms).
	m := got[uint32(marker.PID)]
	assert.Less(t, m.StartNs, uint64(bootNs(t)))
	self := procStartTicks(t, os.Getpid())
	assert.Greater(t, m.StartNs/1e7, uint64(self), "the child started after this process")
}

func bootNs(t *testing.T) int64 {
	var ts unix.Timespec
	require.NoError(t, unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts))
	return ts.Nano()
}

// procStartTicks returns field 22 of /proc/<pid>/stat.
func procStartTicks(t *testing.T, pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	n, err := strconv.ParseInt(f[19], 10, 64)
	require.NoError(t, err)
	return n
}
