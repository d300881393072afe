package backup

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/media"
	"github.com/trove-backup/trove/internal/store"
)

func TestCmpPath(t *testing.T) {
	for _, c := range []struct {
		p, dir, base string
		want         int // sign
	}{
		{"a/b", "a", "b", 0},
		{"a.c", "a", "b", -1}, // '.' < '/'
		{"a/b", "a.c", "x", 1},
		{"a", "a", "b", -1},
		{"a/", "a", "b", -1},
		{"a/c", "a", "b", 1},
		{"a b/x", "a", "x", -1},
		{"x", "", "x", 0},
		{"x", "", "y", -1},
		{"2024/2024-06-01 S/IMG.JPG", "2024/2024-06-01 S", "IMG.JPG", 0},
		{"2024/2024-06-01 S/IMG.JPG", "2024/2024-06-01 S/Edits", "a", 1},
		{"2024/2024-06-01 S/Edits/a", "2024/2024-06-01 S", "IMG.JPG", -1},
	} {
		got := cmpPath(c.p, c.dir, c.base)
		want := c.p < joinName(c.dir, c.base)
		if (got < 0) != want || (got == 0) != (c.p == joinName(c.dir, c.base)) || (got < 0) != (c.want < 0) || (got == 0) != (c.want == 0) {
			t.Errorf("cmpPath(%q, %q, %q) = %d, want sign %d", c.p, c.dir, c.base, got, c.want)
		}
	}
}

// TestScanFindsExactChanges runs backups over a library whose names sort
// differently per folder and as whole paths, and checks the merge of the
// walk with the catalog finds exactly what changed.
func TestScanFindsExactChanges(t *testing.T) {
	o, _ := windowSetup(t, 3)
	lib := o.LibraryDir
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(lib, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"a/x.jpg", "a/y/z.jpg", "a/y.jpg", "a.c", "a-b", "a b/q.jpg", "a0/r.jpg", "b.jpg", "Z.jpg",
		"2024/2024-06-01 Smith Wedding.old/x.jpg", "2024/2024-06-01 Smith Wedding/Edits/e.psd", "ü/é.jpg",
		"a/README.txt"} // a photographer's README below the top is theirs
	for _, n := range names {
		write(n, "v1 "+n)
	}
	// Clutter is never backed up.
	write(".Trashes/501/gone.jpg", "junk")
	write("a/.DS_Store", "junk")
	write("README.txt", "Trove's own, at the top")
	run := func() *Result {
		t.Helper()
		o.Now = time.Now
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			t.Fatalf("run not OK: %+v", res)
		}
		return res
	}
	res := run()
	total := 3 + len(names)
	if s := res.Scan; s.Files != total || s.New != total || s.Unchanged != 0 || s.Gone != 0 {
		t.Fatalf("first run: %+v, want %d new", s, total)
	}
	if res.Targets[0].Copied != total {
		t.Fatalf("first run copied %d, want %d", res.Targets[0].Copied, total)
	}
	res = run()
	if s := res.Scan; s.Files != total || s.Unchanged != total || s.New+s.Changed+s.Touched+s.Gone != 0 {
		t.Fatalf("no-change run: %+v", s)
	}
	if res.Targets[0].Copied != 0 {
		t.Fatalf("no-change run copied %d", res.Targets[0].Copied)
	}
	// One new file between existing ones, one edited, one touched, one deleted.
	write("a/xx.jpg", "new")
	write("a.c", "v2 edited")
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(lib, "b.jpg"), later, later)
	os.Remove(filepath.Join(lib, "a", "y", "z.jpg"))
	res = run()
	s := res.Scan
	if s.Files != total || s.New != 1 || s.Changed != 1 || s.Touched != 1 || s.Deleted != 1 || s.Unchanged != total-3 {
		t.Fatalf("after changes: %+v", s)
	}
	if tr := res.Targets[0]; tr.Copied != 2 || tr.Versions != 2 {
		t.Fatalf("after changes, target: %+v (want 2 copied, 2 versions kept)", tr)
	}
	// The deleted file comes back.
	write("a/y/z.jpg", "v1 a/y/z.jpg")
	res = run()
	if s := res.Scan; s.Restored != 1 || s.Unchanged != total {
		t.Fatalf("after the file came back: %+v", s)
	}
}

func TestJunkFile(t *testing.T) {
	for _, n := range []string{"IMG_0001.JPG", ".DS_Store", "Thumbs.db", "THUMBS.DB", "._IMG_0001.JPG", "desktop.ini",
		"Émile.jpg", "ÉMILE.JPG", "a-very-long-file-name-beyond-thirty-two-bytes.JPG", ".Trashes", "README.txt", ""} {
		if got, want := junkFile(n), media.IsJunk(n, false); got != want {
			t.Errorf("junkFile(%q) = %v, media.IsJunk says %v", n, got, want)
		}
	}
}

// reversedWalk is a store whose Walk lists in reverse order (and which has
// no fast listing), to prove the merge refuses a walk out of order rather
// than taking present files for deleted ones.
type reversedWalk struct{ store.Store }

func (s reversedWalk) Walk(ctx context.Context, prefix string, fn func(store.Info) error) error {
	var all []store.Info
	if err := s.Store.Walk(ctx, prefix, func(i store.Info) error { all = append(all, i); return nil }); err != nil {
		return err
	}
	slices.Reverse(all)
	for _, i := range all {
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}

func TestScanRefusesWalkOutOfOrder(t *testing.T) {
	o, _ := windowSetup(t, 5)
	res, err := Run(context.Background(), o)
	if err != nil || !res.OK() {
		t.Fatalf("first run: %v %+v", err, res)
	}
	// The plain Walk (no StatWalker) in order: same result as the fast one.
	o.Library.Store = struct{ store.Store }{o.Library.Store}
	res, err = Run(context.Background(), o)
	if err != nil || res.Scan.Unchanged != 5 || res.Scan.Gone != 0 {
		t.Fatalf("run through Walk: %v %+v", err, res.Scan)
	}
	o.Library.Store = reversedWalk{o.Library.Store}
	res, err = Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("a walk out of order: err %v, want out of order", err)
	}
	if res.Scan.Deleted != 0 {
		t.Fatalf("files marked deleted: %+v", res.Scan)
	}
	files, err := o.Catalog.AllFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !f.DeletedAt.IsZero() {
			t.Errorf("%s marked deleted", f.Path)
		}
	}
}

// TestMergeIDs: copies find their entries through the dense ID array and,
// for sparse or late IDs, the map; a stale copy (other content) never counts.
func TestMergeIDs(t *testing.T) {
	for _, maxID := range []int64{3, 1 << 40} {
		r := &runner{}
		m := &merge{r: r, free: make(chan idxMsg, 1)}
		m.take(idxMsg{count: 3, maxID: maxID}, true)
		ents := []entry{{path: "a", id: 1, sum: digest.Sum{1}}, {path: "b", id: 3, sum: digest.Sum{3}},
			{path: "c", id: 1 << 41, sum: digest.Sum{4}}}
		m.take(idxMsg{ents: ents}, true)
		m.take(idxMsg{copies: []copyRow{{id: 1, sum: digest.Sum{1}, t: 0}, {id: 3, sum: digest.Sum{9}, t: 0},
			{id: 1 << 41, sum: digest.Sum{4}, t: 2}, {id: 2, sum: digest.Sum{2}, t: 1}}}, true)
		if !m.filesEnd || len(r.entries) != 3 {
			t.Fatalf("maxID %d: filesEnd %v, %d entries", maxID, m.filesEnd, len(r.entries))
		}
		if h := []uint64{r.entries[0].has, r.entries[1].has, r.entries[2].has}; !slices.Equal(h, []uint64{1, 0, 4}) {
			t.Errorf("maxID %d: has bits %v, want [1 0 4]", maxID, h)
		}
	}
}
