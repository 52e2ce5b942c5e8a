// SPDX-License-Identifier: Apache-2.0

package repotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestChangelog: CHANGELOG.md opens with Unreleased, then released versions
// newest first, each with only the known sections; every version tag has
// its section; and every rename the README lists is in it (a rename a user
// cannot find in the changelog breaks their dashboards silently).
func TestChangelog(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.HasPrefix(log, "# Changelog\n") {
		t.Error("CHANGELOG.md does not start with # Changelog")
	}
	versions := regexp.MustCompile(`(?m)^## (.*)$`).FindAllStringSubmatch(log, -1)
	if len(versions) == 0 || versions[0][1] != "Unreleased" {
		t.Fatalf("the first section of CHANGELOG.md must be ## Unreleased, got %v", versions)
	}
	released := map[string]bool{}
	for _, v := range versions[1:] {
		m := regexp.MustCompile(`^([0-9]+\.[0-9]+\.[0-9]+) \([0-9]{4}-[0-9]{2}-[0-9]{2}\)$`).FindStringSubmatch(v[1])
		if m == nil {
			t.Errorf("CHANGELOG.md section %q: want ## X.Y.Z (YYYY-MM-DD)", v[1])
			continue
		}
		released[m[1]] = true
	}
	allowed := map[string]bool{"Breaking": true, "Deprecated": true, "Added": true, "Changed": true, "Fixed": true}
	for _, s := range regexp.MustCompile(`(?m)^### (.*)$`).FindAllStringSubmatch(log, -1) {
		if !allowed[s[1]] {
			t.Errorf("CHANGELOG.md has a section %q: want one of Breaking, Deprecated, Added, Changed, Fixed", s[1])
		}
	}
	out, err := exec.Command("git", "-C", root, "tag", "--list", "v*").Output()
	if err != nil {
		t.Fatalf("git tag: %v", err)
	}
	for _, tag := range strings.Fields(string(out)) {
		if !released[strings.TrimPrefix(tag, "v")] {
			t.Errorf("tag %s has no ## %s section in CHANGELOG.md", tag, strings.TrimPrefix(tag, "v"))
		}
	}

	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(readme), "Renamed in this version")
	if i < 0 {
		t.Fatal("README.md no longer lists the renames (Renamed in this version)")
	}
	para := string(readme[i:])
	para = para[:strings.Index(para, "\n\n")]
	renames := regexp.MustCompile("`([^`]+)` → `([^`]+)`").FindAllStringSubmatch(para, -1)
	if len(renames) < 5 {
		t.Fatalf("found %d renames in the README's paragraph", len(renames))
	}
	flat := strings.Join(strings.Fields(log), " ")
	for _, r := range renames {
		if !strings.Contains(flat, "`"+r[1]+"` → `"+r[2]+"`") {
			t.Errorf("README.md renames %s to %s; CHANGELOG.md does not say so", r[1], r[2])
		}
	}
}
