// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// testFS is a filesystem the bench owns: nothing else creates files on it,
// so fanotify's filesystem mark and the counts see only the generator.
type testFS struct {
	name   string // "tmpfs" or "ext4"
	root   string // mount point
	detail string // how it was made, for the report
	runs   int    // directories handed out, for unique names
}

// newRunDir makes a fresh, empty directory for one measured run.
func (fs *testFS) newRunDir(tag string) (string, error) {
	fs.runs++
	dir := filepath.Join(fs.root, fmt.Sprintf("%s-%04d", tag, fs.runs))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("make run dir: %w", err)
	}
	return dir, nil
}

// settle flushes the filesystem so that writeback of the previous run (ext4
// journal commits, inode writeback) does not land in the next one.
func (fs *testFS) settle() error {
	fd, err := unix.Open(fs.root, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", fs.root, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs %s: %w", fs.root, err)
	}
	return nil
}

func mountFilesystems(ctx context.Context, base string, ext4 bool, cl *cleanups) ([]*testFS, error) {
	tmp, err := mountTmpfs(base, cl)
	if err != nil {
		return nil, err
	}
	fss := []*testFS{tmp}
	if ext4 {
		e, err := mountExt4(ctx, base, cl)
		if err != nil {
			return nil, err
		}
		fss = append(fss, e)
	}
	return fss, nil
}

// mountTmpfs mounts a tmpfs of its own (private propagation, so the mount
// does not show up in other mount namespaces).
func mountTmpfs(base string, cl *cleanups) (*testFS, error) {
	dir := filepath.Join(base, "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	const opts = "size=2g,nr_inodes=2000000,mode=0755"
	if err := unix.Mount("kebench", dir, "tmpfs", 0, opts); err != nil {
		return nil, fmt.Errorf("mount tmpfs: %w", err)
	}
	cl.add("unmount "+dir, func() error { return unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make tmpfs private: %w", err)
	}
	return &testFS{name: "tmpfs", root: dir, detail: "tmpfs " + opts}, nil
}

// mountExt4 makes ext4 on a sparse file on a loop device. The inode tables
// and journal are initialised at mkfs time: otherwise ext4lazyinit writes
// them in the background during the measurements.
func mountExt4(ctx context.Context, base string, cl *cleanups) (*testFS, error) {
	img := filepath.Join(base, "ext4.img")
	f, err := os.Create(img)
	if err != nil {
		return nil, err
	}
	cl.add("remove "+img, func() error { return os.Remove(img) })
	err = f.Truncate(4 << 30)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("size %s: %w", img, err)
	}
	const mkfsOpts = "-N 1500000 -E lazy_itable_init=0,lazy_journal_init=0"
	if out, err := command(ctx, "mkfs.ext4", append([]string{"-q", "-F"}, append(strings.Fields(mkfsOpts), img)...)...); err != nil {
		return nil, fmt.Errorf("mkfs.ext4: %w: %s", err, out)
	}
	out, err := command(ctx, "losetup", "--find", "--show", img)
	if err != nil {
		return nil, fmt.Errorf("losetup: %w: %s", err, out)
	}
	dev := strings.TrimSpace(out)
	// Detach with a fresh context: cleanup must run after an interrupt too.
	cl.add("detach "+dev, func() error {
		if out, err := command(context.Background(), "losetup", "-d", dev); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
	dir := filepath.Join(base, "ext4")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	if err := unix.Mount(dev, dir, "ext4", 0, ""); err != nil {
		return nil, fmt.Errorf("mount %s: %w", dev, err)
	}
	cl.add("unmount "+dir, func() error { return unix.Unmount(dir, 0) })
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make ext4 mount private: %w", err)
	}
	return &testFS{name: "ext4", root: dir, detail: fmt.Sprintf("ext4 (mkfs.ext4 %s) on %s, backed by a 4 GiB sparse file", mkfsOpts, dev)}, nil
}

// command runs a tool and returns its combined output.
func command(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
