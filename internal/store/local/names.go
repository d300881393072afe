package local

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/trove-backup/trove/internal/store"
)

// metaDir is the store's own folder at the target's root.
const metaDir = ".trove"

// tmpMarker marks temporaries: ".<base>.trove-tmp-<random>".
const tmpMarker = ".trove-tmp-"

// validName applies the rules every store shares (store.CheckName).
func validName(name string) error { return store.CheckName(name) }

// isTemp reports whether a directory entry is one of our temporaries.
func isTemp(base string) bool {
	return strings.HasPrefix(base, ".") && strings.Contains(base, tmpMarker)
}

// The reversible mapping used when Caps.RestrictedNames (see package doc).
var (
	encRune = map[rune]rune{
		':': '\uFF1A', '?': '\uFF1F', '*': '\uFF0A', '"': '\uFF02',
		'<': '\uFF1C', '>': '\uFF1E', '|': '\uFF5C', '\\': '\uFF3C',
	}
	decRune = func() map[rune]rune {
		m := make(map[rune]rune, len(encRune))
		for k, v := range encRune {
			m[v] = k
		}
		return m
	}()
)

const (
	trailingDot   = '\uFF0E' // FULLWIDTH FULL STOP
	trailingSpace = '\u2420' // SYMBOL FOR SPACE
	ctrlBase      = '\u2400' // CONTROL PICTURES: U+2401..U+241F for 0x01..0x1F
)

func encodeSeg(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		switch m, ok := encRune[r]; {
		case ok:
			r = m
		case r > 0 && r < 0x20:
			r = ctrlBase + r
		case i == len(rs)-1 && r == '.':
			r = trailingDot
		case i == len(rs)-1 && r == ' ':
			r = trailingSpace
		}
		b.WriteRune(r)
	}
	return b.String()
}

func decodeSeg(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		switch m, ok := decRune[r]; {
		case ok:
			r = m
		case r > ctrlBase && r < ctrlBase+0x20:
			r -= ctrlBase
		case i == len(rs)-1 && r == trailingDot:
			r = '.'
		case i == len(rs)-1 && r == trailingSpace:
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// encode maps a valid library name to its stored form. A name that already
// contains one of the mapping's target characters (say a full-width colon)
// could not be told apart from a mapped one, so it is refused with
// ErrBadName rather than stored ambiguously.
func (l *Local) encode(name string) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	if !l.caps.RestrictedNames {
		return name, nil
	}
	segs := strings.Split(name, "/")
	for i, s := range segs {
		e := encodeSeg(s)
		if decodeSeg(e) != s {
			return "", fmt.Errorf("name %q: segment %q holds a character this drive's name mapping reserves (full-width punctuation or control pictures): %w", name, s, store.ErrBadName)
		}
		segs[i] = e
	}
	return strings.Join(segs, "/"), nil
}

// decode maps one stored segment back to the library name segment.
func (l *Local) decode(seg string) string {
	if !l.caps.RestrictedNames {
		return seg
	}
	return decodeSeg(seg)
}

// tmpBase returns a temporary's base name for the final base name.
func tmpBase(base, random string) string {
	const keep = 100 // leave room under NAME_MAX (255 bytes)
	if len(base) > keep {
		cut := keep
		for cut > 0 && !utf8.RuneStart(base[cut]) {
			cut--
		}
		base = base[:cut]
	}
	return "." + base + tmpMarker + random
}
