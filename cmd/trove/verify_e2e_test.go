//go:build linux

package main

// End-to-end tests of `trove verify`: real damage on real (tmpfs) drives —
// a flipped byte, a truncation with the mtime put back, same-size different
// content, a deleted copy, a hand-edited manifest, an unplugged drive — and
// sampled runs that rotate through every copy.

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/testenv"
)

// fleet is a setup with a library and drives on their own tmpfs mounts,
// holding one ingested project.
type fleet struct {
	t       *testing.T
	e       *e2eEnv
	drives  map[string]string // name -> mount point
	project string
	files   []string // library paths of the project's files
	card    string
}

// newFleet ingests n files of size bytes as project "Shoot" into the
// library and the named drives (each a fresh tmpfs).
func newFleet(t *testing.T, n, size int, drives ...string) *fleet {
	t.Helper()
	dir := t.TempDir()
	f := &fleet{t: t, e: newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib")),
		drives: map[string]string{}, project: "Shoot", card: filepath.Join(dir, "card")}
	f.e.initLib()
	args := []string{"ingest", f.card, "--project", f.project}
	media := []string{"hdd", "ssd", "hdd", "ssd"}
	for i, d := range drives {
		mnt := testenv.MountTmpfs(t, 64<<20)
		f.drives[d] = mnt
		loc := "home"
		if i%2 == 1 {
			loc = "office"
		}
		f.e.must(0, "target", "add", d, mnt, "--medium", media[i%len(media)], "--location", loc)
		args = append(args, "--to", d)
	}
	for _, name := range makeCard(t, f.card, n, size, 7) {
		f.files = append(f.files, shootDir(f.project)+"/"+name)
	}
	f.e.must(0, args...)
	return f
}

// path returns the file's path on a target ("library" or a drive name).
func (f *fleet) path(target, file string) string {
	root := f.e.lib
	if target != "library" {
		root = f.drives[target]
	}
	return filepath.Join(root, filepath.FromSlash(file))
}

// keepMtime runs damage on path and puts its modification time back, so
// only the content tells.
func keepMtime(t *testing.T, path string, damage func()) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	damage()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// flipByte inverts one byte of path in place, keeping its mtime.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	keepMtime(t, path, func() {
		fh, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		b := make([]byte, 1)
		if _, err := fh.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		if _, err := fh.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	})
}

// copyState returns (state, problem, verified_at) of a file's copy on a
// target, read straight from the catalog.
func copyState(t *testing.T, home, file, target string) (state, problem, verified string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, "catalog.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.QueryRow(`SELECT c.state, c.problem, c.verified_at FROM copies c JOIN files f ON f.id = c.file_id
		JOIN targets t ON t.id = c.target_id WHERE f.path = ? AND t.name = ?`, file, target).Scan(&state, &problem, &verified)
	if err != nil {
		t.Fatalf("copy of %s on %s: %v", file, target, err)
	}
	return state, problem, verified
}

// TestE2EVerifyFindsDamage: four kinds of damage on three targets, each
// found by name with the right words; status says which copies stopped
// counting; repair fixes all of them from good copies; verify then passes.
func TestE2EVerifyFindsDamage(t *testing.T) {
	f := newFleet(t, 6, 256<<10, "drive-a", "drive-b")
	e := f.e
	ok := e.must(0, "verify")
	wantLine(t, ok, ok.stdout, "drive-a: 6 of 6 copies verified now; 100% verified in the last 90 days")
	wantLine(t, ok, ok.stdout, "Verified 18 copies", "all good")

	// 1: a flipped byte on drive-a. 2: truncated on drive-b, mtime kept.
	// 3: same size, different content, in the library (mtime kept). 4: deleted from drive-b.
	flipByte(t, f.path("drive-a", f.files[0]), 1000)
	p := f.path("drive-b", f.files[1])
	keepMtime(t, p, func() {
		if err := os.Truncate(p, 1234); err != nil {
			t.Fatal(err)
		}
	})
	p = f.path("library", f.files[2])
	keepMtime(t, p, func() { writeFileKeep(t, p, randomBytes(99, 256<<10)) })
	if err := os.Remove(f.path("drive-b", f.files[3])); err != nil {
		t.Fatal(err)
	}

	r := e.must(1, "verify")
	wantLine(t, r, r.stdout, f.files[0]+" on drive-a: corrupt: content differs")
	wantLine(t, r, r.stdout, f.files[1]+" on drive-b: corrupt: truncated: 1,234 of 262,144 bytes")
	wantLine(t, r, r.stdout, f.files[2]+" on library: corrupt: content differs")
	wantLine(t, r, r.stdout, f.files[3]+" on drive-b: missing")
	wantLine(t, r, r.stdout, "Verified 18 copies", "1 missing, 3 corrupt")
	mustNotContain(t, r, r.stdout, f.files[4])
	if s, prob, _ := copyState(t, e.home, f.files[1], "drive-b"); s != "corrupt" || !strings.Contains(prob, "truncated") {
		t.Errorf("catalog: copy on drive-b is %s (%q), want corrupt/truncated", s, prob)
	}
	if s, _, _ := copyState(t, e.home, f.files[3], "drive-b"); s != "missing" {
		t.Errorf("catalog: deleted copy is %s, want missing", s)
	}

	st := e.run("status")
	wantLine(t, st, st.stdout, "copy on drive-a is corrupt")
	wantLine(t, st, st.stdout, "copy on drive-b is missing")
	wantLine(t, st, st.stdout, "copy on library is corrupt")
	// The manifests list only the copies that are good now.
	man, err := os.ReadFile(filepath.Join(f.drives["drive-a"], ".trove", "MANIFEST.sha256"))
	if err != nil || strings.Contains(string(man), f.files[0]) || !strings.Contains(string(man), f.files[1]) {
		t.Errorf("drive-a manifest should leave out the corrupt copy only (%v):\n%s", err, man)
	}

	rep := e.must(0, "repair")
	wantLine(t, rep, rep.stdout, "repaired "+f.files[0]+" on drive-a from")
	wantLine(t, rep, rep.stdout, "repaired "+f.files[2]+" on library from drive-")
	wantLine(t, rep, rep.stdout, "Repaired 4 copies")
	// The bad copies were kept aside, not deleted.
	kept := scanVersions(t, f.drives["drive-a"])
	if len(kept) != 1 || !strings.HasSuffix(kept[0], f.files[0]) {
		t.Errorf("drive-a versions: %v, want the corrupt %s", kept, f.files[0])
	}
	if kept := scanVersions(t, e.lib); len(kept) != 1 {
		t.Errorf("library versions: %v, want the rotted file kept", kept)
	}
	after := e.must(0, "verify")
	wantLine(t, after, after.stdout, "Verified 18 copies", "all good")
	for _, name := range f.files {
		want := sumFile(t, filepath.Join(f.card, "DCIM", "100CANON", filepath.Base(name)))
		for _, tg := range []string{"library", "drive-a", "drive-b"} {
			if got := sumFile(t, f.path(tg, name)); got != want {
				t.Errorf("%s on %s after repair: sha256 %s, want %s", name, tg, got[:12], want[:12])
			}
		}
	}
	noTemps(t, e.lib, f.drives["drive-a"], f.drives["drive-b"])
	exactlyCatalog(t, e.home, "drive-a", f.drives["drive-a"])
	exactlyCatalog(t, e.home, "drive-b", f.drives["drive-b"])
	if st := e.run("status"); strings.Contains(st.stdout, "corrupt") || strings.Contains(st.stdout, "missing") {
		t.Errorf("status still reports bad copies after repair: %s", st)
	}
}

// writeFileKeep replaces path's content (same name, no rename).
func writeFileKeep(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// scanVersions lists the files kept in root/.trove/versions.
func scanVersions(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	base := filepath.Join(root, ".trove", "versions")
	filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(base, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// TestE2EVerifySampleRotation: four runs of --sample 25 check a quarter of
// each target's copies each, never the same copy twice, and together all of
// them; the coverage line shows the progress.
func TestE2EVerifySampleRotation(t *testing.T) {
	f := newFleet(t, 8, 4<<10, "drive-a")
	e := f.e
	seen := map[string]map[string]bool{"library": {}, "drive-a": {}}
	for run := 1; run <= 4; run++ {
		time.Sleep(10 * time.Millisecond) // distinct verification times
		r := e.must(0, "verify", "--sample", "25", "--json")
		got := map[string]int{}
		for _, ev := range events(r, "verified") {
			if seen[ev.Dest][ev.File] {
				t.Errorf("run %d checked %s on %s again before every copy was checked once", run, ev.File, ev.Dest)
			}
			seen[ev.Dest][ev.File] = true
			got[ev.Dest]++
		}
		if got["library"] != 2 || got["drive-a"] != 2 {
			t.Errorf("run %d checked %v, want 2 copies (25%% of 8) per target", run, got)
		}
	}
	for tg, files := range seen {
		if len(files) != 8 {
			t.Errorf("4 runs of 25%% covered %d of 8 copies on %s", len(files), tg)
		}
	}
	r := e.must(0, "verify", "drive-a", "--sample", "25")
	wantLine(t, r, r.stdout, "drive-a: 2 of 8 copies verified now; 100% verified in the last 90 days, 100% verified in the last 30 days")
	mustNotContain(t, r, r.stdout, "library:")
	if r := e.run("verify", "--sample", "0"); r.code != 2 {
		t.Errorf("--sample 0 should be a usage error: %s", r)
	}
}

// TestE2EVerifyManifest: a manifest edited by hand is reported as not
// trusted and rewritten from the catalog (sha256sum -c passes again); a
// deleted manifest is a note and is rewritten.
func TestE2EVerifyManifest(t *testing.T) {
	f := newFleet(t, 3, 4<<10, "drive-a")
	e := f.e
	man := filepath.Join(f.drives["drive-a"], ".trove", "MANIFEST.sha256")
	orig, err := os.ReadFile(man)
	if err != nil {
		t.Fatal(err)
	}
	// Someone "fixes" a line by hand.
	edited := strings.Replace(string(orig), string(orig[:8]), "00000000", 1)
	if err := os.WriteFile(man, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.must(1, "verify", "drive-a")
	wantLine(t, r, r.stdout, "MANIFEST.sha256 on drive-a", "changed outside Trove", "not trusted")
	wantLine(t, r, r.stdout, "Verified 3 copies", "all copies good, 1 other problem")
	if now, _ := os.ReadFile(man); string(now) != string(orig) {
		t.Errorf("manifest not rewritten from the catalog:\n%s", now)
	}
	if sha, err := exec.LookPath("sha256sum"); err == nil {
		c := exec.Command(sha, "-c", "--quiet", ".trove/MANIFEST.sha256")
		c.Dir = f.drives["drive-a"]
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c on the rewritten manifest: %v\n%s", err, out)
		}
	}
	e.must(0, "verify", "drive-a")

	if err := os.Remove(man); err != nil {
		t.Fatal(err)
	}
	r = e.must(0, "verify", "drive-a")
	wantLine(t, r, r.stdout, "note: drive-a had no manifest: rewritten from the catalog")
	if now, _ := os.ReadFile(man); string(now) != string(orig) {
		t.Errorf("missing manifest not rewritten:\n%s", now)
	}
}

// TestE2EVerifyNotAttached: an unplugged drive is skipped with one line and
// its copies keep their state and verification time, the exit code is 1
// (not everything was verified); an unknown target is
// a usage error.
func TestE2EVerifyNotAttached(t *testing.T) {
	f := newFleet(t, 3, 4<<10, "drive-a", "drive-b")
	e := f.e
	_, _, before := copyState(t, e.home, f.files[0], "drive-b")
	testenv.Unplug(t, f.drives["drive-b"])
	time.Sleep(10 * time.Millisecond)
	r := e.must(1, "verify") // not everything asked for was verified: exit 1
	wantLine(t, r, r.stdout, "drive-b: not attached, skipped (its copies keep their state)")
	wantLine(t, r, r.stdout, "Verified 6 copies", "on 2 targets", "all good; not verified: drive-b (not attached)")
	for _, name := range f.files {
		s, _, v := copyState(t, e.home, name, "drive-b")
		if s != "ok" {
			t.Errorf("copy of %s on the absent drive-b became %s", name, s)
		}
		if name == f.files[0] && v != before {
			t.Errorf("verified_at of a copy on the absent drive changed: %s -> %s", before, v)
		}
	}
	if _, _, v := copyState(t, e.home, f.files[0], "drive-a"); v <= before {
		t.Errorf("copy on drive-a was not re-verified: %s", v)
	}
	if r := e.run("verify", "drive-z"); r.code != 2 || !strings.Contains(r.stderr, `unknown target "drive-z"`) {
		t.Errorf("unknown target: want exit 2 and a message: %s", r)
	}
}
