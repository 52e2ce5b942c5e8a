// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// setSysctl writes value to the /proc/sys file and restores what it held
// when t ends.
func setSysctl(t *testing.T, file, value string) {
	t.Helper()
	old, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, []byte(value), 0o644))
	t.Cleanup(func() {
		assert.NoError(t, os.WriteFile(file, old, 0o644), "restore %s", file)
	})
}

// TestCoreDumps (issue 24, section 3): a core file the kernel writes into
// the crashing process's directory (core_pattern "core", set for the test
// and restored) is counted: by kretprobe and fexit as a creation of the
// dumping process (do_filp_open), by the tracepoint hook, which no
// tracepoint shows the file, as kernel.events.lost{core_dump_unobserved}
// at the dumping thread's exit. (The tracepoint hook once counted it
// nowhere.)
func TestCoreDumps(t *testing.T) {
	testutil.RequireRoot(t)
	setSysctl(t, "/proc/sys/kernel/core_pattern", "core")
	setSysctl(t, "/proc/sys/kernel/core_uses_pid", "0")
	for _, h := range testedHooks() {
		t.Run(string(h), func(t *testing.T) {
			dir := testutil.TempDir(t)
			p, c := watchDir(t, h, dir)
			cmd := exec.Command("/bin/sh", "-c", "ulimit -c unlimited && kill -SEGV $$")
			cmd.Dir = dir
			err := cmd.Run()
			require.Error(t, err, "the shell crashes")
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			require.True(t, ok)
			require.True(t, ws.CoreDump(), "the kernel dumped core: %v", ws)
			_, err = os.Stat(filepath.Join(dir, "core"))
			require.NoError(t, err, "the core file is in the crashing process's directory")
			pid := uint32(cmd.Process.Pid)

			if h == HookTracepoint {
				var lost map[string]uint64
				deadline := time.Now().Add(10 * time.Second)
				for {
					lost, err = p.LostByReason()
					require.NoError(t, err)
					if lost[LostCoreDumpUnobserved] > 0 || time.Now().After(deadline) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				assert.Equal(t, uint64(1), lost[LostCoreDumpUnobserved], "the dump counted once, as unobserved")
				return
			}
			got := c.wait(t, 1, pid)
			var cores []string
			for _, e := range got {
				if strings.HasSuffix(e.path, "/core") {
					cores = append(cores, e.path)
				}
			}
			assert.Equal(t, []string{filepath.Join(dir, "core")}, cores, "the core file, credited to the dumping process")
		})
	}
}
