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

func startWithCapabilities(*exec.Cmd, []int) error {
	return errors.New("starting a child with fewer capabilities needs Linux")
}
