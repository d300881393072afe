package catalog

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/digest"
)

var ixNow = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

// ixCatalog is a catalog with the library and targets t-a, t-b, c-c, and
// files whose copies on t-a and t-b cover every case: counting, stale
// (older content), unverified, corrupt, missing, and a deleted file.
func ixCatalog(t *testing.T, n int) (*Catalog, []int64) {
	t.Helper()
	c := open(t)
	ctx := context.Background()
	for _, tg := range []Target{
		{ID: "t-lib", Name: LibraryName, Kind: KindLibrary, Path: "/lib", Medium: "ssd", Location: "home", CreatedAt: ixNow},
		{ID: "t-a", Name: "drive-a", Kind: KindFolder, Path: "/mnt/a", Medium: "hdd", Location: "home", CreatedAt: ixNow},
		{ID: "t-b", Name: "drive-b", Kind: KindFolder, Path: "/mnt/b", Medium: "hdd", Location: "bank", CreatedAt: ixNow},
		{ID: "t-c", Name: "drive-c", Kind: KindFolder, Path: "/mnt/c", Medium: "hdd", Location: "bank", CreatedAt: ixNow},
	} {
		if err := c.AddTarget(tg); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	var files []File
	for len(files) < n {
		// Paths sharing prefixes of every length, non-ASCII, bytes around '/'.
		p := fmt.Sprintf("%d/%d-%02d Shoot ü%d/IMG_%04d.JPG", 2020+rng.IntN(3), 2020+rng.IntN(3), rng.IntN(12), rng.IntN(5), rng.IntN(10000))
		switch rng.IntN(10) {
		case 0:
			p = strings.Replace(p, "/", "-", 1)
		case 1:
			p = strings.Repeat("deep/", rng.IntN(6)) + p
		case 2:
			p = p[:rng.IntN(len(p))+1]
		}
		if seen[p] || strings.HasSuffix(p, "/") {
			continue
		}
		seen[p] = true
		size := int64(rng.IntN(1 << 20))
		if rng.IntN(20) == 0 {
			size = -1
		}
		files = append(files, File{Path: p, Project: "P", Sum: sum(p), Size: 1, Kind: "jpeg", AddedAt: ixNow,
			LibSize: size, LibMtimeNs: rng.Int64N(2e18) - 1e17})
	}
	ids, err := c.AddLibraryFiles(ctx, files, "t-lib", ixNow)
	if err != nil {
		t.Fatal(err)
	}
	var cps []Copy
	for i, id := range ids {
		for _, tg := range []string{"t-a", "t-b"} {
			cp := Copy{FileID: id, TargetID: tg, Path: files[i].Path, Sum: files[i].Sum, State: CopyOK, VerifiedAt: ixNow, WrittenAt: ixNow}
			switch rng.IntN(8) {
			case 0:
				continue
			case 1:
				cp.Sum = sum("older")
			case 2:
				cp.VerifiedAt = time.Time{}
			case 3:
				cp.State = CopyCorrupt
			case 4:
				cp.State = CopyMissing
			}
			cps = append(cps, cp)
		}
	}
	if err := c.PutCopies(ctx, cps); err != nil {
		t.Fatal(err)
	}
	if err := c.MarkDeletedFromLibrary(ctx, []int64{ids[0], ids[len(ids)/2]}, "t-lib", ixNow); err != nil {
		t.Fatal(err)
	}
	return c, ids
}

// ixRead reads the whole index through ReadBackupIndex, as text lines.
func ixRead(t *testing.T, c *Catalog, targets ...string) ([]string, BackupIndexInfo) {
	t.Helper()
	var out []string
	info, err := c.ReadBackupIndex(context.Background(), targets, func(count int, maxID int64) error {
		out = append(out, fmt.Sprintf("extent %d %d", count, maxID))
		return nil
	}, func(e *BackupEntry) error {
		out = append(out, fmt.Sprintf("%d %q %x %d %d %v %b", e.ID, e.Path, e.Sum, e.LibSize, e.LibMtimeNs, e.Deleted, e.Has))
		return nil
	})
	if err != nil {
		t.Fatalf("ReadBackupIndex(%q): %v", targets, err)
	}
	return out, info
}

// ixWant is the index as the catalog's other reads tell it: ScanIndex and
// Copies with Copy.Counts.
func ixWant(t *testing.T, c *Catalog, targets ...string) []string {
	t.Helper()
	count, maxID, err := c.FileExtent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := []string{fmt.Sprintf("extent %d %d", count, maxID)}
	all, err := c.AllCopies()
	if err != nil {
		t.Fatal(err)
	}
	err = c.ScanIndex(context.Background(), func(e *IndexEntry) error {
		var has uint64
		for i, tg := range targets {
			for _, cp := range all[e.ID] {
				if cp.TargetID == tg && cp.Counts(File{Sum: e.Sum}) {
					has |= 1 << i
				}
			}
		}
		out = append(out, fmt.Sprintf("%d %q %x %d %d %v %b", e.ID, e.Path, e.Sum, e.LibSize, e.LibMtimeNs, e.Deleted, has))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ixSame(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("%s: line %d is %s, want %s (%d lines, want %d)", what, i, got[i], want[i], len(got), len(want))
			}
		}
		t.Fatalf("%s: %d lines, want %d", what, len(got), len(want))
	}
}

// TestBackupIndexCacheServes: the first read comes from SQLite and writes
// the cache; the next ones are served from it, identical.
func TestBackupIndexCacheServes(t *testing.T) {
	c, _ := ixCatalog(t, 1000)
	want := ixWant(t, c, "t-a", "t-b")
	got, info := ixRead(t, c, "t-a", "t-b")
	ixSame(t, "from SQLite", got, want)
	if info.FromCache || !info.CacheWritten {
		t.Fatalf("first read: %+v, want SQLite and the cache written", info)
	}
	st, err := os.Stat(c.Path() + indexCacheSuffix)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v, %v", st, err)
	}
	if tmps, _ := filepath.Glob(c.Path() + indexCacheSuffix + ".tmp-*"); len(tmps) > 0 {
		t.Fatalf("temporary files left: %q", tmps)
	}
	for range 2 {
		got, info = ixRead(t, c, "t-a", "t-b")
		ixSame(t, "from the cache", got, want)
		if !info.FromCache || info.CacheWritten {
			t.Fatalf("no-change read: %+v, want the cache", info)
		}
	}
	// Writes elsewhere than files and copies leave it valid.
	run, err := c.BeginRun("backup", "", ixNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EndRun(run, "ok", "", []Problem{{Path: "x", Message: "y"}}, ixNow); err != nil {
		t.Fatal(err)
	}
	if _, info = ixRead(t, c, "t-a", "t-b"); !info.FromCache {
		t.Fatalf("after a run was recorded: %+v, want the cache", info)
	}
}

// TestBackupIndexCacheInvalidated: every kind of write to files or copies
// makes the next read go to SQLite (and see the write).
func TestBackupIndexCacheInvalidated(t *testing.T) {
	c, ids := ixCatalog(t, 200)
	ctx := context.Background()
	later := ixNow.Add(time.Hour)
	writes := []struct {
		name string
		do   func() error
	}{
		{"new file", func() error {
			_, err := c.AddLibraryFiles(ctx, []File{{Path: "new/file.jpg", Project: "P", Sum: sum("n"), Size: 1, Kind: "jpeg",
				AddedAt: ixNow, LibSize: 1, LibMtimeNs: 1}}, "t-lib", ixNow)
			return err
		}},
		{"verification cleared", func() error {
			_, err := c.db.Exec(`UPDATE copies SET verified_at = '' WHERE file_id = ? AND target_id = 't-lib'`, ids[3])
			return err
		}},
		{"first verification", func() error { return c.SetCopyState(ids[3], "t-lib", CopyOK, later, "") }},
		{"found corrupt", func() error { return c.SetCopyState(ids[4], "t-b", CopyCorrupt, later, "bad") }},
		{"deletion mark", func() error { return c.MarkDeletedFromLibrary(ctx, []int64{ids[5]}, "t-lib", later) }},
		{"deleted (old API)", func() error { return c.MarkDeleted(ids[6], later) }},
		{"copy added", func() error {
			return c.PutCopy(ctx, Copy{FileID: ids[7], TargetID: "t-c", Path: "x", Sum: sum("x"), State: CopyOK,
				VerifiedAt: later, WrittenAt: later})
		}},
		{"copy removed", func() error { return c.RemoveCopy(ids[8], "t-lib") }},
		{"library stat", func() error { return c.SetLibraryStat(ids[9], 5, 6) }},
		{"library stats", func() error { return c.SetLibraryStats(ctx, []LibraryStat{{FileID: ids[10], Size: 7, MtimeNs: 8}}) }},
		{"content edited", func() error { return c.UpdateContent(ctx, ids[11], sum("edit"), 3, 4, "t-lib", later) }},
		{"file row deleted", func() error {
			_, err := c.db.Exec(`DELETE FROM files WHERE id = ?`, ids[12])
			return err
		}},
	}
	for _, w := range writes {
		if _, info := ixRead(t, c, "t-a", "t-b", "t-c"); !info.FromCache && !info.CacheWritten {
			t.Fatalf("before %s: %+v", w.name, info)
		}
		if err := w.do(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		want := ixWant(t, c, "t-a", "t-b", "t-c")
		got, info := ixRead(t, c, "t-a", "t-b", "t-c")
		if info.FromCache || !info.CacheWritten {
			t.Fatalf("after %s: %+v, want SQLite", w.name, info)
		}
		ixSame(t, "after "+w.name, got, want)
		got, info = ixRead(t, c, "t-a", "t-b", "t-c")
		if !info.FromCache {
			t.Fatalf("second read after %s: %+v, want the cache", w.name, info)
		}
		ixSame(t, "cache after "+w.name, got, want)
	}
}

// TestBackupIndexCacheKeptByHarmlessWrites: writes that change nothing the
// index reads (a copy verified good again, a server check, a problem text)
// leave the cache valid, so a nightly verify does not cost the next backup
// its cache.
func TestBackupIndexCacheKeptByHarmlessWrites(t *testing.T) {
	c, ids := ixCatalog(t, 200)
	ctx := context.Background()
	later := ixNow.Add(time.Hour)
	writes := []struct {
		name string
		do   func() error
	}{
		{"verified good again", func() error { return c.SetCopyState(ids[3], "t-lib", CopyOK, later, "") }},
		{"server check", func() error { return c.MarkServerChecked(ctx, "t-lib", ids[4:40], later) }},
		{"problem text", func() error {
			_, err := c.db.Exec(`UPDATE copies SET problem = 'noted' WHERE file_id = ? AND target_id = 't-lib'`, ids[5])
			return err
		}},
	}
	if _, info := ixRead(t, c, "t-a", "t-lib"); !info.CacheWritten {
		t.Fatalf("first read: %+v", info)
	}
	for _, w := range writes {
		if err := w.do(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		want := ixWant(t, c, "t-a", "t-lib")
		got, info := ixRead(t, c, "t-a", "t-lib")
		if !info.FromCache {
			t.Fatalf("after %s: %+v, want the cache", w.name, info)
		}
		ixSame(t, "cache after "+w.name, got, want)
	}
}

// TestBackupIndexCacheDamaged: a cache with any byte changed, cut short or
// grown is refused (nothing of it handed out) and rebuilt.
func TestBackupIndexCacheDamaged(t *testing.T) {
	c, _ := ixCatalog(t, 5)
	want := ixWant(t, c, "t-a")
	ixRead(t, c, "t-a")
	path := c.Path() + indexCacheSuffix
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, bad []byte) {
		t.Helper()
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		got, info := ixRead(t, c, "t-a")
		if info.FromCache || !info.CacheWritten {
			t.Fatalf("%s: %+v, want refused and rebuilt", what, info)
		}
		ixSame(t, what, got, want)
		if now, err := os.ReadFile(path); err != nil || string(now) == string(bad) {
			t.Fatalf("%s: cache not rebuilt (%v)", what, err)
		}
	}
	for i := range good {
		bad := slices.Clone(good)
		bad[i] ^= 1 << (i % 8)
		check(fmt.Sprintf("bit %d of byte %d flipped", i%8, i), bad)
	}
	for _, n := range []int{0, 1, 8, len(good) / 2, len(good) - 5, len(good) - 4, len(good) - 1} {
		check(fmt.Sprintf("cut to %d bytes", n), good[:n])
	}
	check("a byte appended", append(slices.Clone(good), 0))
	check("cut short, checksum matching", func() []byte {
		// A file that ends early but whose checksum matches: refused by
		// its structure.
		b := slices.Clone(good[:len(good)-4-45])
		return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	}())
	// Damage with a matching checksum (a bug, not the disk): never a panic,
	// never an error, and refused whenever the structure shows it.
	for i := len(indexCacheMagic); i < len(good)-4; i++ {
		b := slices.Clone(good[:len(good)-4])
		b[i] ^= 0x81
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ixRead(t, c, "t-a")
	}
}

// TestBackupIndexCacheOlderCatalog: a catalog put back from an older copy
// of itself is not served the cache of its newer state.
func TestBackupIndexCacheOlderCatalog(t *testing.T) {
	c, ids := ixCatalog(t, 50)
	old := filepath.Join(t.TempDir(), "old.db")
	if err := c.Snapshot(old); err != nil {
		t.Fatal(err)
	}
	wantOld := ixWant(t, c, "t-a")
	if err := c.SetCopyState(ids[1], "t-a", CopyMissing, time.Time{}, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, info := ixRead(t, c, "t-a"); !info.CacheWritten {
		t.Fatalf("newer state: %+v", info)
	}
	if _, info := ixRead(t, c, "t-a"); !info.FromCache {
		t.Fatalf("newer state, again: %+v", info)
	}
	path := c.Path()
	c.Close()
	for _, s := range []string{"-wal", "-shm"} {
		os.Remove(path + s)
	}
	b, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, info := ixRead(t, c, "t-a")
	if info.FromCache {
		t.Fatal("the older catalog was served the newer cache")
	}
	ixSame(t, "older catalog", got, wantOld)
}

// TestBackupIndexCacheUnwritable: where the cache cannot be written, reads
// go to SQLite every time and succeed.
func TestBackupIndexCacheUnwritable(t *testing.T) {
	c, _ := ixCatalog(t, 20)
	// A folder in the cache's place: it can be neither read nor replaced
	// (unlike a read-only folder, this holds for root too).
	if err := os.Mkdir(c.Path()+indexCacheSuffix, 0o700); err != nil {
		t.Fatal(err)
	}
	want := ixWant(t, c, "t-a", "t-b")
	for range 2 {
		got, info := ixRead(t, c, "t-a", "t-b")
		if info.FromCache || info.CacheWritten {
			t.Fatalf("%+v, want SQLite without a cache", info)
		}
		ixSame(t, "without a cache", got, want)
	}
	if tmps, _ := filepath.Glob(c.Path() + indexCacheSuffix + ".tmp-*"); len(tmps) > 0 {
		t.Fatalf("temporary files left: %q", tmps)
	}
}

// TestBackupIndexCacheTargets: a cache serves any subset of its targets, in
// any order; a target it does not hold sends the read to SQLite.
func TestBackupIndexCacheTargets(t *testing.T) {
	c, _ := ixCatalog(t, 300)
	if _, info := ixRead(t, c, "t-a"); !info.CacheWritten {
		t.Fatalf("%+v", info)
	}
	got, info := ixRead(t, c, "t-b", "t-a")
	if info.FromCache || !info.CacheWritten {
		t.Fatalf("t-b was not cached, yet: %+v", info)
	}
	ixSame(t, "t-b t-a from SQLite", got, ixWant(t, c, "t-b", "t-a"))
	for _, tgs := range [][]string{{"t-b", "t-a"}, {"t-a", "t-b"}, {"t-a"}, {"t-b"}, {}, {"t-a", "t-a"}} {
		got, info := ixRead(t, c, tgs...)
		if !info.FromCache {
			t.Fatalf("%q: %+v, want the cache", tgs, info)
		}
		ixSame(t, fmt.Sprintf("%q from the cache", tgs), got, ixWant(t, c, tgs...))
	}
	if _, err := c.ReadBackupIndex(context.Background(), make([]string, 65), nil, nil); err == nil {
		t.Fatal("65 targets accepted")
	}
}

// TestBackupIndexCacheNoTriggers: without the triggers that keep the token
// current, the cache is neither used nor written.
func TestBackupIndexCacheNoTriggers(t *testing.T) {
	c, ids := ixCatalog(t, 20)
	ixRead(t, c, "t-a")
	if _, err := c.db.Exec(`DROP TRIGGER copies_generation_update`); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCopyState(ids[2], "t-a", CopyCorrupt, time.Time{}, "bad"); err != nil {
		t.Fatal(err)
	}
	want := ixWant(t, c, "t-a")
	for range 2 {
		got, info := ixRead(t, c, "t-a")
		if info.FromCache || info.CacheWritten {
			t.Fatalf("%+v, want SQLite without a cache", info)
		}
		ixSame(t, "without triggers", got, want)
	}
}

// TestBackupIndexCacheWriteDuringRead: a write to files or copies while
// the index is read from SQLite keeps the cache from being written.
func TestBackupIndexCacheWriteDuringRead(t *testing.T) {
	c, ids := ixCatalog(t, 20)
	info, err := c.ReadBackupIndex(context.Background(), []string{"t-a"}, func(int, int64) error {
		return c.SetLibraryStat(ids[3], 1, 2)
	}, func(*BackupEntry) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if info.FromCache || info.CacheWritten {
		t.Fatalf("%+v, want no cache written", info)
	}
	if _, info := ixRead(t, c, "t-a"); info.FromCache {
		t.Fatal("served a cache written while the catalog changed")
	}
}

// TestBackupIndexCacheStops: an error from a callback stops the read, from
// SQLite as from the cache, and leaves no temporary file.
func TestBackupIndexCacheStops(t *testing.T) {
	c, _ := ixCatalog(t, 20)
	stop := fmt.Errorf("stop")
	for _, from := range []string{"SQLite", "cache"} {
		n := 0
		info, err := c.ReadBackupIndex(context.Background(), []string{"t-a"}, func(int, int64) error { return nil },
			func(*BackupEntry) error {
				if n++; n == 5 {
					return stop
				}
				return nil
			})
		if err != stop || n != 5 || info.CacheWritten {
			t.Fatalf("%s: %+v, %v after %d files", from, info, err, n)
		}
		ixRead(t, c, "t-a")
	}
	if tmps, _ := filepath.Glob(c.Path() + indexCacheSuffix + ".tmp-*"); len(tmps) > 0 {
		t.Fatalf("temporary files left: %q", tmps)
	}
}

// BenchmarkAddLibraryFiles measures what the generation triggers cost a
// bulk insert (the first backup of a library Trove did not ingest):
// 100,000 files in one transaction, with and without the triggers.
//
//	go test -run XXX -bench AddLibraryFiles -benchtime 3x ./internal/catalog/
func BenchmarkAddLibraryFiles(b *testing.B) {
	var files []File
	for i := range 100000 {
		p := fmt.Sprintf("2024/2024-06-%02d Shoot %03d/IMG_%06d.JPG", i/1000%28+1, i/1000, i)
		files = append(files, File{Path: p, Project: "P", Sum: sum(p), Size: 2048, Kind: "jpeg", AddedAt: ixNow,
			LibSize: 2048, LibMtimeNs: 1})
	}
	for _, triggers := range []bool{true, false} {
		b.Run(fmt.Sprintf("triggers=%v", triggers), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				c, err := Open(filepath.Join(b.TempDir(), "catalog.db"))
				if err != nil {
					b.Fatal(err)
				}
				if err := c.AddTarget(Target{ID: "t-lib", Name: LibraryName, Kind: KindLibrary, Path: "/lib",
					Medium: "ssd", Location: "home", CreatedAt: ixNow}); err != nil {
					b.Fatal(err)
				}
				if !triggers {
					for _, tr := range generationTriggers {
						if _, err := c.db.Exec(`DROP TRIGGER ` + tr); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StartTimer()
				if _, err := c.AddLibraryFiles(context.Background(), files, "t-lib", ixNow); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c.Close()
			}
		})
	}
}

// BenchmarkBackupIndex compares reading the index of 100,000 files from
// SQLite and from the cache.
func BenchmarkBackupIndex(b *testing.B) {
	c, err := Open(filepath.Join(b.TempDir(), "catalog.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, tg := range []Target{
		{ID: "t-lib", Name: LibraryName, Kind: KindLibrary, Path: "/lib", Medium: "ssd", Location: "home", CreatedAt: ixNow},
		{ID: "t-a", Name: "drive-a", Kind: KindFolder, Path: "/mnt/a", Medium: "hdd", Location: "home", CreatedAt: ixNow},
	} {
		if err := c.AddTarget(tg); err != nil {
			b.Fatal(err)
		}
	}
	var files []File
	for i := range 100000 {
		p := fmt.Sprintf("2024/2024-06-%02d Shoot %03d/IMG_%06d.JPG", i/1000%28+1, i/1000, i)
		files = append(files, File{Path: p, Project: "P", Sum: sum(p), Size: 2048, Kind: "jpeg", AddedAt: ixNow,
			LibSize: 2048, LibMtimeNs: ixNow.UnixNano() + int64(i)*1e6})
	}
	ids, err := c.AddLibraryFiles(ctx, files, "t-lib", ixNow)
	if err != nil {
		b.Fatal(err)
	}
	var cps []Copy
	for i, id := range ids {
		cps = append(cps, Copy{FileID: id, TargetID: "t-a", Path: files[i].Path, Sum: files[i].Sum, State: CopyOK,
			VerifiedAt: ixNow, WrittenAt: ixNow})
	}
	if err := c.PutCopies(ctx, cps); err != nil {
		b.Fatal(err)
	}
	read := func(b *testing.B, wantCache bool) {
		n := 0
		info, err := c.ReadBackupIndex(ctx, []string{"t-a"}, func(int, int64) error { return nil },
			func(e *BackupEntry) error {
				if e.Has == 1 {
					n++
				}
				return nil
			})
		if err != nil || n != len(files) || info.FromCache != wantCache {
			b.Fatalf("%+v, %v, %d", info, err, n)
		}
	}
	b.Run("sqlite", func(b *testing.B) {
		for b.Loop() {
			os.Remove(c.Path() + indexCacheSuffix)
			read(b, false)
		}
	})
	b.Run("old-sqlite", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := c.ScanIndex(ctx, func(*IndexEntry) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
			if err := c.VerifiedCopies(ctx, "t-a", func(int64, *digest.Sum) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache", func(b *testing.B) {
		os.Remove(c.Path() + indexCacheSuffix)
		read(b, false)
		for b.Loop() {
			read(b, true)
		}
	})
}
