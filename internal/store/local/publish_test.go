package local

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestPublishFallbacks runs the link+unlink and check+rename paths, which
// the filesystems at hand do not all reach on their own.
func TestPublishFallbacks(t *testing.T) {
	for _, tryLink := range []bool{true, false} {
		dir := t.TempDir()
		if _, err := Prepare(dir, Identity{TargetID: "t"}); err != nil {
			t.Fatal(err)
		}
		l, err := Attach(dir, "t")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		write := func(name, s string) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("tmp1", "new")
		write("taken", "old")
		if err := l.publishFallback("tmp1", "taken", tryLink); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("tryLink=%v onto a taken name: %v", tryLink, err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "taken")); string(b) != "old" {
			t.Fatalf("tryLink=%v replaced content: %q", tryLink, b)
		}
		if err := l.publishFallback("tmp1", "free", tryLink); err != nil {
			t.Fatalf("tryLink=%v: %v", tryLink, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "tmp1")); !os.IsNotExist(err) {
			t.Fatalf("tryLink=%v: temporary still there: %v", tryLink, err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "free")); string(b) != "new" {
			t.Fatalf("tryLink=%v: published %q", tryLink, b)
		}
	}
}
