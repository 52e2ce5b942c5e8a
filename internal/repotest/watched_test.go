// SPDX-License-Identifier: Apache-2.0

package repotest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWatchedSyscallsMatchSyscallOf: the reject prologue's bit set
// (sys_exit_watched in bpf/syscall.h) holds exactly the syscall numbers
// syscall_of classifies, per architecture. A number syscall_of knows and
// the set lacks is a syscall the tracepoint hook never sees (symlink and
// symlinkat were once added to one and not the other); one the set has
// and syscall_of lacks costs every such syscall the handler's call.
func TestWatchedSyscallsMatchSyscallOf(t *testing.T) {
	// A source check, run on the host with the repository (never in the
	// VMs, which get the probe's test binary alone).
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "bpf", "syscall.h"))
	require.NoError(t, err)
	src := string(b)
	region := func(from, to string) string {
		i := strings.Index(src, from)
		require.GreaterOrEqual(t, i, 0, "%q in bpf/syscall.h", from)
		j := strings.Index(src[i:], to)
		require.GreaterOrEqual(t, j, 0, "%q after %q in bpf/syscall.h", to, from)
		return src[i : i+j]
	}
	// per arch: the text before and after the arm64 branch
	split := func(s string) map[string]string {
		const arm = "#elif defined(__TARGET_ARCH_arm64)"
		i := strings.Index(s, arm)
		require.GreaterOrEqual(t, i, 0)
		return map[string]string{"x86": s[:i], "arm64": s[i+len(arm):]}
	}
	numbers := func(re *regexp.Regexp, s string) []int {
		var out []int
		for _, m := range re.FindAllStringSubmatch(s, -1) {
			n, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		slices.Sort(out)
		return out
	}
	set := split(region("#define SC_BIT(", "#define SC_WATCHED_WORDS"))
	classified := split(region("static __always_inline bool syscall_of(", "\n}\n"))
	bit := regexp.MustCompile(`SC_BIT\((\d+)\)`)
	kase := regexp.MustCompile(`case (\d+):`)
	for _, arch := range []string{"x86", "arm64"} {
		watched, known := numbers(bit, set[arch]), numbers(kase, classified[arch])
		require.NotEmpty(t, known, arch)
		require.Equal(t, known, watched, "%s: syscall_of's cases (expected) and the prologue's bit set (actual) differ", arch)
	}
}
