package targetmeta

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store/local"
	"github.com/trove-backup/trove/internal/store/storetest"
)

func TestRefreshWritesCheckableManifest(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	cat, err := catalog.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	dir := t.TempDir()
	tg := catalog.Target{ID: "t1", Name: "drive-a", Kind: catalog.KindFolder, Path: dir, Medium: "hdd", Location: "home", CreatedAt: now}
	if err := cat.AddTarget(tg); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Prepare(dir, local.Identity{Format: 1, TargetID: "t1", Name: "drive-a"}); err != nil {
		t.Fatal(err)
	}
	l, err := local.Attach(dir, "t1")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	names := []string{"2024/2024-06-01 Smith/IMG 1.jpg", `odd\name.jpg`, "deleted.jpg"}
	for i, n := range names {
		body := []byte(strings.Repeat("x", i+1))
		storetest.Put(t, l, n, body)
		s, _, _ := digest.Reader(strings.NewReader(string(body)), nil)
		f := catalog.File{Path: n, Project: "Smith", Sum: s, Size: int64(len(body)), Kind: "jpeg", CapturedAt: "x",
			DateSource: "mtime", OriginalName: n, AddedAt: now}
		id, err := cat.RecordFile(ctx, f, []catalog.Copy{{TargetID: "t1", Path: n, State: catalog.CopyOK, VerifiedAt: now, WrittenAt: now}})
		if err != nil {
			t.Fatal(err)
		}
		if n == "deleted.jpg" {
			cat.MarkDeleted(id, now)
		}
	}
	if err := Refresh(ctx, cat, tg, l, now); err != nil {
		t.Fatal(err)
	}
	m, _ := os.ReadFile(filepath.Join(dir, ".trove", "MANIFEST.sha256"))
	if strings.Contains(string(m), "deleted.jpg") || strings.Count(string(m), "\n") != 2 {
		t.Fatalf("manifest:\n%s", m)
	}
	if sha, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(sha, "-c", ".trove/MANIFEST.sha256")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
	}
	tg, _ = cat.TargetByName("drive-a")
	if err := CheckManifest(ctx, tg, l); err != nil {
		t.Fatalf("fresh manifest not trusted: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ".trove", "MANIFEST.sha256"), append(m, []byte("0000  evil.jpg\n")...), 0o644)
	if err := CheckManifest(ctx, tg, l); !errors.Is(err, ErrManifestEdited) {
		t.Fatalf("edited manifest: %v", err)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.txt"))
	if !strings.Contains(string(readme), "sha256sum -c .trove/MANIFEST.sha256") || !strings.Contains(string(readme), "Smith (2 files)") {
		t.Fatalf("README:\n%s", readme)
	}
	snap, err := catalog.Open(filepath.Join(dir, ".trove", "catalog", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if files, _ := snap.AllFiles(); len(files) != 3 {
		t.Fatalf("snapshot has %d files", len(files))
	}
}
