// SPDX-License-Identifier: Apache-2.0

//go:build linux

package testutil

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OpLandlockDenied makes a file with an open that fails after the kernel
// made it, with no privilege: the child's thread takes a Landlock ruleset
// that allows making regular files in the dir but neither reading nor
// writing files (RestrictMakeReg, noOpen), then opens Path
// O_CREAT|O_WRONLY. Landlock allows the create (security_path_mknod) and
// refuses the open (security_file_open): EACCES, with the file left on
// disk. It must be the child's last op (the thread stays restricted). It
// fails unless the open fails with EACCES and the file exists afterwards,
// so a kernel without Landlock fails the op instead of making a test pass
// on nothing.
//
// Around it, the same thread's opens that fail without creating, which a
// hook must not take for a create that failed after it: before the
// ruleset, Path+".before" is made by an open that works, then opened
// O_CREAT|O_EXCL again (EEXIST); after the refused open, Path is opened
// O_CREAT|O_EXCL again (EEXIST).
//
// With For "io_uring" the refused open is an IORING_OP_OPENAT on a ring the
// restricted thread makes: the ring's io-wq worker, which runs the open
// under the thread's credentials, makes the file and gets EACCES.
const OpLandlockDenied = "landlock_denied_create"

// RestrictMakeReg restricts the calling thread, for good, with a Landlock
// ruleset: it may make regular files (mknod, an open's create) and
// symbolic links beneath dir only; with noOpen it may not open files for
// reading or writing either. The thread's no_new_privs is set (Landlock needs it without
// CAP_SYS_ADMIN). Lock the goroutine to its thread first, and never unlock
// it: the thread ends with the goroutine.
func RestrictMakeReg(dir string, noOpen bool) error {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(dfd)
	return restrictMakeReg(dfd, noOpen)
}

func restrictMakeReg(dfd int, noOpen bool) error {
	const mk = unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SYM
	handled := uint64(mk)
	if noOpen {
		handled |= unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE
	}
	attr := unix.LandlockRulesetAttr{Access_fs: handled}
	rs, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		return fmt.Errorf("landlock_create_ruleset (the kernel's Landlock LSM: CONFIG_SECURITY_LANDLOCK and lsm=): %w", errno)
	}
	defer unix.Close(int(rs))
	rule := unix.LandlockPathBeneathAttr{Allowed_access: mk, Parent_fd: int32(dfd)}
	if _, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, rs, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&rule)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("landlock_add_rule: %w", errno)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, rs, 0, 0); errno != 0 {
		return fmt.Errorf("landlock_restrict_self: %w", errno)
	}
	return nil
}

func landlockDenied(dir int, path string, uring bool) error {
	const excl = unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY | unix.O_CLOEXEC
	if err := closeFd(unix.Openat(dir, path+".before", excl, 0o644)); err != nil {
		return fmt.Errorf("create %s.before: %w", path, err)
	}
	if err := closeFd(unix.Openat(dir, path+".before", excl, 0o644)); !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("want EEXIST from an O_EXCL open of %s.before, got %v", path, err)
	}
	if err := restrictMakeReg(dir, true); err != nil {
		return err
	}
	const flags = unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC
	var err error
	if uring {
		var res int32
		if res, err = uringOpen(dir, path, flags, false, false, 0); err == nil && res < 0 {
			err = unix.Errno(-res)
		}
	} else {
		err = closeFd(unix.Openat(dir, path, flags, 0o644))
	}
	if !errors.Is(err, unix.EACCES) {
		return fmt.Errorf("want EACCES from the open Landlock refuses (io_uring: %v), got %v", uring, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dir, path, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("the refused open left no file (the kernel refused before creating): %w", err)
	}
	if err := closeFd(unix.Openat(dir, path, excl, 0o644)); !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("want EEXIST from an O_EXCL open of %s, got %v", path, err)
	}
	return nil
}
