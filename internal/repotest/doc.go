// SPDX-License-Identifier: Apache-2.0

// Package repotest holds tests of the repository itself rather than of a
// package: every source file's licence header, the set-up script that
// installs what each make target needs (scripts/deps.sh), the collector
// binary make build produces (static, -trimpath, version and commit stamped),
// and that what documents and comments name (paths, Go symbols) exists.
package repotest
