// SPDX-License-Identifier: Apache-2.0

package event

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"/etc/passwd", "/etc/passwd"},
		{"kubelet", "kubelet"},
		{"/srv/données/été", "/srv/données/été"}, // valid UTF-8 stays as it is
		{"\xff\xfe", `\xff\xfe`},                 // a hostile comm
		{"/tmp/\xc3", `/tmp/\xc3`},               // a cut multi-byte sequence
		{"/tmp/a\\b", `/tmp/a\\b`},               // a real backslash is escaped
		{`/tmp/\x41`, `/tmp/\\x41`},              // ...so it cannot pose as an escape
		{"\xed\xa0\x80", `\xed\xa0\x80`},         // a surrogate is not UTF-8
		{"ok\x80é\xc0\xaf", `ok\x80é\xc0\xaf`},   // overlong encodings are not either
	} {
		got := Label(tc.in)
		assert.Equal(t, tc.want, got, "Label(%q)", tc.in)
		assert.True(t, utf8.ValidString(got), "Label(%q) = %q is not UTF-8", tc.in, got)
		back, ok := Unlabel(got)
		require.True(t, ok, "Unlabel(%q)", got)
		assert.Equal(t, tc.in, back, "Unlabel(Label(%q))", tc.in)
	}
}

func TestUnlabelRefusesWhatLabelCannotMake(t *testing.T) {
	for _, s := range []string{`\`, `\x4`, `\xZZ`, `\n`, "\xff"} {
		_, ok := Unlabel(s)
		assert.False(t, ok, "Unlabel(%q)", s)
	}
}

func TestLabelDoesNotAllocateForPlainText(t *testing.T) {
	s := "/var/lib/kubelet/pods"
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Label(s) }))
}

// FuzzLabel: every input comes out as UTF-8 and comes back unchanged.
func FuzzLabel(f *testing.F) {
	for _, s := range []string{"", "a", "\xff", `\\x`, "é\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Label(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Label(%q) = %q is not UTF-8", s, got)
		}
		back, ok := Unlabel(got)
		if !ok || back != s {
			t.Fatalf("Unlabel(Label(%q)) = %q, %v", s, back, ok)
		}
	})
}
