package catalog

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/digest"
)

func TestDecodeSum(t *testing.T) {
	want := sum("x")
	for _, s := range []string{want.String(), strings.ToUpper(want.String())} {
		var got digest.Sum
		if err := decodeSum(&got, s); err != nil || got != want {
			t.Errorf("decodeSum(%q) = %x, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "00", strings.Repeat("g", 64), strings.Repeat("0", 63) + " ", strings.Repeat("0", 65)} {
		var got digest.Sum
		if err := decodeSum(&got, bad); err == nil {
			t.Errorf("decodeSum(%q) accepted", bad)
		}
	}
}

// TestScanIndexOrderAndCopies: the index comes in Go's byte order of paths
// (the backup's merge join relies on it), and VerifiedCopies lists only the
// target's verified, ok copies.
func TestScanIndexOrderAndCopies(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tg := range []Target{
		{ID: "t-lib", Name: LibraryName, Kind: KindLibrary, Path: "/lib", Medium: "ssd", Location: "home", CreatedAt: now},
		{ID: "t-a", Name: "drive-a", Kind: KindFolder, Path: "/mnt/a", Medium: "hdd", Location: "home", CreatedAt: now},
	} {
		if err := c.AddTarget(tg); err != nil {
			t.Fatal(err)
		}
	}
	paths := []string{"a/x.jpg", "a.c", "a b/q.jpg", "Z.jpg", "ü/é.jpg", "a/y/z.jpg", "a-b", "a0/r.jpg", "b.jpg", "a/y.jpg"}
	var files []File
	for _, p := range paths {
		files = append(files, File{Path: p, Project: "P", Sum: sum(p), Size: 1, Kind: "jpeg", AddedAt: now, LibSize: 1, LibMtimeNs: 7})
	}
	ids, err := c.AddLibraryFiles(ctx, files, "t-lib", now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = c.ScanIndex(ctx, func(e *IndexEntry) error {
		if e.Sum != sum(e.Path) || e.LibSize != 1 || e.LibMtimeNs != 7 || e.Deleted {
			t.Errorf("entry %+v", *e)
		}
		got = append(got, e.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(paths)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("ScanIndex order %q, want %q", got, want)
	}
	// On t-a: a verified copy, a stale one (other content: listed, the
	// caller compares), an unverified one, a corrupt one.
	cps := []Copy{
		{FileID: ids[0], TargetID: "t-a", Path: paths[0], Sum: sum(paths[0]), State: CopyOK, VerifiedAt: now, WrittenAt: now},
		{FileID: ids[1], TargetID: "t-a", Path: paths[1], Sum: sum("old"), State: CopyOK, VerifiedAt: now, WrittenAt: now},
		{FileID: ids[2], TargetID: "t-a", Path: paths[2], Sum: sum(paths[2]), State: CopyOK, WrittenAt: now},
		{FileID: ids[3], TargetID: "t-a", Path: paths[3], Sum: sum(paths[3]), State: CopyCorrupt, VerifiedAt: now, WrittenAt: now},
	}
	if err := c.PutCopies(ctx, cps); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]string{}
	err = c.VerifiedCopies(ctx, "t-a", func(id int64, s *digest.Sum) error {
		seen[id] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[ids[0]] != sum(paths[0]).String() || seen[ids[1]] != sum("old").String() {
		t.Fatalf("VerifiedCopies = %v", seen)
	}
	// Copies of deleted files, in the order asked, only for deleted files.
	if err := c.MarkDeletedFromLibrary(ctx, []int64{ids[1], ids[0]}, "t-lib", now); err != nil {
		t.Fatal(err)
	}
	dels, err := c.CopiesOfDeleted(ctx, "t-a", []int64{ids[1], ids[0], ids[2]})
	if err != nil {
		t.Fatal(err)
	}
	if len(dels) != 2 || dels[0].FileID != ids[1] || dels[1].FileID != ids[0] || dels[0].FilePath != paths[1] {
		t.Fatalf("CopiesOfDeleted = %+v", dels)
	}
}

// StaleCopies counts good copies that are due for a verify, not the
// missing or corrupt ones (those are problems, not overdue checks).
func TestStaleCopies(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	t0 := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := c.AddTarget(Target{ID: "t-a", Name: "drive-a", Kind: KindFolder, Path: "/a", Medium: "hdd", Location: "home", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i, at := range []time.Time{t0, t0, t0.Add(48 * time.Hour), {}, t0} {
		p := fmt.Sprintf("p/%d.jpg", i)
		f := File{Path: p, Project: "P", Sum: sum(p), Size: 1, Kind: "jpeg", AddedAt: t0}
		id, err := c.RecordFile(ctx, f, []Copy{{TargetID: "t-a", Path: p, Sum: f.Sum, State: CopyOK, VerifiedAt: at, WrittenAt: t0}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := c.SetCopyState(ids[1], "t-a", CopyCorrupt, t0, "content differs"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCopyState(ids[4], "t-a", CopyMissing, t0, "not found"); err != nil {
		t.Fatal(err)
	}
	// Before t0+24h: file 0 (old), file 3 (never verified); not file 2
	// (recent), not the corrupt or missing ones.
	n, err := c.StaleCopies("t-a", t0.Add(24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("StaleCopies = %d, %v; want 2", n, err)
	}
}
