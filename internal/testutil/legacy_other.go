// SPDX-License-Identifier: Apache-2.0

//go:build linux && !amd64

package testutil

import "fmt"

// HasLegacySyscalls reports whether open(2), creat(2) and mknod(2) exist on
// this architecture (arm64 has only the *at forms).
const HasLegacySyscalls = false

func legacy(kind, _ string) error {
	return fmt.Errorf("%s(2) does not exist on this architecture", kind)
}

func legacyNr(kind, path string, _ uintptr) error { return legacy(kind, path) }

func legacyName(kind, _, _ string) error {
	return fmt.Errorf("%s(2) does not exist on this architecture", kind)
}
