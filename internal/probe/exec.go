// SPDX-License-Identifier: Apache-2.0

package probe

// ExecFile is what the kernel recorded of one exec (bpf/exec.h): the file it
// mapped.
type ExecFile struct {
	// Dev (a user-space dev_t) and Ino name the file.
	Dev, Ino uint64
	// Path is the file's path inside its filesystem (from the filesystem's
	// root, whatever it is mounted as); "" when it was too deep or long to
	// record.
	Path string
}
