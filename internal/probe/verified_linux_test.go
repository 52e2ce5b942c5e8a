// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"errors"
	"slices"
	"sort"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// verifiedBudget bounds what the verifier may walk per program: 85 % of the
// kernel's limit (BPF_COMPLEXITY_LIMIT_INSNS, 1M). The heaviest program,
// tp_sys_exit (path walks: open, mknod, link; the lookup of names with a
// '/'; the copy-up's report), took 551k on 6.18 on 2026-11-30, 748k on
// 2026-12-06 before the copy-up's report and 805k after it (6.12: 725k,
// 6.1: 679k), 802k since the creator's name is loads (6.12: 526k, 6.1:
// 635k; a name written two ways had made 6.1 walk 820k); the others up to
// 682k (io_uring_complete). Three quarters until the copy-up's report, whose walk
// is a global function of its own (57k): sharing the open's walk would put
// the open's chain of calls past the 512 bytes of stack 6.1 allows. A change that makes one
// grow towards the limit (a branch inside a walk, a loop the verifier can no
// longer prune) fails here on every kernel of the matrix before it fails to
// load on some other one.
const verifiedBudget = 850_000

// TestVerifiedInstructions puts every hook's programs through this
// kernel's verifier the way VerifyLoad does, attached or not (kretprobe and
// fexit programs load wherever the kernel allows their program type), and
// logs how many instructions the verifier processed for each
// (bpf_prog_info.verified_insns, 5.16+), failing past verifiedBudget. It is
// VerifyLoad's test too: one load per hook serves both (in the VMs, where
// qemu emulates the verifier, a load of the tracepoint hook takes tens of
// seconds).
func TestVerifiedInstructions(t *testing.T) {
	testutil.RequireRoot(t)
	for _, h := range Hooks {
		t.Run(string(h), func(t *testing.T) {
			opts := DefaultOptions()
			objs, err := verifyLoad(h, &opts)
			if errors.Is(err, ebpf.ErrNotSupported) && !slices.Contains(requiredHooks(), h) {
				t.Skipf("this kernel refuses %s programs: %v", h, err)
			}
			require.NoError(t, err, "load %s", h)
			defer objs.close()
			progs := objs.allPrograms()
			sort.Slice(progs, func(i, j int) bool { return progs[i].String() < progs[j].String() })
			for _, prog := range progs {
				name := prog.String()
				info, err := prog.Info()
				require.NoError(t, err)
				n, ok := info.VerifiedInstructions()
				if !ok {
					t.Logf("%s: this kernel does not report verified instructions (5.16+)", name)
					continue
				}
				t.Logf("%s: %d verified instructions", name, n)
				assert.LessOrEqual(t, n, uint32(verifiedBudget), "%s: verified instructions", name)
			}
		})
	}
}
