package prune

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store/local"
)

var now = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, time.UTC) }

// TestApply: the rule alone, on a fake clock: everything younger than 30
// days, then the newest of each month for 12 months, nothing older; groups
// (file, target) are independent.
func TestApply(t *testing.T) {
	vs := []catalog.Version{
		{ID: 1, FileID: 1, TargetID: "a", CreatedAt: now.AddDate(0, 0, -10)},
		{ID: 2, FileID: 1, TargetID: "a", CreatedAt: now.AddDate(0, 0, -29)},
		{ID: 3, FileID: 1, TargetID: "a", CreatedAt: day(2025, 5, 6)}, // 40 days: monthly, newest of May
		{ID: 4, FileID: 1, TargetID: "a", CreatedAt: day(2025, 5, 1)}, // same month, older: goes
		{ID: 5, FileID: 1, TargetID: "a", CreatedAt: day(2025, 2, 10)},
		{ID: 6, FileID: 1, TargetID: "a", CreatedAt: day(2025, 2, 1)},
		{ID: 7, FileID: 1, TargetID: "a", CreatedAt: day(2024, 7, 1)},  // within 12 months
		{ID: 8, FileID: 1, TargetID: "a", CreatedAt: day(2024, 6, 1)},  // 12 months and 2 weeks: goes
		{ID: 9, FileID: 1, TargetID: "a", CreatedAt: day(2023, 1, 1)},  // goes
		{ID: 10, FileID: 1, TargetID: "b", CreatedAt: day(2025, 5, 1)}, // another target: its own May
		{ID: 11, FileID: 2, TargetID: "a", CreatedAt: day(2025, 2, 1)}, // another file: its own February
	}
	got := Apply(DefaultRule(), vs, now)
	keep := map[int64]bool{1: true, 2: true, 3: true, 5: true, 7: true, 10: true, 11: true}
	for _, v := range vs {
		if got[v.ID].Keep != keep[v.ID] {
			t.Errorf("version %d (%s): keep %v (%s), want %v", v.ID, v.CreatedAt.Format("2006-01-02"), got[v.ID].Keep, got[v.ID].Why, keep[v.ID])
		}
	}
	if w := got[4].Why; w != "a newer version of 2025-05 is kept" {
		t.Errorf("why for 4: %q", w)
	}
	// No monthly keeping: only the last 30 days.
	got = Apply(Rule{KeepAllDays: 30}, vs, now)
	if !got[1].Keep || got[3].Keep || got[7].Keep {
		t.Errorf("rule without months: %v", got)
	}
}

// setup is a catalog with a library and two folder targets (real folders).
type setup struct {
	t      *testing.T
	cat    *catalog.Catalog
	lib    catalog.Target
	a, b   catalog.Target
	la, lb *local.Local
}

func newSetup(t *testing.T) *setup {
	dir := t.TempDir()
	cat, err := catalog.Open(filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	s := &setup{t: t, cat: cat}
	mk := func(id, name, kind string) (catalog.Target, *local.Local) {
		root := filepath.Join(dir, name)
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		tg := catalog.Target{ID: id, Name: name, Kind: kind, Path: root, Medium: "hdd", Location: "home", CreatedAt: now}
		if err := cat.AddTarget(tg); err != nil {
			t.Fatal(err)
		}
		if _, err := local.Prepare(root, local.Identity{Format: 1, TargetID: id, Name: name, LibraryID: "lib", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		l, err := local.Attach(root, id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return tg, l
	}
	s.lib, _ = mk("L", catalog.LibraryName, catalog.KindLibrary)
	s.a, s.la = mk("A", "drive-a", catalog.KindFolder)
	s.b, s.lb = mk("B", "drive-b", catalog.KindFolder)
	return s
}

func sumOf(b []byte) digest.Sum { return digest.Sum(sha256.Sum256(b)) }

// file records a library file with content and a verified library copy.
func (s *setup) file(p string, content []byte) int64 {
	s.t.Helper()
	f := catalog.File{Path: p, Project: "P", Sum: sumOf(content), Size: int64(len(content)), Kind: "jpeg", AddedAt: now}
	id, err := s.cat.RecordFile(context.Background(), f, []catalog.Copy{{TargetID: s.lib.ID, Path: p, State: catalog.CopyOK,
		VerifiedAt: now, WrittenAt: now}})
	if err != nil {
		s.t.Fatal(err)
	}
	return id
}

// version writes an old content into a target's versions area and records it.
func (s *setup) version(tg catalog.Target, fileID int64, name string, content []byte, at time.Time) string {
	s.t.Helper()
	vp := ".trove/versions/" + at.Format("2006-01-02T15-04-05Z") + "/" + name
	full := filepath.Join(tg.Path, filepath.FromSlash(vp))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(full, content, 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := s.cat.AddVersion(catalog.Version{FileID: fileID, TargetID: tg.ID, Path: vp, Sum: sumOf(content),
		Size: int64(len(content)), Reason: "replaced", CreatedAt: at}); err != nil {
		s.t.Fatal(err)
	}
	return vp
}

func exists(t *testing.T, root, vp string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(root, filepath.FromSlash(vp)))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// TestRunNeverLastCopy: out-of-retention versions go, except the current
// content of a file and the last copy of any content; a dry run deletes
// nothing; every deletion is logged on the target.
func TestRunNeverLastCopy(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	old := day(2023, 3, 1)
	f1 := s.file("2023/x/a.xmp", []byte("current a"))
	// A file deleted from the library whose copy (on a drive not yet backed
	// up) is still verified: its content is not current, but that copy holds it.
	f2 := s.file("2023/x/b.jpg", []byte("old three"))
	if err := s.cat.MarkDeleted(f2, now); err != nil {
		t.Fatal(err)
	}
	both := []byte("old one") // versions on A and B: one may go
	onA1 := s.version(s.a, f1, "2023/x/a.xmp", both, old)
	onB1 := s.version(s.b, f1, "2023/x/a.xmp", both, old)
	cur := s.version(s.a, f1, "2023/x/a.xmp", []byte("current a"), old.Add(time.Hour))   // current content: kept
	only := s.version(s.a, f1, "2023/x/a.xmp", []byte("old two"), old.Add(2*time.Hour))  // sole holder: kept
	dup := s.version(s.a, f1, "2023/x/a.xmp", []byte("old three"), old.Add(3*time.Hour)) // f2's verified copy holds it: goes
	recent := s.version(s.a, f1, "2023/x/a.xmp", []byte("recent"), now.AddDate(0, 0, -3))

	targets := []Target{{Target: s.a, Remover: FolderRemover(s.la.Root()), Meta: s.la},
		{Target: s.b, Remover: FolderRemover(s.lb.Root()), Meta: s.lb}}
	o := Options{Catalog: s.cat, Targets: targets, Rule: DefaultRule(), DryRun: true, Now: func() time.Time { return now }}
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	deleted := func(res *Result) []string {
		var out []string
		for _, it := range res.Deleted {
			out = append(out, it.Target+":"+it.Path)
		}
		return out
	}
	want := []string{"drive-a:" + onA1, "drive-a:" + dup}
	if got := deleted(res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dry run would delete %v, want %v", got, want)
	}
	for _, vp := range []string{onA1, dup} {
		if !exists(t, s.a.Path, vp) {
			t.Errorf("dry run deleted %s", vp)
		}
	}
	if vs, _ := s.cat.VersionsOnTarget(s.a.ID); len(vs) != 5 {
		t.Errorf("dry run changed the catalog: %d versions on A", len(vs))
	}

	o.DryRun = false
	res, err = Run(ctx, o)
	if err != nil || !res.OK() {
		t.Fatalf("prune: %v %+v", err, res.Problems)
	}
	if got := deleted(res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	whys := map[string]string{}
	for _, it := range res.Protected {
		whys[it.Target+":"+it.Path] = it.Why
	}
	if whys["drive-a:"+cur] != "holds the current content of a file" || whys["drive-a:"+only] != "the last copy of this content anywhere" ||
		whys["drive-b:"+onB1] != "the last copy of this content anywhere" || len(whys) != 3 {
		t.Errorf("protected: %v", whys)
	}
	for vp, want := range map[string]bool{onA1: false, dup: false, cur: true, only: true, recent: true} {
		if exists(t, s.a.Path, vp) != want {
			t.Errorf("%s on drive-a: exists %v, want %v", vp, !want, want)
		}
	}
	if !exists(t, s.b.Path, onB1) {
		t.Errorf("the last copy of %q on drive-b was deleted", both)
	}
	if _, err := os.Stat(filepath.Join(s.a.Path, filepath.FromSlash(path.Dir(path.Dir(path.Dir(onA1)))))); !os.IsNotExist(err) {
		t.Errorf("empty version folder left: %v", err)
	}
	if vs, _ := s.cat.VersionsOnTarget(s.a.ID); len(vs) != 3 {
		t.Errorf("catalog keeps %d versions on A, want 3", len(vs))
	}
	log, err := os.ReadFile(filepath.Join(s.a.Path, ".trove", "prune.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(log, []byte("\n")); n != 2 || !strings.Contains(string(log), "deleted "+onA1+" (replaced version of 2023/x/a.xmp from 2023-03-01") {
		t.Errorf("prune.log:\n%s", log)
	}
	// Again: nothing more goes, and the log is not rewritten empty.
	res, err = Run(ctx, o)
	if err != nil || len(res.Deleted) != 0 {
		t.Errorf("second run deleted %v (%v)", deleted(res), err)
	}
}

// TestFolderRemoverRefuses: paths outside .trove/versions or with dot
// segments are refused; a missing file is ErrNotExist.
func TestFolderRemoverRefuses(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "photo.jpg"), []byte("x"), 0o644)
	r := FolderRemover(dir)
	for _, p := range []string{"photo.jpg", ".trove/versions/../../photo.jpg", ".trove/versions", "/etc/passwd", ".trove/versions//x"} {
		if err := r.RemoveVersion(context.Background(), p); err == nil {
			t.Errorf("RemoveVersion(%q) succeeded", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "photo.jpg")); err != nil {
		t.Errorf("photo.jpg removed: %v", err)
	}
}
