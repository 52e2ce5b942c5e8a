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
// elsewhere the test skips, or fails when Strict.
func ExeSwapper(t testing.TB, dir string) string {
	t.Helper()
	SkipUnlessStrict(t, "the executable-swapping program is x86-64 code only")
	return ""
}
