package vault

import "testing"

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
