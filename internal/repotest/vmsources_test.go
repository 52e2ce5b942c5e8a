// SPDX-License-Identifier: Apache-2.0

package repotest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// TestVMKernelsFromOwnSources: the VM matrix finds Debian's 6.12 kernel
// (in bookworm-security only) on a host whose apt sources have only
// `bookworm main`, as a debootstrap root or a minimal image has: the kernels
// come through the project's own sources list, and the host's apt lists are
// not touched. Needs the network to the Debian mirror.
func TestVMKernelsFromOwnSources(t *testing.T) {
	requireSetupTools(t)
	dir := testutil.TempDir(t)
	// The "host": apt that sees only bookworm main, lists of its own.
	hostLists := filepath.Join(dir, "host-lists")
	for _, d := range []string{filepath.Join(hostLists, "partial"), filepath.Join(dir, "parts")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sources := filepath.Join(dir, "sources.list")
	if err := os.WriteFile(sources, []byte("deb http://deb.debian.org/debian bookworm main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "apt.conf")
	if err := os.WriteFile(conf, []byte(`Dir::Etc::SourceList "`+sources+`";
Dir::Etc::SourceParts "`+filepath.Join(dir, "parts")+`";
Dir::State::Lists "`+hostLists+`";
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "APT_CONFIG=" + conf, "LANG=C",
		"KERNELEVENTS_VMTEST_CACHE=" + filepath.Join(dir, "vm")}
	script := `source internal/vmtest/lib.sh && vm_kernel_pkg amd64 linux-image-6.12-amd64`
	code, stdout, stderr := run(t, env, "bash", "-c", script)
	if code != 0 {
		t.Fatalf("vm_kernel_pkg: exit %d\n%s", code, stderr)
	}
	if !regexp.MustCompile(`^linux-image-6\.12\.[0-9]+\+deb12-amd64\n$`).MatchString(stdout) {
		t.Errorf("vm_kernel_pkg amd64 linux-image-6.12-amd64 printed %q (stderr %s); want linux-image-6.12.N+deb12-amd64", stdout, stderr)
	}
	// The host's lists (bookworm main only) were not where it looked.
	entries, _ := os.ReadDir(hostLists)
	for _, e := range entries {
		if strings.Contains(e.Name(), "security") {
			t.Errorf("the host's apt lists gained %s", e.Name())
		}
	}
	own, _ := filepath.Glob(filepath.Join(dir, "vm", "amd64", "apt", "lists", "*security*Packages*"))
	if len(own) == 0 {
		t.Errorf("no bookworm-security list under the VM cache's own apt state")
	}
}

// TestVMRowTestSetsNameRealTests: a matrix row that runs a test set
// (VMTEST_FOCUS_* in internal/vmtest/lib.sh, given to go test -run) names
// only tests that exist in internal/probe, and each set is a -run pattern
// of whole names: a test renamed or removed must not drop silently out of
// the rows that run the set.
func TestVMRowTestSetsNameRealTests(t *testing.T) {
	root := repoRoot(t)
	var src strings.Builder
	files, err := filepath.Glob(filepath.Join(root, "internal", "probe", "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("internal/probe's tests: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	tests := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`).FindAllStringSubmatch(src.String(), -1) {
		tests[m[1]] = true
	}
	// Every row's pattern, as vmtest.sh gives it to go test.
	script := `source internal/vmtest/lib.sh && vm_kernel_rows | while read -r k _; do vm_kernel_row "$k" && printf '%s\t%s\n' "$k" "$krun"; done`
	code, stdout, stderr := run(t, []string{"PATH=" + os.Getenv("PATH")}, "bash", "-c", script)
	if code != 0 {
		t.Fatalf("the matrix's rows: exit %d\n%s", code, stderr)
	}
	whole := regexp.MustCompile(`^\^\(((?:Test\w+\|)*Test\w+)\)\$$`)
	sets := 0
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		row, pattern, _ := strings.Cut(line, "\t")
		if pattern == "" {
			continue
		}
		sets++
		m := whole.FindStringSubmatch(pattern)
		if m == nil {
			t.Errorf("row %s: test set %q is not ^(TestA|TestB|...)$", row, pattern)
			continue
		}
		for _, name := range strings.Split(m[1], "|") {
			if !tests[name] {
				t.Errorf("row %s runs %s, which internal/probe does not have", row, name)
			}
		}
	}
	if sets == 0 {
		t.Errorf("no row of the matrix has a test set; rows:\n%s", stdout)
	}
	t.Logf("%d tests in internal/probe; rows and sets:\n%s", len(tests), stdout)
}
