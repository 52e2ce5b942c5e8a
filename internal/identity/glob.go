// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gobwas/glob"
)

// Glob matches paths (github.com/gobwas/glob with '/' as the separator):
// "*" matches any run of characters but "/", "**" any run including "/",
// "?" one character but "/", "{a,b}" either alternative, "[abc]", "[a-z]"
// and "[!abc]" one character of (or not of) a class; "\" escapes the next
// character. Everything else matches itself.
type Glob struct {
	pattern string
	g       glob.Glob
}

// CompileGlob checks pattern.
func CompileGlob(pattern string) (Glob, error) {
	if pattern == "" {
		return Glob{}, errors.New("empty pattern")
	}
	if strings.Contains(pattern, "***") {
		return Glob{}, errors.New(`"***" is not a pattern`)
	}
	if err := checkBraces(pattern); err != nil {
		return Glob{}, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	g, err := glob.Compile(pattern, '/')
	if err != nil {
		return Glob{}, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	return Glob{pattern, g}, nil
}

// Match reports whether s matches the whole pattern.
func (g Glob) Match(s string) bool { return g.g != nil && g.g.Match(s) }

// String returns the pattern.
func (g Glob) String() string { return g.pattern }

// checkBraces refuses an alternation left open or closed twice, which
// gobwas/glob would take (an open "{" then matches nothing it seems to).
func checkBraces(p string) error {
	depth := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			if depth--; depth < 0 {
				return errors.New(`"}" without "{"`)
			}
		}
	}
	if depth != 0 {
		return errors.New(`"{" without "}"`)
	}
	return nil
}
