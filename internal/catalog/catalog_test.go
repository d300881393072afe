package catalog

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/digest"
)

func open(t *testing.T) *Catalog {
	t.Helper()
	c, err := Open(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sum(s string) digest.Sum {
	h := digest.New()
	h.Write([]byte(s))
	return h.Sum()
}

func TestMigrateAndReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.db")
	c, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.SchemaVersion()
	names, _ := fs.Glob(migrations, "sql/*.sql")
	if err != nil || v != len(names) || v < 4 {
		t.Fatalf("schema version = %d, %v; want %d", v, err, len(names))
	}
	if err := c.SetMeta("schema_version", "99"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opening a newer catalog: %v", err)
	}
}

func TestFilesAndCopies(t *testing.T) {
	c := open(t)
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	lib := Target{ID: "t-lib", Name: LibraryName, Kind: KindLibrary, Path: "/lib", Medium: "ssd", Location: "home", CreatedAt: now}
	drv := Target{ID: "t-a", Name: "drive-a", Kind: KindFolder, Path: "/mnt/a", Medium: "hdd", Location: "home", CreatedAt: now}
	for _, tg := range []Target{drv, lib} {
		if err := c.AddTarget(tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddTarget(drv); err == nil {
		t.Fatal("duplicate target name accepted")
	}
	ts, err := c.Targets()
	if err != nil || len(ts) != 2 || ts[0].Name != LibraryName {
		t.Fatalf("Targets = %+v, %v", ts, err)
	}
	f := File{Path: "2024/2024-06-01 Smith/IMG_0001.JPG", Project: "Smith", Sum: sum("a"), Size: 1,
		Kind: "jpeg", CapturedAt: "2024-06-01T10:00:00", DateSource: "exif:DateTimeOriginal", OriginalName: "IMG_0001.JPG", AddedAt: now}
	id, err := c.RecordFile(context.Background(), f, []Copy{
		{TargetID: "t-lib", Path: f.Path, State: CopyOK, VerifiedAt: now, WrittenAt: now},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Recording again with another copy keeps one file row.
	id2, err := c.RecordFile(context.Background(), f, []Copy{{TargetID: "t-a", Path: f.Path, State: CopyOK, VerifiedAt: now, WrittenAt: now}})
	if err != nil || id2 != id {
		t.Fatalf("second record: %d %v", id2, err)
	}
	cps, _ := c.Copies(id)
	if len(cps) != 2 {
		t.Fatalf("copies = %+v", cps)
	}
	// Different content at the same path is refused.
	g := f
	g.Sum = sum("b")
	if _, err := c.RecordFile(context.Background(), g, nil); err == nil {
		t.Fatal("different content at a taken path accepted")
	}
	if taken, _ := c.PathTaken(strings.ToLower(f.Path)); !taken {
		t.Fatal("case-insensitive path lookup missed")
	}
	got, err := c.FilesBySum(sum("a"))
	if err != nil || len(got) != 1 || got[0].Path != f.Path || !got[0].AddedAt.Equal(now) {
		t.Fatalf("FilesBySum = %+v, %v", got, err)
	}
	under, _ := c.FilesUnder("2024/2024-06-01 Smith")
	if len(under) != 1 {
		t.Fatalf("FilesUnder = %+v", under)
	}
	if under, _ := c.FilesUnder("2024/2024-06-01 Smi"); len(under) != 0 {
		t.Fatalf("FilesUnder matched a partial segment: %+v", under)
	}
	if err := c.SetCopyState(id, "t-a", CopyCorrupt, now, "hash mismatch"); err != nil {
		t.Fatal(err)
	}
	cps, _ = c.Copies(id)
	for _, cp := range cps {
		if cp.TargetID == "t-a" && (cp.State != CopyCorrupt || !cp.VerifiedAt.Equal(now)) {
			t.Fatalf("corrupt copy = %+v (verified_at must keep the last good time)", cp)
		}
	}
	if _, err := c.FileByPath("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FileByPath(missing) = %v", err)
	}
}

func TestRunsAndHints(t *testing.T) {
	c := open(t)
	now := time.Now()
	id, err := c.BeginRun("ingest", "card", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EndRun(id, "ok", "3 files", []Problem{{Path: "x", Message: "boom"}}, now); err != nil {
		t.Fatal(err)
	}
	runs, _ := c.Runs(10)
	if len(runs) != 1 || runs[0].Status != "ok" {
		t.Fatalf("runs = %+v", runs)
	}
	if _, ok, _ := c.SourceHint("fp"); ok {
		t.Fatal("hint before set")
	}
	c.SetSourceHint("fp", sum("x"))
	if s, ok, _ := c.SourceHint("fp"); !ok || s != sum("x") {
		t.Fatal("hint lost")
	}
}

func TestTimeTextOrderIsTimeOrder(t *testing.T) {
	a := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	b := a.Add(500 * time.Millisecond)
	if !(fmtTime(a) < fmtTime(b)) {
		t.Fatalf("%s sorts after %s", fmtTime(a), fmtTime(b))
	}
	if !parseTime(fmtTime(b)).Equal(b) {
		t.Fatal("time does not round-trip")
	}
}
