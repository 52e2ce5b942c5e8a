// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// The shape of Debian 12's podman profile: bpf and perf_event_open allowed
// only with CAP_SYS_ADMIN, EPERM without.
const debianProfile = `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
 {"names": ["read", "bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}, "excludes": {}},
 {"names": ["bpf", "perf_event_open", "setns"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}, "excludes": {}},
 {"names": ["bpf", "perf_event_open", "setns"], "action": "SCMP_ACT_ERRNO", "includes": {}, "excludes": {"caps": ["CAP_SYS_ADMIN"]}, "errnoRet": 1},
 {"names": ["perf_event_open"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}, "excludes": {}}
]}`

type rule struct {
	Names    []string `json:"names"`
	Action   string   `json:"action"`
	Includes struct {
		Caps   []string `json:"caps"`
		Arches []string `json:"arches"`
	} `json:"includes"`
	Excludes struct {
		Caps []string `json:"caps"`
	} `json:"excludes"`
}

func TestProfile(t *testing.T) {
	var out bytes.Buffer
	if err := run(strings.NewReader(debianProfile), &out); err != nil {
		t.Fatal(err)
	}
	var p struct {
		DefaultAction string `json:"defaultAction"`
		Syscalls      []rule `json:"syscalls"`
	}
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Errorf("defaultAction %q changed", p.DefaultAction)
	}
	// rulesFor: the rules naming call, as "ACTION +cap/-cap".
	rulesFor := func(call string) []string {
		var got []string
		for _, r := range p.Syscalls {
			if !slices.Contains(r.Names, call) {
				continue
			}
			s := r.Action
			for _, c := range r.Includes.Caps {
				s += " +" + c
			}
			for _, c := range r.Excludes.Caps {
				s += " -" + c
			}
			for _, a := range r.Includes.Arches {
				s += " arch:" + a
			}
			got = append(got, s)
		}
		return got
	}
	for call, want := range map[string][]string{
		// The arch rule, untouched; no CAP_SYS_ADMIN rule; CAP_BPF allows.
		"bpf":             {"SCMP_ACT_ALLOW arch:amd64", "SCMP_ACT_ALLOW +CAP_BPF", "SCMP_ACT_ERRNO -CAP_BPF"},
		"perf_event_open": {"SCMP_ACT_ALLOW +CAP_PERFMON", "SCMP_ACT_ERRNO -CAP_PERFMON"},
		// Other calls keep their rules.
		"setns": {"SCMP_ACT_ALLOW +CAP_SYS_ADMIN", "SCMP_ACT_ERRNO -CAP_SYS_ADMIN"},
	} {
		if got := rulesFor(call); !slices.Equal(got, want) {
			t.Errorf("%s: rules %q, want %q", call, got, want)
		}
	}
	if err := run(strings.NewReader(`{"syscalls": 3}`), &out); err == nil {
		t.Error("a profile without a syscalls list was accepted")
	}
}
