package sftp

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/trove-backup/trove/internal/store"
)

// validName checks a library name: slash-separated, relative, no empty, "."
// or ".." segments, no NUL, not inside .trove and not shaped like one of our
// temporaries (Walk would hide it). The same rules as a folder target.
func validName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("name %q: %s: %w", name, why, store.ErrBadName)
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
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch {
		case seg == "":
			return bad("empty path segment")
		case seg == "." || seg == "..":
			return bad("dot segment")
		case strings.Contains(seg, tmpMarker):
			return bad("looks like a Trove temporary")
		}
	}
	if name == metaDir || strings.HasPrefix(name, metaDir+"/") {
		return bad("inside the store's own .trove folder")
	}
	return nil
}

// validStoredPath checks a path below the root (metadata, versions).
func validStoredPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) || !utf8.ValidString(p) {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// isTemp reports whether a directory entry is one of our temporaries.
func isTemp(base string) bool {
	return strings.HasPrefix(base, ".") && strings.Contains(base, tmpMarker)
}

// tmpBase returns a temporary's base name for the final base name, short
// enough for NAME_MAX.
func tmpBase(base string) string {
	const keep = 100
	if len(base) > keep {
		cut := keep
		for cut > 0 && !utf8.RuneStart(base[cut]) {
			cut--
		}
		base = base[:cut]
	}
	var b [8]byte
	rand.Read(b[:])
	return "." + base + tmpMarker + hex.EncodeToString(b[:])
}

func marshalIdentity(id Identity) ([]byte, error) {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
