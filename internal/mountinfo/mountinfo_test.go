package mountinfo

import "testing"

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/media/ann/My\040Drive`: "/media/ann/My Drive",
		`/mnt/a\134b`:            `/mnt/a\b`,
		`/plain`:                 "/plain",
		`/bad\09`:                `/bad\09`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
