// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package testutil

import (
	"errors"
	"os/exec"
)

// HasLegacySyscalls is false outside Linux.
const HasLegacySyscalls = false

func runChild(*ChildSpec) error { return errors.New("file-creating child needs Linux") }

func startRestricted(*exec.Cmd, []int, []uintptr) error {
	return errors.New("starting a child with fewer capabilities or under seccomp needs Linux")
}

// WithSeccompDeny needs Linux: elsewhere the child does not start.
func WithSeccompDeny(nrs ...uintptr) ChildOption {
	return func(c *childStart) { c.deny = append([]uintptr{}, nrs...) }
}
