// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"testing"
)

// TestAuditContext runs the check for real. KERNELEVENTS_EXPECT_AUDIT_SLOW
// ("0" or "1") says what the kernel must answer: the VM boots with audit=1
// or without it (see bench/README.md); unset, the test only requires an
// answer.
func TestAuditContext(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" || os.Getenv("KERNELEVENTS_REQUIRE_BPF") == "1" {
			t.Fatal("needs root (CAP_BPF, CAP_PERFMON) to load the audit-context check")
		}
		t.Skip("needs root (CAP_BPF, CAP_PERFMON) to load the audit-context check")
	}
	st := checkAuditContext()
	if !st.known {
		t.Fatalf("the audit-context check gave no answer: %s", st.why)
	}
	t.Logf("audit context in this process: %v", st.slow)
	switch os.Getenv("KERNELEVENTS_EXPECT_AUDIT_SLOW") {
	case "1":
		if !st.slow {
			t.Fatal("booted with audit=1, but no audit context found in this process")
		}
	case "0":
		if st.slow {
			t.Fatal("audit never enabled in this boot, but an audit context was found")
		}
	}
}
