// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// OpWaitGone keeps the child alive until the file Path (relative to Dir) no
// longer exists, at most a minute: the test removes it once user space has
// looked the child up (for example asked a SPIRE agent about its pid).
const OpWaitGone = "wait_gone"

func waitGone(dir int, op Op) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var st unix.Stat_t
		err := unix.Fstatat(dir, op.Path, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stat %s: %w", op.Path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s still exists after a minute", op.Path)
}
