// Package digest is the one place Trove computes content identity: SHA-256,
// streamed, never buffered whole.
//
// A Sum is the identity of a file's content. Names, sizes and mtimes are only
// hints; two files are the same photo exactly when their Sums are equal.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
)

// Size is the length of a Sum in bytes.
const Size = sha256.Size

// Sum is a SHA-256 digest of a file's content.
type Sum [Size]byte

// String returns the lower-case hex form used in manifests and the catalog.
func (s Sum) String() string { return hex.EncodeToString(s[:]) }

// IsZero reports whether s is the zero value (no digest known).
func (s Sum) IsZero() bool { return s == Sum{} }

// Parse reads the 64-character hex form of a Sum.
func Parse(s string) (Sum, error) {
	var out Sum
	if len(s) != 2*Size {
		return out, fmt.Errorf("parse sha256 %q: want %d hex digits, got %d", s, 2*Size, len(s))
	}
	if _, err := hex.Decode(out[:], []byte(s)); err != nil {
		return out, fmt.Errorf("parse sha256 %q: %w", s, err)
	}
	return out, nil
}

// Hasher is an io.Writer that hashes and counts what is written to it.
type Hasher struct {
	h hash.Hash
	n int64
}

// New returns an empty Hasher.
func New() *Hasher { return &Hasher{h: sha256.New()} }

// Write hashes p; it never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.h.Write(p)
}

// Sum returns the digest of everything written so far.
func (h *Hasher) Sum() Sum {
	var s Sum
	h.h.Sum(s[:0])
	return s
}

// Len returns the number of bytes written so far.
func (h *Hasher) Len() int64 { return h.n }

// Reader hashes everything read from r until EOF, using buf (which may be nil)
// as the copy buffer.
func Reader(r io.Reader, buf []byte) (Sum, int64, error) {
	h := New()
	if buf == nil {
		buf = make([]byte, 1<<20)
	}
	_, err := io.CopyBuffer(h, r, buf)
	return h.Sum(), h.Len(), err
}

// File hashes the named file through the page cache. Use it for sources;
// verification of copies must read from the device (see package store/local).
func File(path string) (Sum, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Sum{}, 0, err
	}
	defer f.Close()
	s, n, err := Reader(f, nil)
	if err != nil {
		return s, n, fmt.Errorf("read %s: %w", path, err)
	}
	return s, n, nil
}
