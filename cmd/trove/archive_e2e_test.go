//go:build linux

package main

// End-to-end tests of `trove archive`: a project archived to two drives and
// released from the library (status, where, restore, INDEX.html and the
// label know it); a release refused because the policy would not hold; a
// kill -9 after the first verified copy; a corrupt archive copy found at
// release time.

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/trove-backup/trove/internal/testenv"
)

// archiveFleet is a fleet (library + drive-a, hdd at home) with two archive
// drives: archive-a (hdd, home) and archive-b (ssd, bank).
func archiveFleet(t *testing.T, n, size int) *fleet {
	t.Helper()
	f := newFleet(t, n, size, "drive-a")
	for _, d := range []struct{ name, medium, loc string }{{"archive-a", "hdd", "home"}, {"archive-b", "ssd", "bank"}} {
		mnt := testenv.MountTmpfs(t, 64<<20)
		f.drives[d.name] = mnt
		f.e.must(0, "target", "add", d.name, mnt, "--medium", d.medium, "--location", d.loc)
	}
	return f
}

// fileRow reads a file's released_at and whether the library holds a copy.
func fileRow(t *testing.T, home, path string) (releasedAt string, libCopy bool) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, "catalog.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT f.released_at, (SELECT count(*) FROM copies c JOIN targets t ON t.id = c.target_id
		WHERE c.file_id = f.id AND t.kind = 'library') FROM files f WHERE f.path = ?`, path).Scan(&releasedAt, &n)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return releasedAt, n > 0
}

// libraryIntact fails unless every file of the fleet is in the library with
// the card's content and the catalog still has its library copy.
func (f *fleet) libraryIntact() {
	f.t.Helper()
	for _, name := range f.files {
		p := f.path("library", name)
		if _, err := os.Stat(p); err != nil {
			f.t.Errorf("library file %s: %v", name, err)
			continue
		}
		if sumFile(f.t, p) != f.cardSum(name) {
			f.t.Errorf("library file %s changed", name)
		}
		if rel, lib := fileRow(f.t, f.e.home, name); rel != "" || !lib {
			f.t.Errorf("%s: released_at %q, library copy %v; want not released", name, rel, lib)
		}
	}
}

// released fails unless every file is gone from the library, recorded as
// released, and held intact by both archive drives.
func (f *fleet) released() {
	f.t.Helper()
	for _, name := range f.files {
		if _, err := os.Stat(f.path("library", name)); !os.IsNotExist(err) {
			f.t.Errorf("library file %s still there after the release (%v)", name, err)
		}
		if rel, lib := fileRow(f.t, f.e.home, name); rel == "" || lib {
			f.t.Errorf("%s: released_at %q, library copy %v; want released", name, rel, lib)
		}
		for _, d := range []string{"archive-a", "archive-b"} {
			if s := sumFile(f.t, f.path(d, name)); s != f.cardSum(name) {
				f.t.Errorf("%s on %s: sha256 %.12s, want the card's", name, d, s)
			}
		}
	}
}

// TestE2EArchiveRelease: archived to two drives and released; the catalog,
// status, where, the drive's INDEX.html and label know it; restore brings
// every file back, hash-identical to the card; a second run changes nothing.
func TestE2EArchiveRelease(t *testing.T) {
	f := archiveFleet(t, 4, 96<<10)
	e := f.e
	r := e.must(0, "archive", "Shoot", "--to", "archive-a", "--to", "archive-b")
	wantLine(t, r, r.stdout, "Archived Shoot (4 files", "to archive-a, archive-b: 8 copies written and read back")
	wantLine(t, r, r.stdout, "Released Shoot from the library: 4 files")
	f.released()
	if _, err := os.Stat(filepath.Join(e.lib, filepath.FromSlash(shootDir("Shoot")))); !os.IsNotExist(err) {
		t.Errorf("the project's empty folder is left in the library (%v)", err)
	}
	checkCatalog(t, e.home)

	// status (the lead's command) gets its lines from statusExtras.
	a := testApp(t, e)
	x, err := statusExtras(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Archived) != 1 || !strings.HasPrefix(archivedLine(x.Archived[0]), "Shoot: archived to archive-a, archive-b on ") ||
		!strings.HasSuffix(archivedLine(x.Archived[0]), "; released from the library") {
		t.Errorf("status extras: %+v", x.Archived)
	}
	a.Close()
	st := e.must(0, "status")
	wantLine(t, st, st.stdout, "PROTECTED", "Shoot")

	w := e.must(0, "where", "Shoot")
	wantLine(t, w, w.stdout, "archive-a", "hdd", "home", "verified")
	wantLine(t, w, w.stdout, "archive-b", "ssd", "bank", "verified")
	mustNotContain(t, w, w.stdout, "  library ")

	index, err := os.ReadFile(filepath.Join(f.drives["archive-b"], "INDEX.html"))
	if err != nil {
		t.Fatalf("INDEX.html on archive-b: %v", err)
	}
	for _, s := range []string{"<td>Shoot</td>", "archive-a, drive-a", "no longer in the library", "sha256sum -c .trove/MANIFEST.sha256"} {
		if !strings.Contains(string(index), s) {
			t.Errorf("INDEX.html lacks %q:\n%s", s, index)
		}
	}
	if strings.Contains(string(index), "<script") {
		t.Errorf("INDEX.html has a script")
	}
	l := e.must(0, "label", "archive-b")
	for _, s := range []string{"archive-b\n", "ssd · kept at bank\n", "Shoot\n", "2024 · 4 files, 384.0 KiB\n", "written ", "check: sha256sum -c .trove/MANIFEST.sha256\n"} {
		if !strings.Contains(l.stdout, s) {
			t.Errorf("label lacks %q: %s", s, l)
		}
	}
	e.must(2, "label", "no-such-drive")

	// Running it again: nothing to copy, nothing more to release.
	r = e.must(0, "archive", "Shoot", "--to", "archive-a,archive-b")
	wantLine(t, r, r.stdout, "0 copies written and read back, 8 already there")
	wantLine(t, r, r.stdout, "Shoot was already released from the library.")

	out := filepath.Join(t.TempDir(), "back")
	rs := e.must(0, "restore", "Shoot", "--to", out)
	wantLine(t, rs, rs.stdout, "Restored 4 files", "all hash-checked")
	for _, name := range f.files {
		if s := sumFile(t, filepath.Join(out, filepath.FromSlash(name))); s != f.cardSum(name) {
			t.Errorf("%s restored with sha256 %.12s, want the card's", name, s)
		}
	}
}

// TestE2EArchiveRefused: with one archive drive at home the policy would not
// hold without the library: nothing is deleted, the reasons are printed,
// exit 3. --keep-library archives without even trying.
func TestE2EArchiveRefused(t *testing.T) {
	f := archiveFleet(t, 3, 64<<10)
	e := f.e
	r := e.must(3, "archive", "Shoot", "--to", "archive-a")
	wantLine(t, r, r.stdout, "not released: without the library copy Shoot would have 2 copies, policy wants 3; add another archive target or keep it")
	wantLine(t, r, r.stdout, "- none off-site")
	wantLine(t, r, r.stdout, "Nothing was deleted")
	f.libraryIntact()
	r = e.must(0, "archive", "Shoot", "--to", "archive-b", "--keep-library")
	wantLine(t, r, r.stdout, "Kept Shoot in the library (--keep-library).")
	f.libraryIntact()
	e.must(2, "archive", "Nope", "--to", "archive-a")
	e.must(2, "archive", "Shoot")
	e.must(2, "archive", "Shoot", "--to", "library")
}

// TestE2EArchiveKilled: kill -9 right after the first copy was verified on
// an archive drive: the library and drive-a still hold every file (two
// copies, never zero); the rerun finishes the archive and the release.
func TestE2EArchiveKilled(t *testing.T) {
	f := archiveFleet(t, 6, 256<<10)
	e := f.e
	r := e.watch([]string{"archive", "Shoot", "--to", "archive-a,archive-b", "--json"},
		onFirst("verified", "archive-a", func(p *os.Process) { p.Signal(syscall.SIGKILL) }))
	if r.code != -int(syscall.SIGKILL) {
		t.Fatalf("want trove killed: %s", r)
	}
	f.libraryIntact()
	for _, name := range f.files {
		if s := sumFile(t, f.path("drive-a", name)); s != f.cardSum(name) {
			t.Errorf("%s on drive-a damaged", name)
		}
	}
	// A kill -9 may leave temporaries (never a final name holding a partial
	// file); the rerun removes them where it writes.
	onlyComplete(t, f.drives["archive-a"], sourceSums(t, f.card))
	onlyComplete(t, f.drives["archive-b"], sourceSums(t, f.card))
	r = e.must(0, "archive", "Shoot", "--to", "archive-a,archive-b")
	wantLine(t, r, r.stdout, "Released Shoot from the library: 6 files")
	f.released()
	noTemps(t, f.drives["archive-a"], f.drives["archive-b"])
	checkCatalog(t, e.home)
}

// TestE2EArchiveCorruptAtRelease: a copy on archive-b rots between the
// archive and the release: the release re-reads it, finds it, records it
// corrupt and refuses (nothing deleted); the next run sets the bad file
// aside, copies it again and releases.
func TestE2EArchiveCorruptAtRelease(t *testing.T) {
	f := archiveFleet(t, 3, 64<<10)
	e := f.e
	e.must(0, "archive", "Shoot", "--to", "archive-a,archive-b", "--keep-library")
	flipByte(t, f.path("archive-b", f.files[1]), 1000)
	r := e.must(3, "archive", "Shoot", "--to", "archive-a,archive-b")
	wantLine(t, r, r.stdout, "not released: without the library copy 1 of 3 files of Shoot would have 2 copies, policy wants 3")
	wantLine(t, r, r.stdout, "copy on archive-b is corrupt")
	f.libraryIntact()
	if s, p, _ := copyState(t, e.home, f.files[1], "archive-b"); s != "corrupt" || !strings.Contains(p, "found by archive") {
		t.Errorf("rotted copy is %s (%s) in the catalog, want corrupt, found by archive", s, p)
	}
	r = e.must(0, "archive", "Shoot", "--to", "archive-a,archive-b")
	wantLine(t, r, r.stdout, "1 copy written and read back")
	f.released()
	vs, err := filepath.Glob(filepath.Join(f.drives["archive-b"], ".trove", "versions", "*", filepath.FromSlash(f.files[1])))
	if err != nil || len(vs) != 1 {
		t.Errorf("the rotted copy was not kept in archive-b's versions: %v %v", vs, err)
	}
}

// TestE2EArchiveCrashAfterRemove: the state a crash leaves between deleting
// a library file and recording its release (the catalog still lists the
// library copy, the file is gone): the rerun re-reads the other copies and
// records the release; nothing is lost.
func TestE2EArchiveCrashAfterRemove(t *testing.T) {
	f := archiveFleet(t, 3, 64<<10)
	e := f.e
	e.must(0, "archive", "Shoot", "--to", "archive-a,archive-b", "--keep-library")
	if err := os.Remove(f.path("library", f.files[0])); err != nil {
		t.Fatal(err)
	}
	r := e.must(0, "archive", "Shoot", "--to", "archive-a,archive-b")
	wantLine(t, r, r.stdout, "Released Shoot from the library: 3 files")
	f.released()
}

// TestE2EArchiveThenBackup: a backup after a release must not take the
// released files for deletions (they are archived, not deleted).
func TestE2EArchiveThenBackup(t *testing.T) {
	f := archiveFleet(t, 3, 64<<10)
	e := f.e
	e.must(0, "archive", "Shoot", "--to", "archive-a,archive-b")
	r := e.must(0, "backup", "drive-a")
	mustNotContain(t, r, r.stdout+r.stderr, "deleted from the library")
	mustNotContain(t, r, r.stdout+r.stderr, "looks empty")
	st := e.must(0, "status")
	wantLine(t, st, st.stdout, "PROTECTED", "Shoot")
	f.released()
}
