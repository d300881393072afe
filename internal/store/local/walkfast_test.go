package local_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trove-backup/trove/internal/store"
)

// TestWalkStatMatchesWalk: the fast listing reports exactly what Walk
// reports, in the same order, on a tree whose names sort differently per
// folder and as full paths ("a b/", "a.c", "a/", "a-b").
func TestWalkStatMatchesWalk(t *testing.T) {
	dir := t.TempDir()
	l := attach(t, dir)
	files := []string{
		"a/x.jpg", "a/y/z.jpg", "a/y.jpg", "a.c", "a-b", "a b/q.jpg", "a0/r.jpg", "b.jpg",
		"2024/2024-06-01 Shoot/IMG_0001.JPG", "2024/2024-06-01 Shoot/IMG_0001.JPG.xmp",
		"2024/2024-06-01 Shoot.old/x.jpg", "2024/2024-06-01 Shoot/Edits/e.psd", "ü/é.jpg", "Z.jpg",
		"deep/1/2/3/4/f", "empty-dir-sibling",
	}
	for i, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"empty", "a/empty"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	// Skipped by both: temporaries, symlinks (to a file and to a folder), a fifo.
	os.WriteFile(filepath.Join(dir, "a", ".x.jpg.trove-tmp-123"), []byte("t"), 0o644)
	os.Symlink("x.jpg", filepath.Join(dir, "a", "link.jpg"))
	os.Symlink("a", filepath.Join(dir, "alink"))
	os.Symlink("/etc", filepath.Join(dir, "escape"))

	var want []store.StatEntry
	err := l.Walk(context.Background(), "", func(i store.Info) error {
		want = append(want, store.StatEntry{Base: i.Name, StoredBase: i.Stored, Size: i.Size, ModTimeNs: i.ModTime.UnixNano()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []store.StatEntry
	err = store.WalkStat(context.Background(), l, func(e *store.StatEntry) error {
		got = append(got, store.StatEntry{Base: e.Name(), StoredBase: e.Stored(), Size: e.Size, ModTimeNs: e.ModTimeNs})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(files) {
		t.Fatalf("Walk listed %d files, want %d: %v", len(want), len(files), want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("WalkStat differs from Walk:\n got %v\nwant %v", got, want)
	}
	if !slices.IsSortedFunc(got, func(a, b store.StatEntry) int {
		if a.Base < b.Base {
			return -1
		}
		return 1
	}) {
		t.Errorf("not in byte order of names: %v", got)
	}
}

// TestWalkStatAllocs pins the cost: far less than one allocation per file.
func TestWalkStatAllocs(t *testing.T) {
	dir := t.TempDir()
	l := attach(t, dir)
	sw, ok := any(l).(store.StatWalker)
	if !ok {
		t.Skip("no fast listing on this platform (store.WalkStat uses Walk)")
	}
	const n = 2000
	for d := range 4 {
		sub := filepath.Join(dir, "2024", string(rune('a'+d)))
		os.MkdirAll(sub, 0o755)
		for i := range n / 4 {
			if err := os.WriteFile(filepath.Join(sub, "IMG_"+string(rune('A'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676))+".JPG"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := 0
	allocs := testing.AllocsPerRun(3, func() {
		count = 0
		if err := sw.WalkStat(context.Background(), func(*store.StatEntry) error { count++; return nil }); err != nil {
			t.Fatal(err)
		}
	})
	if count != n {
		t.Fatalf("listed %d files, want %d", count, n)
	}
	// Some per folder (growing its name list), none per file: 6 folders.
	if allocs > n/10 {
		t.Errorf("WalkStat made %.0f allocations for %d files", allocs, n)
	}
	t.Logf("%.0f allocations for %d files", allocs, n)
}

// TestWalkStatStopsCleanly: an error from fn stops the listing with that
// error, and the folders read ahead are closed (no descriptor leaks).
func TestWalkStatStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	l := attach(t, dir)
	for d := range 30 {
		for f := range 5 {
			p := filepath.Join(dir, "2024", fmt.Sprintf("shoot %02d", d), "sub", fmt.Sprintf("IMG_%d.JPG", f))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	before := fds()
	stop := errors.New("stop")
	for _, at := range []int{1, 37, 149} {
		n := 0
		err := store.WalkStat(context.Background(), l, func(*store.StatEntry) error {
			n++
			if n == at {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != at {
			t.Fatalf("stop at %d: err %v after %d files", at, err, n)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := store.WalkStat(ctx, l, func(*store.StatEntry) error {
		if n++; n == 12 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 150 {
		t.Fatalf("cancelled: err %v after %d files", err, n)
	}
	if after := fds(); after != before {
		t.Errorf("%d descriptors open before, %d after", before, after)
	}
}
