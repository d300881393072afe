package catalog

import (
	"context"
	"testing"
	"time"
)

func TestProgressOnTarget(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	t0 := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tg := range []Target{
		{ID: "t-lib", Name: LibraryName, Kind: KindLibrary, Path: "/lib", Medium: "ssd", Location: "home", CreatedAt: t0},
		{ID: "t-v", Name: "vault", Kind: KindFolder, Path: "/v", Medium: "cloud", Location: "cloud", CreatedAt: t0},
	} {
		if err := c.AddTarget(tg); err != nil {
			t.Fatal(err)
		}
	}
	add := func(path, project, content string, size int64, onVault string, at time.Time) int64 {
		t.Helper()
		f := File{Path: path, Project: project, Sum: sum(content), Size: size, Kind: "jpeg", AddedAt: t0}
		cps := []Copy{{TargetID: "t-lib", Path: path, Sum: f.Sum, State: CopyOK, VerifiedAt: t0, WrittenAt: t0}}
		if onVault != "" {
			cps = append(cps, Copy{TargetID: "t-v", Path: path, Sum: sum(onVault), State: CopyOK, VerifiedAt: at, WrittenAt: at})
		}
		id, err := c.RecordFile(ctx, f, cps)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	add("a/1.jpg", "Alpha", "a1", 100, "a1", t1)
	add("a/2.jpg", "Alpha", "a2", 300, "a2", t2)
	add("b/1.jpg", "Beta", "b1", 100, "", t1)
	add("b/2.jpg", "Beta", "b2", 0, "b2", t1)     // an empty file weighs one byte
	add("b/3.jpg", "Beta", "b3", 50, "stale", t2) // a copy of older content does not count
	bad := add("b/4.jpg", "Beta", "b4", 50, "b4", t2)
	if err := c.SetCopyState(bad, "t-v", CopyCorrupt, t2, "content differs"); err != nil {
		t.Fatal(err)
	}
	gone := add("c/1.jpg", "Gamma", "c1", 10, "", t1)
	if _, err := c.db.Exec(`UPDATE files SET deleted_at = ? WHERE id = ?`, fmtTime(t2), gone); err != nil {
		t.Fatal(err)
	}
	got, err := c.ProgressOnTarget(ctx, "t-v")
	if err != nil {
		t.Fatal(err)
	}
	want := []ProjectProgress{
		{Project: "Alpha", Total: 400, Done: 400, Last: t2},
		{Project: "Beta", Total: 100 + 1 + 50 + 50, Done: 1, Last: t1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Project != want[i].Project || got[i].Total != want[i].Total || got[i].Done != want[i].Done || !got[i].Last.Equal(want[i].Last) {
			t.Errorf("project %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
