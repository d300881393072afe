package digest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestKnownVectors(t *testing.T) {
	cases := map[string]string{
		"":    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	}
	for in, want := range cases {
		s, n, err := Reader(bytes.NewReader([]byte(in)), nil)
		if err != nil || n != int64(len(in)) || s.String() != want {
			t.Errorf("Reader(%q) = %s, %d, %v; want %s", in, s, n, err, want)
		}
		p, err := Parse(want)
		if err != nil || p != s {
			t.Errorf("Parse(%s) = %s, %v", want, p, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"", "abc", "zz" + string(make([]byte, 62))} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, n, err := File(p)
	if err != nil || n != 3 || s.String()[:8] != "ba7816bf" {
		t.Fatalf("File = %s %d %v", s, n, err)
	}
	if _, _, err := File(p + "-missing"); err == nil {
		t.Fatal("File of a missing path succeeded")
	}
}
