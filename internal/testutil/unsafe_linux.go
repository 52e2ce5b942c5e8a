// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import "unsafe"

func unsafePointer(p *byte) unsafe.Pointer { return unsafe.Pointer(p) }

// unsafePtr returns a pointer to a NUL-terminated copy of s for prctl.
func unsafePtr(s string) unsafe.Pointer {
	b := append([]byte(s), 0)
	return unsafe.Pointer(&b[0])
}
