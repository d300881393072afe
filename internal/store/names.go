package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// TempMarker marks a store's temporaries: ".<base>.trove-tmp-<random>".
// Walk never lists them and CheckName refuses names that look like them.
const TempMarker = ".trove-tmp-"

// MetaDir is the folder a store keeps its own files in; never a library name.
const MetaDir = ".trove"

// CheckName validates a library name the same way for every store:
// slash-separated, relative, UTF-8, no empty, "." or ".." segments, no NUL,
// not inside .trove and not shaped like a temporary. It wraps ErrBadName.
func CheckName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("name %q: %s: %w", name, why, ErrBadName)
	}
	switch {
	case name == "":
		return bad("empty")
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case strings.ContainsRune(name, 0):
		return bad("contains NUL")
	case strings.HasPrefix(name, "/"):
		return bad("absolute")
	case name == MetaDir || strings.HasPrefix(name, MetaDir+"/"):
		return bad("inside the store's own .trove folder")
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch {
		case seg == "":
			return bad("empty path segment")
		case seg == "." || seg == "..":
			return bad("dot segment")
		case strings.Contains(seg, TempMarker):
			return bad("looks like a Trove temporary")
		}
	}
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return bad("not a local path on this system")
	}
	return nil
}
