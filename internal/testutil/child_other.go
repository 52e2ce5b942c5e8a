// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package testutil

import "errors"

// HasLegacySyscalls is false outside Linux.
const HasLegacySyscalls = false

func runChild(*ChildSpec) error { return errors.New("file-creating child needs Linux") }
