// SPDX-License-Identifier: Apache-2.0

//go:build !linux

// Command bench measures the kernel_events receiver's cost; it needs Linux
// (eBPF, fanotify, audit). See bench/README.md.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: Linux only (eBPF, fanotify, audit)")
	os.Exit(1)
}
