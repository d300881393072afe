package local

import (
	"errors"
	"testing"

	"github.com/trove-backup/trove/internal/store"
)

func TestMappingRoundTrip(t *testing.T) {
	for _, s := range []string{"plain.jpg", "12:30", `a?*"<>|\b`, "dot.", "sp ", "x\x01y", "a..", "a. ", "日本.jpg"} {
		e := encodeSeg(s)
		if d := decodeSeg(e); d != s {
			t.Errorf("decode(encode(%q)) = %q", s, d)
		}
		for _, r := range e {
			if r < 0x20 || (r < 0x80 && (r == ':' || r == '?' || r == '*' || r == '"' || r == '<' || r == '>' || r == '|' || r == '\\')) {
				t.Errorf("encode(%q) = %q keeps %q", s, e, r)
			}
		}
		if last := []rune(e)[len([]rune(e))-1]; last == '.' || last == ' ' {
			t.Errorf("encode(%q) = %q ends in %q", s, e, last)
		}
	}
}

func TestEncodeRefusesAmbiguous(t *testing.T) {
	l := &Local{caps: Caps{RestrictedNames: true}}
	for _, n := range []string{"a\uFF1Ab", "x\uFF0E", "c\u2401"} {
		if _, err := l.encode(n); !errors.Is(err, store.ErrBadName) {
			t.Errorf("encode(%q) = %v, want ErrBadName", n, err)
		}
	}
	if s, err := l.encode("ok/a:b"); err != nil || s != "ok/a\uFF1Ab" {
		t.Errorf("encode = %q %v", s, err)
	}
	plain := &Local{}
	if s, err := plain.encode("a\uFF1Ab"); err != nil || s != "a\uFF1Ab" {
		t.Errorf("unrestricted encode = %q %v", s, err)
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"a", "a/b.jpg", "2024/2024-06-01 Smith/IMG 1.CR3", ".hidden", "a/.trove"} {
		if err := validName(n); err != nil {
			t.Errorf("validName(%q) = %v", n, err)
		}
	}
	for _, n := range []string{"", "/a", "a//b", "a/", "..", "a/../b", ".", "a\x00", ".trove", ".trove/x", "d/.x.trove-tmp-1", "\xff"} {
		if err := validName(n); !errors.Is(err, store.ErrBadName) {
			t.Errorf("validName(%q) = %v, want ErrBadName", n, err)
		}
	}
}
