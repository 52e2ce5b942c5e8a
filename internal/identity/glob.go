// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"errors"
	"strings"
)

// Glob matches paths: "*" matches any run of characters but "/", "**"
// matches any run including "/", "?" one character but "/". Everything
// else matches itself.
type Glob struct {
	pattern string
}

// CompileGlob checks pattern.
func CompileGlob(pattern string) (Glob, error) {
	if pattern == "" {
		return Glob{}, errors.New("empty pattern")
	}
	if strings.Contains(pattern, "***") {
		return Glob{}, errors.New(`"***" is not a pattern`)
	}
	return Glob{pattern}, nil
}

// Match reports whether s matches the whole pattern.
func (g Glob) Match(s string) bool { return globMatch(g.pattern, s) }

// String returns the pattern.
func (g Glob) String() string { return g.pattern }

func globMatch(p, s string) bool {
	for len(p) > 0 {
		switch {
		case strings.HasPrefix(p, "**"):
			rest := p[2:]
			for i := len(s); i >= 0; i-- {
				if globMatch(rest, s[i:]) {
					return true
				}
			}
			return false
		case p[0] == '*':
			rest := p[1:]
			for i := 0; i <= len(s); i++ {
				if globMatch(rest, s[i:]) {
					return true
				}
				if i < len(s) && s[i] == '/' {
					break
				}
			}
			return false
		case p[0] == '?':
			if len(s) == 0 || s[0] == '/' {
				return false
			}
		default:
			if len(s) == 0 || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return len(s) == 0
}
