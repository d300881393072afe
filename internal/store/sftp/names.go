package sftp

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/trove-backup/trove/internal/store"
)

// validName applies the rules every store shares (store.CheckName).
func validName(name string) error { return store.CheckName(name) }

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
