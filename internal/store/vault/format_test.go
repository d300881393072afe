package vault

import (
	"bytes"
	"testing"

	"filippo.io/age"
)

func TestPaddedLen(t *testing.T) {
	prev := int64(0)
	buckets := map[int64]bool{}
	for n := int64(0); n < 1<<26; n = n*17/16 + 1 {
		p := paddedLen(n)
		if p < n+trailerLen || p < prev {
			t.Fatalf("paddedLen(%d) = %d (previous %d)", n, p, prev)
		}
		if n > minPadded && float64(p)/float64(n+trailerLen) > 1.125 {
			t.Fatalf("paddedLen(%d) = %d: over 12.5%%", n, p)
		}
		prev = p
		buckets[p] = true
	}
	// 8 buckets per power of two from 4 KiB to 64 MiB, plus the top one.
	if len(buckets) > 8*(26-12)+1 {
		t.Fatalf("%d distinct sizes up to 64 MiB", len(buckets))
	}
	if paddedLen(0) != minPadded || paddedLen(minPadded-trailerLen) != minPadded {
		t.Fatal("small objects not padded to minPadded")
	}
}

// TestCipherLen: the size ServerCheck expects of a content object is the
// size of what the sealer writes, across padding buckets and chunk edges.
func TestCipherLen(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{0, 1, 4000, minPadded - trailerLen, minPadded - trailerLen + 1, 64<<10 - trailerLen, 64 << 10,
		1<<19 - trailerLen, 1 << 19, 3_000_000, 4<<20 - trailerLen, 4<<20 + 1} {
		var buf bytes.Buffer
		s, err := newSealer(&buf, id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		s.Write(make([]byte, n))
		if _, _, err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := cipherLen(n); got != int64(buf.Len()) {
			t.Errorf("cipherLen(%d) = %d, the sealer wrote %d bytes (padded %d)", n, got, buf.Len(), paddedLen(n))
		}
	}
}

func TestSameFingerprint(t *testing.T) {
	for _, c := range []struct {
		a, b             string
		same, comparable bool
	}{
		{"etag:abc", "etag:abc", true, true},
		{"etag:abc", "etag:abd", false, true},
		{"md5:1,sha1:2", "sha1:2", true, true},
		{"md5:1,sha1:2", "md5:1,sha1:3", false, true},
		{"md5:1", "sha256:9", false, false},
		{"opaque", "opaque", true, true},
	} {
		same, comparable := sameFingerprint(c.a, c.b)
		if same != c.same || comparable != c.comparable {
			t.Errorf("sameFingerprint(%q, %q) = %v, %v; want %v, %v", c.a, c.b, same, comparable, c.same, c.comparable)
		}
	}
	if got := thousands(25166848); got != "25,166,848" {
		t.Errorf("thousands = %q", got)
	}
	if got := thousands(999); got != "999" {
		t.Errorf("thousands = %q", got)
	}
}
