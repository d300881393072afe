package local

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/storetest"
)

func attachTemp(t *testing.T) (*Local, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Prepare(dir, Identity{Format: IdentityFormat, TargetID: "t1", Name: "drive-a"}); err != nil {
		t.Fatal(err)
	}
	l, err := Attach(dir, "t1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

func TestPreserveKeepsEveryVersion(t *testing.T) {
	ctx := context.Background()
	l, dir := attachTemp(t)
	at := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	var kept []string
	for _, body := range []string{"v1", "v2", "v3"} {
		storetest.Put(t, l, "2024/a.jpg", []byte(body))
		v, err := l.Preserve(ctx, "2024/a.jpg", at) // same second every time: must not collide
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, v)
	}
	for i, v := range kept {
		rc, err := l.OpenVersion(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if want := []string{"v1", "v2", "v3"}[i]; string(b) != want {
			t.Fatalf("version %s = %q, want %q", v, b, want)
		}
	}
	if !strings.HasPrefix(kept[0], ".trove/versions/2024-06-01T12-00-00Z/") {
		t.Fatalf("version path %q", kept[0])
	}
	if _, err := os.Stat(filepath.Join(dir, "2024", "a.jpg")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("preserved file still at its live path")
	}
	if names := storetest.List(t, l, ""); len(names) != 0 {
		t.Fatalf("Walk lists versions: %v", names)
	}
	if _, err := l.OpenVersion(ctx, ".trove/versions/../target.json"); !errors.Is(err, store.ErrBadName) {
		t.Fatalf("OpenVersion escaped: %v", err)
	}
	if _, err := l.Preserve(ctx, "missing.jpg", at); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Preserve(missing) = %v", err)
	}
}

func TestMetaFiles(t *testing.T) {
	ctx := context.Background()
	l, dir := attachTemp(t)
	if err := l.WriteMeta(ctx, ".trove/MANIFEST.sha256", strings.NewReader("abc  x\n")); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteMeta(ctx, ".trove/MANIFEST.sha256", strings.NewReader("def  y\n")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".trove", "MANIFEST.sha256"))
	if err != nil || string(b) != "def  y\n" {
		t.Fatalf("manifest = %q, %v", b, err)
	}
	rc, err := l.ReadMeta(ctx, ".trove/MANIFEST.sha256")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	for _, bad := range []string{".trove/target.json", ".trove/lock", "photo.jpg", ".trove/../x", ".trove/versions/a"} {
		if err := l.WriteMeta(ctx, bad, strings.NewReader("x")); !errors.Is(err, store.ErrBadName) {
			t.Errorf("WriteMeta(%q) = %v, want ErrBadName", bad, err)
		}
	}
	if _, err := l.ReadMeta(ctx, ".trove/none"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("ReadMeta(missing) = %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, ".trove"))
	for _, e := range entries {
		if strings.Contains(e.Name(), "trove-tmp") {
			t.Fatalf("temporary left: %s", e.Name())
		}
	}
}
