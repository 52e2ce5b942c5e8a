// SPDX-License-Identifier: Apache-2.0

//go:build linux && !amd64

package testutil

import "testing"

// ExeSwapCreated is the name of the file ExeSwapper's program creates.
const ExeSwapCreated = "prctl-created"

// ExeSwapper's program is x86-64 machine code (exeswap_linux_amd64.go):
// elsewhere the test skips, or fails when Strict.
func ExeSwapper(t testing.TB, dir string) string {
	t.Helper()
	SkipUnlessStrict(t, "the executable-swapping program is x86-64 code only")
	return ""
}
