// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

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
