// SPDX-License-Identifier: Apache-2.0

// Command seccomp writes the seccomp profile the collector's container needs:
// the container runtime's own default profile (containers/common format, on
// stdin: /usr/share/containers/seccomp.json) with bpf() allowed under
// CAP_BPF and perf_event_open() under CAP_PERFMON instead of CAP_SYS_ADMIN,
// as containerd's and CRI-O's defaults do. Older profiles (podman 4.3 in
// Debian 12) allow both calls only with CAP_SYS_ADMIN, so a container that
// holds just CAP_BPF and CAP_PERFMON gets EPERM from bpf() itself. Every
// other rule is kept, so the container stays under the runtime's filter
// rather than seccomp=unconfined.
//
//	go run ./packaging/seccomp </usr/share/containers/seccomp.json >seccomp.json
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
)

// byCap: each call and the capability that allows it.
var byCap = []struct{ call, capability string }{
	{"bpf", "CAP_BPF"},
	{"perf_event_open", "CAP_PERFMON"},
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "seccomp:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var profile map[string]any
	if err := json.NewDecoder(in).Decode(&profile); err != nil {
		return fmt.Errorf("reading the runtime's profile: %w", err)
	}
	rules, ok := profile["syscalls"].([]any)
	if !ok {
		return fmt.Errorf("the profile has no syscalls list")
	}
	calls := make([]string, len(byCap))
	for i, c := range byCap {
		calls[i] = c.call
	}
	// Take bpf and perf_event_open out of every rule gated on a capability
	// (the CAP_SYS_ADMIN allow rule and its EPERM counterpart).
	var kept []any
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		names, _ := rule["names"].([]any)
		if !gatedOnCapability(rule) {
			kept = append(kept, r)
			continue
		}
		var rest []any
		for _, n := range names {
			if s, _ := n.(string); !slices.Contains(calls, s) {
				rest = append(rest, n)
			}
		}
		if len(rest) == 0 {
			continue
		}
		rule["names"] = rest
		kept = append(kept, rule)
	}
	// Allowed with the capability, EPERM without (the runtime's own pattern).
	for _, c := range byCap {
		kept = append(kept,
			map[string]any{
				"names": []string{c.call}, "action": "SCMP_ACT_ALLOW", "args": []any{},
				"comment":  "kernelevents: " + c.call + " with " + c.capability,
				"includes": map[string]any{"caps": []string{c.capability}}, "excludes": map[string]any{},
			},
			map[string]any{
				"names": []string{c.call}, "action": "SCMP_ACT_ERRNO", "args": []any{},
				"comment":  "kernelevents: " + c.call + " without " + c.capability,
				"includes": map[string]any{}, "excludes": map[string]any{"caps": []string{c.capability}},
				"errnoRet": 1, "errno": "EPERM",
			})
	}
	profile["syscalls"] = kept
	enc := json.NewEncoder(out)
	enc.SetIndent("", "\t")
	return enc.Encode(profile)
}

// gatedOnCapability: a rule that applies only with (includes) or without
// (excludes) some capability.
func gatedOnCapability(rule map[string]any) bool {
	for _, k := range []string{"includes", "excludes"} {
		m, _ := rule[k].(map[string]any)
		if caps, _ := m["caps"].([]any); len(caps) > 0 {
			return true
		}
	}
	return false
}
