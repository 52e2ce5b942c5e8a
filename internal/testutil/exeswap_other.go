// SPDX-License-Identifier: Apache-2.0

//go:build linux && !amd64

package testutil

import "testing"

// ExeSwapCreated and ExeSwapChildCreated are the names of the files
// ExeSwapper's program, and its child, create.
const (
	ExeSwapCreated      = "prctl-created"
	ExeSwapChildCreated = "prctl-child"
)

// ExeSwapper's program is x86-64 machine code (exeswap_linux_amd64.go):
// elsewhere the test skips, strict or not. This is the test's own tool,
// written for one instruction set, not a kernel feature or a privilege the
// machine lacks; the kernel side it tests (bpf/exec.h) is the same C on
// every architecture (README, "Evasions tried").
func ExeSwapper(t testing.TB, dir string) string {
	t.Helper()
	t.Skip("the executable-swapping program is x86-64 code only")
	return ""
}
