// SPDX-License-Identifier: Apache-2.0

package repotest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDeployDocsMatchCode: what deploy/ says agrees with the code.
func TestDeployDocsMatchCode(t *testing.T) {
	root := repoRoot(t)
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// The unit must not skip itself where btf_path works (no
	// /sys/kernel/btf/vmlinux, a BTF file configured).
	unit := read("deploy/systemd/otelcol-kernelevents.service")
	if regexp.MustCompile(`(?m)^Condition[A-Za-z]*=.*btf`).MatchString(unit) {
		t.Error("the systemd unit has a Condition on kernel BTF: it skips the unit where btf_path works")
	}
	// The identity labels deploy/README.md names for the dashboard are the
	// dashboard's.
	readme := read("deploy/README.md")
	m := regexp.MustCompile(`(?s)named by the most\s+specific identity present: (.*?)\)`).FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("deploy/README.md no longer lists the dashboard's identity labels")
	}
	dashboards, _ := filepath.Glob(filepath.Join(root, "deploy", "grafana", "*.json"))
	var dash strings.Builder
	for _, d := range dashboards {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		dash.Write(b)
	}
	labels := regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(m[1], -1)
	if len(labels) < 5 {
		t.Fatalf("found %d labels in %q", len(labels), m[1])
	}
	for _, l := range labels {
		if !strings.Contains(dash.String(), l[1]) {
			t.Errorf("deploy/README.md names the label %s, which no dashboard uses", l[1])
		}
	}
	// The programs need 5.12+ (README): advice for older kernels is dead.
	for _, p := range []string{"deploy/systemd/otelcol-kernelevents.service", "deploy/kubernetes/daemonset.yaml",
		"deploy/kubernetes/helm-values.yaml", "deploy/README.md"} {
		s := read(p)
		if regexp.MustCompile(`before 5\.[0-9]\b`).MatchString(s) {
			t.Errorf("%s gives advice for kernels before 5.12, which the programs do not load on", p)
		}
		if strings.Contains(s, "TODO(") {
			t.Errorf("%s has a TODO", p)
		}
	}
}
