// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A node's mount table: the root filesystem (8:1), /var/lib/data a bind of
// its /srv/data, /tmp a tmpfs (0:30), a tmpfs mounted over /mnt/x twice
// (0:31 below 0:32), a disk (8:17) at /mnt/with\040space.
const testMountInfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 8:1 /srv/data /var/lib/data rw,relatime shared:1 - ext4 /dev/sda1 rw
31 22 0:30 / /tmp rw shared:2 - tmpfs tmpfs rw
32 22 0:31 / /mnt/x rw shared:3 - tmpfs tmpfs rw
33 32 0:32 / /mnt/x rw shared:4 - tmpfs tmpfs rw
34 22 8:17 / /mnt/with\040space rw shared:5 - ext4 /dev/sdb1 rw
`

func testTable(t *testing.T) *mountTable {
	t.Helper()
	f := filepath.Join(t.TempDir(), "mountinfo")
	require.NoError(t, os.WriteFile(f, []byte(testMountInfo), 0o644))
	tab, err := readMountTable(f)
	require.NoError(t, err)
	return tab
}

func kdev(major, minor uint32) uint32 { return major<<20 | minor }

// TestNodePathFromMountTable: a filesystem path maps to its node path
// through the narrowest mount holding it; a device or path the node does
// not mount has none.
func TestNodePathFromMountTable(t *testing.T) {
	tab := testTable(t)
	for _, tc := range []struct {
		dev    uint32
		fsPath string
		want   string
		ok     bool
	}{
		{kdev(8, 1), "/etc/passwd", "/etc/passwd", true},
		{kdev(8, 1), "/srv/data/x", "/var/lib/data/x", true}, // the bind's root is the longest
		{kdev(8, 1), "/srv/database", "/srv/database", true}, // not under /srv/data
		{kdev(8, 1), "/srv/data", "/var/lib/data", true},     // the bind's root itself
		{kdev(0, 30), "/ke-1/f", "/tmp/ke-1/f", true},        // a tmpfs from its own root
		{kdev(0, 32), "/f", "/mnt/x/f", true},                // the top of two
		{kdev(8, 17), "/a", "/mnt/with space/a", true},       // mountinfo's escapes undone
		{kdev(0, 99), "/private", "", false},                 // a namespace's own tmpfs
	} {
		got, ok := tab.nodePath(nil, tc.dev, []byte(tc.fsPath))
		assert.Equal(t, tc.ok, ok, tc.fsPath)
		assert.Equal(t, tc.want, string(got), tc.fsPath)
	}
}

// TestPrefixKeys: a node prefix becomes the path inside the filesystem of
// every mount that holds it (each of a stack of mounts on or above it), and
// the whole of every mount below it.
func TestPrefixKeys(t *testing.T) {
	tab := testTable(t)
	assert.Equal(t, map[uint32][]string{kdev(8, 1): {"/etc/cron.d/"}}, tab.prefixKeys([]string{"/etc/cron.d/"}))
	// The bind's root and, below the bind, the root filesystem's own
	// /var/lib/data (a process whose cwd is there from before the bind).
	assert.Equal(t, map[uint32][]string{kdev(8, 1): {"/srv/data/app/", "/var/lib/data/app/"}}, tab.prefixKeys([]string{"/var/lib/data/app/"}))
	assert.Equal(t, map[uint32][]string{kdev(8, 1): {"/srv/data/", "/var/lib/"}}, tab.prefixKeys([]string{"/var/lib/"}))
	assert.Equal(t, map[uint32][]string{kdev(0, 30): {"/"}, kdev(8, 1): {"/tmp/"}}, tab.prefixKeys([]string{"/tmp/"}))
	assert.Equal(t, map[uint32][]string{kdev(0, 30): {"/ke"}, kdev(8, 1): {"/tmp/ke"}}, tab.prefixKeys([]string{"/tmp/ke"}))
	// "/mnt/" holds the tmpfs mounts and the disk below it, whole.
	assert.Equal(t, map[uint32][]string{kdev(8, 1): {"/mnt/"}, kdev(0, 31): {"/"}, kdev(0, 32): {"/"}, kdev(8, 17): {"/"}},
		tab.prefixKeys([]string{"/mnt/"}))
	// Of two mounts on one point, the top one holds what is under it, and
	// the one below (and the root filesystem below both) what a directory
	// opened before the mount above creates.
	assert.Equal(t, map[uint32][]string{kdev(0, 32): {"/a/"}, kdev(0, 31): {"/a/"}, kdev(8, 1): {"/mnt/x/a/"}},
		tab.prefixKeys([]string{"/mnt/x/a/"}))
	assert.True(t, matchKeys(tab.prefixKeys([]string{"/var/lib/data/app/"}), kdev(8, 1), []byte("/srv/data/app/f"), false))
	assert.False(t, matchKeys(tab.prefixKeys([]string{"/var/lib/data/app/"}), kdev(8, 1), []byte("/srv/data/other"), false))
	// A directory renamed into place: inside, the watched directory itself,
	// or an ancestor of it (it brings what it holds); a sibling is not.
	keys := tab.prefixKeys([]string{"/var/lib/data/app/"})
	for _, p := range []string{"/srv/data/app/d", "/srv/data/app", "/srv/data", "/srv", "/var/lib/data/app", "/var/lib"} {
		assert.True(t, matchKeys(keys, kdev(8, 1), []byte(p), true), p)
		if p != "/srv/data/app/d" {
			assert.False(t, matchKeys(keys, kdev(8, 1), []byte(p), false), "%s as a file", p)
		}
	}
	for _, p := range []string{"/srv/data/ap", "/srv/dat", "/srv/data/other", "/var/lib/data/apps"} {
		assert.False(t, matchKeys(keys, kdev(8, 1), []byte(p), true), p)
	}
	assert.Equal(t, []string{"/srv/\x00", "/srv/data/\x00", "/srv/data/app/\x00"}, exactKeys("/srv/data/app/"))
	assert.Equal(t, []string{"/tmp/\x00"}, exactKeys("/tmp/ke"))
	assert.Empty(t, exactKeys("/"))
	long := "/" + strings.Repeat("a", MaxPathPrefix-3) + "/b/"
	assert.Equal(t, []string{long[:MaxPathPrefix-1] + "\x00"}, exactKeys(long), "none past the kernel's key length")
	var ssh, alice [watchedNameLen]byte
	copy(ssh[:], ".ssh")
	copy(alice[:], "alice")
	assert.Equal(t, [][watchedNameLen]byte{alice, ssh}, watchedNames("/alice/.ssh/"))
	var cut [watchedNameLen]byte
	copy(cut[:watchedNameLen-1], strings.Repeat("n", 100))
	assert.Equal(t, [][watchedNameLen]byte{cut}, watchedNames("/"+strings.Repeat("n", 100)+"/"), "cut as the kernel cuts it")
}

// TestMountsChangedTold: the function set with setChanged is told the
// node's filesystems at once and again when one leaves the table (or comes),
// not when a re-read finds the same set.
func TestMountsChangedTold(t *testing.T) {
	f := filepath.Join(t.TempDir(), "mountinfo")
	require.NoError(t, os.WriteFile(f, []byte(testMountInfo), 0o644))
	w, err := newWhere(f, nil, &commonMaps{})
	require.NoError(t, err)
	var told []map[uint64]bool
	w.setChanged(func(devs map[uint64]bool) { told = append(told, devs) })
	require.Len(t, told, 1)
	assert.Equal(t, map[uint64]bool{
		unix.Mkdev(8, 1): true, unix.Mkdev(0, 30): true, unix.Mkdev(0, 31): true,
		unix.Mkdev(0, 32): true, unix.Mkdev(8, 17): true,
	}, told[0])

	require.NoError(t, w.refresh())
	assert.Len(t, told, 1, "the same filesystems: nothing to tell")

	// The tmpfs on /tmp (0:30) is unmounted.
	lines := strings.SplitAfter(testMountInfo, "\n")
	require.NoError(t, os.WriteFile(f, []byte(lines[0]+lines[1]+strings.Join(lines[3:], "")), 0o644))
	require.NoError(t, w.refresh())
	require.Len(t, told, 2)
	assert.False(t, told[1][unix.Mkdev(0, 30)], "0:30 left the table")
	assert.True(t, told[1][unix.Mkdev(8, 1)])
}
