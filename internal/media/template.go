package media

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// DefaultTemplate places a file in a per-year folder, then a per-shoot folder named by date and project.
const DefaultTemplate = "{year}/{date} {project}/{name}"

// tokens lists every token a template may use, with what it stands for (used in error hints).
var tokens = map[string]string{
	"year": "4-digit year", "month": "2-digit month", "day": "2-digit day", "date": "yyyy-mm-dd",
	"time": "hhmmss", "project": "project name", "name": "original file name", "stem": "file name without extension",
	"ext": "extension without the dot", "camera": "camera model", "kind": "file kind (raw, jpeg, video…)",
}

const tokenList = "{year} {month} {day} {date} {time} {project} {name} {stem} {ext} {camera} {kind}"

// part is one piece of a path segment: a literal or a token.
type part struct {
	lit   string
	token string // empty for a literal
}

// Template places files in the library; build one with ParseTemplate. The zero Template is not usable.
//
// Tokens: {year} {month} {day} {date} (yyyy-mm-dd) {time} (hhmmss) {project} {name} (original file name) {stem}
// (name without extension, as GroupStem splits it but in its original case) {ext} (the rest, without the leading
// dot: "JPG", or "CR3.xmp" for a sidecar) {camera} {kind}. "/" separates folders.
type Template struct {
	raw  string
	segs [][]part
}

// String returns the template as it was parsed.
func (t Template) String() string { return t.raw }

// ParseTemplate parses and validates a naming template. It rejects, with a hint: an empty or absolute template,
// unbalanced braces, unknown tokens, empty, "." or ".." folders, backslashes and control characters, and a last
// segment (the file name) that contains neither {name} nor {stem}; {stem} without {ext} is rejected too, because it
// would drop the extension.
func ParseTemplate(s string) (Template, error) {
	bad := func(format string, a ...any) (Template, error) {
		return Template{}, fmt.Errorf("naming template %q: %s", s, fmt.Sprintf(format, a...))
	}
	if strings.TrimSpace(s) == "" {
		return bad("empty; the default is %q", DefaultTemplate)
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~") || (len(s) > 1 && s[1] == ':') {
		return bad("absolute; it is relative to the library folder, e.g. %q", DefaultTemplate)
	}
	for _, r := range s {
		if r == '\\' {
			return bad(`contains "\"; separate folders with "/"`)
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			return bad("contains a control character or invalid UTF-8; remove it")
		}
	}
	t := Template{raw: s}
	segStrs := strings.Split(s, "/")
	for i, seg := range segStrs {
		if strings.TrimSpace(seg) == "" {
			return bad(`folder %d is empty (look for "//" or a trailing "/")`, i+1)
		}
		if seg == "." || seg == ".." {
			return bad("folder %q is not allowed; use a name", seg)
		}
		var parts []part
		for rest := seg; rest != ""; {
			open := strings.IndexByte(rest, '{')
			closeB := strings.IndexByte(rest, '}')
			if closeB >= 0 && (open < 0 || closeB < open) {
				return bad(`"}" without "{"; tokens look like {year}`)
			}
			if open < 0 {
				parts = append(parts, part{lit: rest})
				break
			}
			if open > 0 {
				parts = append(parts, part{lit: rest[:open]})
			}
			end := strings.IndexByte(rest[open:], '}')
			if end < 0 {
				return bad(`"{" without "}" in folder %q; tokens look like {year}`, seg)
			}
			name := rest[open+1 : open+end]
			if strings.ContainsRune(name, '{') {
				return bad(`"{" inside a token; tokens look like {year}`)
			}
			if _, ok := tokens[name]; !ok {
				return bad("unknown token {%s}; known tokens: %s", name, tokenList)
			}
			parts = append(parts, part{token: name})
			rest = rest[open+end+1:]
		}
		t.segs = append(t.segs, parts)
	}
	last := t.segs[len(t.segs)-1]
	has := func(tok string) bool {
		for _, p := range last {
			if p.token == tok {
				return true
			}
		}
		return false
	}
	switch {
	case has("name"):
	case has("stem") && has("ext"):
	case has("stem"):
		return bad("{stem} without {ext} would drop the extension; use {stem}.{ext} or {name}")
	default:
		return bad("the file name (after the last \"/\") must contain {name} or {stem}.{ext}, or files would overwrite each other")
	}
	return t, nil
}

// Fields are the values a Template is expanded with. Time is used as wall clock in its own Location.
type Fields struct {
	Time    time.Time
	Project string
	Name    string
	Camera  string
	Kind    Kind
}

// Expand fills the template in. The result is slash-separated, NFC-normalised and filepath.IsLocal, with no empty,
// "." or ".." segment. Field values cannot add folders: "/" and "\" in a value become "-", control characters
// and characters that exFAT/SMB refuse (< > : " | ? *) become "_". Each segment is trimmed of leading spaces and
// trailing spaces and dots (so an empty project leaves "2024/2024-06-01/IMG_0001.CR3", and "Smith Inc." stays the
// same name on exFAT and SMB). An empty {camera} is "Unknown camera".
// It fails when Time or Name is missing, or when a segment ends up empty, "." or "..".
func (t Template) Expand(f Fields) (string, error) {
	if t.segs == nil {
		return "", errors.New("expand naming template: template not parsed (use ParseTemplate)")
	}
	if f.Time.IsZero() {
		return "", fmt.Errorf("expand naming template %q for %q: capture time is missing", t.raw, f.Name)
	}
	name := sanitizeField(f.Name)
	if name == "" || name == "." || name == ".." {
		return "", fmt.Errorf("expand naming template %q: file name %q is not usable", t.raw, f.Name)
	}
	stem, ext := splitStem(name)
	ext = strings.TrimPrefix(ext, ".")
	camera := sanitizeField(f.Camera)
	if strings.TrimSpace(camera) == "" {
		camera = "Unknown camera"
	}
	tm := f.Time
	val := map[string]string{
		"year": fmt.Sprintf("%04d", tm.Year()), "month": fmt.Sprintf("%02d", int(tm.Month())),
		"day": fmt.Sprintf("%02d", tm.Day()), "date": tm.Format("2006-01-02"), "time": tm.Format("150405"),
		"project": sanitizeField(f.Project), "name": name, "stem": stem, "ext": ext, "camera": camera,
		"kind": sanitizeField(string(f.Kind)),
	}
	out := make([]string, 0, len(t.segs))
	for i, seg := range t.segs {
		var b strings.Builder
		for j, p := range seg {
			if p.token == "" {
				lit := p.lit
				// "{stem}.{ext}" with no extension must not leave a trailing dot.
				if ext == "" && j+1 < len(seg) && seg[j+1].token == "ext" {
					lit = strings.TrimSuffix(lit, ".")
				}
				b.WriteString(lit)
				continue
			}
			b.WriteString(val[p.token])
		}
		// Windows, SMB and exFAT drop trailing dots and spaces; do it here so every target stores the same name.
		s := strings.TrimRight(strings.TrimSpace(norm.NFC.String(b.String())), ". ")
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("expand naming template %q for %q: folder %d would be %q (is a field such as {project} empty?)", t.raw, f.Name, i+1, s)
		}
		out = append(out, s)
	}
	res := strings.Join(out, "/")
	if !filepath.IsLocal(filepath.FromSlash(res)) {
		return "", fmt.Errorf("expand naming template %q for %q: result %q is not a local path", t.raw, f.Name, res)
	}
	return res, nil
}

// sanitizeField makes a field value safe as (part of) one path segment, visibly: separators become "-",
// control characters and characters refused by exFAT/SMB become "_". Invalid UTF-8 becomes U+FFFD.
func sanitizeField(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\':
			return '-'
		case unicode.IsControl(r), strings.ContainsRune(`<>:"|?*`, r):
			return '_'
		}
		return r
	}, s)
}

// MaxProjectBytes is the longest project name CleanProject accepts, in bytes of UTF-8.
const MaxProjectBytes = 120

// CleanProject validates a project name the user typed and returns it trimmed and NFC-normalised. It rejects
// empty names, "." and "..", names with "/" or "\", control characters or invalid UTF-8, and names longer than
// MaxProjectBytes; the error says what to change.
func CleanProject(name string) (string, error) {
	s := norm.NFC.String(strings.TrimSpace(name))
	switch {
	case s == "":
		return "", errors.New("project name is empty; give the shoot a name, e.g. \"Smith Wedding\"")
	case s == "." || s == "..":
		return "", fmt.Errorf("project name %q is not allowed; use letters or digits", s)
	case !utf8.ValidString(s):
		return "", fmt.Errorf("project name %q is not valid UTF-8; retype it", s)
	case strings.ContainsAny(s, `/\`):
		return "", fmt.Errorf("project name %q contains \"/\" or \"\\\"; a project is one folder, use \"-\" instead", s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", fmt.Errorf("project name %q contains a control character (tab, newline…); remove it", s)
	case len(s) > MaxProjectBytes:
		return "", fmt.Errorf("project name is %d bytes long; shorten it to at most %d", len(s), MaxProjectBytes)
	}
	return s, nil
}
