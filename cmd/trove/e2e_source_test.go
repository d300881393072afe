//go:build linux

package main

// End-to-end tests of faults on the source side: unreadable files, files
// that change while read, same-name files from two cameras, empty files and
// files without a usable capture date.

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/testenv"
)

// photo returns a sample file from testdata/photos.
func photo(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "photos", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestE2EUnreadableSource: a file the user may not read is named in a
// problem line; every other file is copied and verified; NOT SAFE, exit 1.
// Root ignores permissions, so trove runs as nobody (65534).
func TestE2EUnreadableSource(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t)
	const uid = 65534
	base, err := os.MkdirTemp("", "trove-e2e-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// The command, copied where nobody can run it.
	bin := filepath.Join(base, "bin", "trove")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(troveBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	drive := testenv.MountTmpfs(t, 64<<20)
	if err := os.Chmod(filepath.Dir(drive), 0o755); err != nil { // the test's own temp dir
		t.Fatal(err)
	}
	card := filepath.Join(base, "card")
	makeCard(t, card, 3, 100<<10, 1)
	secret := filepath.Join(card, "DCIM", "100CANON", "IMG_0002.JPG")
	for _, d := range []string{filepath.Join(base, "home"), filepath.Join(base, "lib"), drive} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{filepath.Join(base, "home"), filepath.Join(base, "lib"), drive, card} {
		if err := filepath.WalkDir(d, func(p string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, uid)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(secret, 0); err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, filepath.Join(base, "home"), filepath.Join(base, "lib"))
	e.bin = bin
	e.cred = &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}}
	e.initLib()
	e.addTarget("drive-a", drive)
	r := e.run("ingest", card, "--project", "Locked")

	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	wantLine(t, r, r.stdout, "card/DCIM/100CANON/IMG_0002.JPG", "permission denied")
	if v := r.last(); !strings.HasPrefix(v, "NOT SAFE TO FORMAT:") || !strings.Contains(v, "IMG_0002.JPG") {
		t.Errorf("verdict should be NOT SAFE naming IMG_0002.JPG: %q", v)
	}
	wantLine(t, r, r.stdout, "Ingested 2 new files", "1 failed")
	for _, n := range []string{"IMG_0001.JPG", "IMG_0003.JPG"} {
		for _, root := range []string{e.lib, drive} {
			p := filepath.Join(root, shootDir("Locked"), n)
			if sumFile(t, p) != sumFile(t, filepath.Join(card, "DCIM", "100CANON", n)) {
				t.Errorf("%s differs from the source", p)
			}
		}
	}
	for _, root := range []string{e.lib, drive} {
		if _, err := os.Stat(filepath.Join(root, shootDir("Locked"), "IMG_0002.JPG")); !os.IsNotExist(err) {
			t.Errorf("IMG_0002.JPG exists on %s though it could not be read: %v", root, err)
		}
		noTemps(t, root)
	}
	if got := checkCatalog(t, e.home); got["library"] != 2 || got["drive-a"] != 2 {
		t.Errorf("verified copies in the catalog: %v, want 2 on library and drive-a", got)
	}
	exactlyCatalog(t, e.home, "drive-a", drive)
	exactlyCatalog(t, e.home, "library", e.lib)
}

// TestE2ESourceChangesWhileRead: a file still being written (appended to
// during the whole run) is reported as changed, not counted, and nothing of
// it lands under a final name; the other files are fine.
func TestE2ESourceChangesWhileRead(t *testing.T) {
	t.Parallel()
	drive := testenv.MountTmpfs(t, 512<<20)
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	e.addTarget("drive-a", drive)
	card := filepath.Join(dir, "card")
	makeCard(t, card, 3, 200<<10, 2)
	growing := filepath.Join(card, "DCIM", "100CANON", "MVI_0009.MOV")
	writeFile(t, growing, randomBytes(99, 32<<20))

	// Keep appending until trove exits (bounded: 64 KiB every 5 ms, at most
	// 30 s or 256 MiB).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var appended atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		f, err := os.OpenFile(growing, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		chunk := randomBytes(100, 64<<10)
		deadline := time.After(30 * time.Second)
		for appended.Load() < 256<<20 {
			select {
			case <-stop:
				return
			case <-deadline:
				return
			case <-time.After(5 * time.Millisecond):
			}
			n, err := f.Write(chunk)
			appended.Add(int64(n))
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	r := e.run("ingest", card, "--project", "Growing")
	close(stop)
	wg.Wait()

	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	wantLine(t, r, r.stdout, "MVI_0009.MOV", "changed while it was being read")
	if v := r.last(); !strings.HasPrefix(v, "NOT SAFE TO FORMAT:") || !strings.Contains(v, "MVI_0009.MOV") {
		t.Errorf("verdict should be NOT SAFE naming MVI_0009.MOV: %q", v)
	}
	wantLine(t, r, r.stdout, "Ingested 3 new files", "1 failed")
	for _, root := range []string{e.lib, drive} {
		for name := range scanTree(t, root).files {
			if strings.Contains(name, "MVI_0009") {
				t.Errorf("%s holds %s though its source changed while read", root, name)
			}
		}
		noTemps(t, root)
	}
	for _, c := range readCatalog(t, e.home) {
		if c.Original == "MVI_0009.MOV" {
			t.Errorf("the catalog counts the changing file: %+v", c)
		}
	}
	if got := checkCatalog(t, e.home); got["library"] != 3 || got["drive-a"] != 3 {
		t.Errorf("verified copies in the catalog: %v, want 3 on library and drive-a", got)
	}
	exactlyCatalog(t, e.home, "drive-a", drive)
}

// TestE2ESameNameTwoCameras: two cards with DCIM/100CANON/IMG_0001.JPG (and
// a sidecar each) of different content both land; the second photo and its
// sidecar are renamed together; where shows both; a rerun copies nothing.
func TestE2ESameNameTwoCameras(t *testing.T) {
	t.Parallel()
	drive := testenv.MountTmpfs(t, 64<<20)
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	e.addTarget("drive-a", drive)
	jpg, xmp := photo(t, "exiftool_Canon.jpg"), photo(t, "exiftool_XMP.xmp")
	cam := func(name string) string { return filepath.Join(dir, name, "DCIM", "100CANON") }
	writeFile(t, filepath.Join(cam("cam1"), "IMG_0001.JPG"), jpg)
	writeFile(t, filepath.Join(cam("cam1"), "IMG_0001.XMP"), xmp)
	writeFile(t, filepath.Join(cam("cam2"), "IMG_0001.JPG"), append(bytes.Clone(jpg), "second camera"...))
	writeFile(t, filepath.Join(cam("cam2"), "IMG_0001.XMP"), append(bytes.Clone(xmp), "<!-- second camera -->\n"...))

	r := e.run("ingest", filepath.Join(dir, "cam1"), filepath.Join(dir, "cam2"), "--project", "Two Cams")
	if r.code != 0 || !strings.HasPrefix(r.last(), "SAFE TO FORMAT: all 4 files") {
		t.Fatalf("want exit 0 and SAFE: %s", r)
	}
	shoot := "2003/2003-12-04 Two Cams/"
	want := map[string]string{
		"IMG_0001.JPG":   filepath.Join(cam("cam1"), "IMG_0001.JPG"),
		"IMG_0001.XMP":   filepath.Join(cam("cam1"), "IMG_0001.XMP"),
		"IMG_0001-2.JPG": filepath.Join(cam("cam2"), "IMG_0001.JPG"),
		"IMG_0001-2.XMP": filepath.Join(cam("cam2"), "IMG_0001.XMP"),
	}
	for _, root := range []string{e.lib, drive} {
		got := scanTree(t, root).files
		if len(got) != len(want) {
			t.Errorf("%s holds %d files, want %d: %v", root, len(got), len(want), got)
		}
		for name, src := range want {
			if s := got[shoot+name]; s != sumFile(t, src) {
				t.Errorf("%s/%s%s: sha256 %q, want the content of %s", root, shoot, name, s, src)
			}
		}
	}
	w := e.must(0, "where", "Two Cams", "--json")
	var views struct {
		Files []whereFile `json:"files"`
	}
	if err := json.Unmarshal([]byte(w.stdout), &views); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, f := range views.Files {
		seen[strings.TrimPrefix(f.Path, shoot)] = len(f.Copies)
	}
	for name := range want {
		if seen[name] != 2 {
			t.Errorf("where lists %s with %d copies, want 2: %s", name, seen[name], w.stdout)
		}
	}

	again := e.run("ingest", filepath.Join(dir, "cam1"), filepath.Join(dir, "cam2"), "--project", "Two Cams")
	if again.code != 0 || !strings.HasPrefix(again.last(), "SAFE TO FORMAT:") {
		t.Errorf("rerun: want exit 0 and SAFE: %s", again)
	}
	wantLine(t, again, again.stdout, "Ingested 0 new files", "4 already in the library", "0 failed")
	for _, root := range []string{e.lib, drive} {
		if n := len(scanTree(t, root).files); n != 4 {
			t.Errorf("after the rerun %s holds %d files, want 4", root, n)
		}
	}
	checkCatalog(t, e.home)
	exactlyCatalog(t, e.home, "library", e.lib)
	exactlyCatalog(t, e.home, "drive-a", drive)
}

// TestE2EZeroBytesAndBadDates: an empty file, a JPEG whose EXIF dates are
// 0000:00:00 00:00:00, one dated 1970 and a HEIF without EXIF are copied,
// verified and placed by their file time; the catalog says "mtime".
func TestE2EZeroBytesAndBadDates(t *testing.T) {
	t.Parallel()
	drive := testenv.MountTmpfs(t, 64<<20)
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	e.addTarget("drive-a", drive)
	card := filepath.Join(dir, "card", "DCIM", "100CANON")
	jpg := photo(t, "exiftool_Canon.jpg")
	date := []byte("2003:12:04 06:46:52")
	if bytes.Count(jpg, date) < 2 {
		t.Fatalf("exiftool_Canon.jpg: expected its DateTimeOriginal and CreateDate %s", date)
	}
	writeFile(t, filepath.Join(card, "EMPTY.JPG"), nil)
	writeFile(t, filepath.Join(card, "ZERO.JPG"), bytes.ReplaceAll(jpg, date, []byte("0000:00:00 00:00:00")))
	writeFile(t, filepath.Join(card, "Y1970.JPG"), bytes.ReplaceAll(jpg, date, []byte("1970:01:01 00:00:00")))
	writeFile(t, filepath.Join(card, "NOEXIF.HEIC"), photo(t, "exiftool_QuickTime.heic"))
	writeFile(t, filepath.Join(card, "GOOD.JPG"), jpg)

	r := e.run("ingest", filepath.Join(dir, "card"), "--project", "Dates", "--json")
	res := parseResult(t, r)
	if r.code != 0 || !res.Safe {
		t.Fatalf("want exit 0 and SAFE: %s", r)
	}
	want := map[string]struct{ path, src string }{
		"EMPTY.JPG":   {shootDir("Dates") + "/EMPTY.JPG", "mtime"},
		"ZERO.JPG":    {shootDir("Dates") + "/ZERO.JPG", "mtime"},
		"Y1970.JPG":   {shootDir("Dates") + "/Y1970.JPG", "mtime"},
		"NOEXIF.HEIC": {shootDir("Dates") + "/NOEXIF.HEIC", "mtime"},
		"GOOD.JPG":    {"2003/2003-12-04 Dates/GOOD.JPG", "exif:DateTimeOriginal"},
	}
	if len(res.Files) != len(want) {
		t.Errorf("result lists %d files, want %d", len(res.Files), len(want))
	}
	for _, f := range res.Files {
		w := want[filepath.Base(f.Source)]
		if f.Path != w.path || f.DateSrc != w.src || f.Devices != 2 {
			t.Errorf("%s: placed at %q (date from %q, %d devices), want %q from %q on 2 devices", f.Source, f.Path, f.DateSrc, f.Devices, w.path, w.src)
		}
	}
	rows := readCatalog(t, e.home)
	for _, c := range rows {
		w := want[c.Original]
		if c.File != w.path || c.DateSource != w.src {
			t.Errorf("catalog: %s at %q, date source %q; want %q, %q", c.Original, c.File, c.DateSource, w.path, w.src)
		}
	}
	if got := checkCatalog(t, e.home); got["library"] != 5 || got["drive-a"] != 5 {
		t.Errorf("verified copies: %v, want 5 on library and drive-a", got)
	}
	if fi, err := os.Stat(filepath.Join(drive, shootDir("Dates"), "EMPTY.JPG")); err != nil || fi.Size() != 0 {
		t.Errorf("empty file on drive-a: %v, %v", fi, err)
	}
	exactlyCatalog(t, e.home, "drive-a", drive)
}
