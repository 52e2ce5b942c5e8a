// SPDX-License-Identifier: Apache-2.0

// Package procstatus reads fields of /proc/<pid>/status: the loader's own
// capabilities, and the capabilities and memory of processes tests and the
// benchmark watch.
package procstatus

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Field returns the value of one line of /proc/<pid>/status, trimmed
// ("VmRSS" gives "1234 kB").
func Field(pid int, key string) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no %s line in /proc/%d/status", key, pid)
}

// Capabilities returns the effective capability set of process pid.
func Capabilities(pid int) (uint64, error) {
	v, err := Field(pid, "CapEff")
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(v, 16, 64)
}

// Bytes returns a memory field ("VmRSS", "VmHWM") of process pid in bytes.
func Bytes(pid int, key string) (uint64, error) {
	v, err := Field(pid, key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s %q: %w", key, v, err)
	}
	return n << 10, nil
}
