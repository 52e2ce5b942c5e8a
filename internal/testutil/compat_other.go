// SPDX-License-Identifier: Apache-2.0

//go:build linux && !amd64

package testutil

import "fmt"

// HasCompatSyscalls reports whether the child can make 32-bit syscalls
// (ia32 through int $0x80 on amd64). AArch32 code cannot run inside an
// arm64 Go binary, so arm64 has none here.
const HasCompatSyscalls = false

// CompatSyscallsEnabled reports whether the kernel runs 32-bit syscalls.
func CompatSyscallsEnabled() bool { return false }

func compat(kind string, _ int, _ string) error {
	return fmt.Errorf("%s: no 32-bit syscalls on this architecture", kind)
}
