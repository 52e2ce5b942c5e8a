// SPDX-License-Identifier: Apache-2.0

package repotest

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// collectorBinary is the collector make build produced (make test sets
// KERNELEVENTS_COLLECTOR).
func collectorBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("KERNELEVENTS_COLLECTOR")
	if p == "" {
		testutil.SkipUnlessStrict(t, "KERNELEVENTS_COLLECTOR is not set: run make test, which builds the collector")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("KERNELEVENTS_COLLECTOR: %v", err)
	}
	return p
}

// TestCollectorStaticAndStamped: the binary make build ships (and the image
// and .deb carry) is static, built with -trimpath and without cgo, and says
// its version (builder-config.yaml) and the commit it was built from.
func TestCollectorStaticAndStamped(t *testing.T) {
	bin := collectorBinary(t)
	root := repoRoot(t)

	// Static: no program interpreter and no shared libraries, so it runs
	// FROM scratch and on any distribution.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter (PT_INTERP): dynamically linked", bin)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v (%v)", bin, libs, err)
	}
	defer f.Close()

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for k, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux"} {
		if settings[k] != want {
			t.Errorf("build setting %s = %q, want %q", k, settings[k], want)
		}
	}
	// -s -w: stripped (Go leaves -ldflags out of the build info under -trimpath).
	if f.Section(".symtab") != nil || f.Section(".debug_info") != nil {
		t.Errorf("%s has a symbol table or DWARF: not built with -ldflags='-s -w'", bin)
	}
	// -trimpath: no path of this machine in the binary.
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	for _, p := range []string{root, filepath.Join(home, "go", "pkg", "mod")} {
		if bytes.Contains(data, []byte(p)) {
			t.Errorf("the binary contains the build path %s (not -trimpath)", p)
		}
	}

	// The version: builder-config.yaml's dist.version, then the commit
	// (semver build metadata), in --version and so in service.version.
	cfg, err := os.ReadFile(filepath.Join(root, "builder-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^  version: *(\S+)$`).FindSubmatch(cfg)
	if m == nil {
		t.Fatal("no dist.version in builder-config.yaml")
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v: %s", bin, err, out)
	}
	want := "otelcol-kernelevents version " + string(m[1])
	if head, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		want += "+" + strings.TrimSpace(string(head))
	} else {
		t.Logf("no git here (%v): the version carries no commit", err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("--version printed %q, want %q (make build relinks on a new commit)", got, want)
	}
	t.Logf("static, stripped, -trimpath, CGO_ENABLED=0: %s", strings.TrimSpace(string(out)))
}
