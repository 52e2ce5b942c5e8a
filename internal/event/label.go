// SPDX-License-Identifier: Apache-2.0

package event

import (
	"strings"
	"unicode/utf8"
)

// Label returns s as a valid UTF-8 attribute value. The kernel hands over
// bytes, not text: a task name (any program can set its own with
// prctl(PR_SET_NAME)), a directory name, an executable or cgroup path may
// hold bytes that are not UTF-8, and OpenTelemetry string attributes, the
// Prometheus exporter and OTLP's protobuf all refuse those (the Prometheus
// exporter refuses the whole metric of that resource, so one hostile name
// hid every creation series beside it).
//
// The escaping is reversible (Unlabel undoes it): every byte that is not part
// of a valid UTF-8 sequence becomes \xNN (two lowercase hex digits), and a
// backslash becomes \\ so that a name which really contains "\x41" cannot be
// confused with one holding the byte 0x41. A string that is valid UTF-8 and
// holds no backslash, the common case, is returned as it is, without
// allocating.
func Label(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, '\\') < 0 {
		return s
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' {
			b.WriteString(`\\`)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			i++
			continue
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

// LabelBytes is Label for a byte slice (it allocates the string).
func LabelBytes(b []byte) string { return Label(string(b)) }

// Unlabel returns the bytes Label escaped: the inverse of Label, for readers
// of the metrics who need the kernel's bytes back. It reports false for a
// string Label cannot have produced.
func Unlabel(s string) (string, bool) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, utf8.ValidString(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '\\' {
			b.WriteByte('\\')
			i++
			continue
		}
		if i+3 < len(s) && s[i+1] == 'x' {
			hi, ok1 := unhex(s[i+2])
			lo, ok2 := unhex(s[i+3])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 3
				continue
			}
		}
		return "", false
	}
	return b.String(), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
