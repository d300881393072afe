//go:build linux

package main

// End-to-end tests of `trove restore`: a project into an empty folder, a
// fallback when the best copy is corrupt, a destination that fills up,
// existing files (skipped, or kept aside with --overwrite), and a planted
// symlink that must not redirect writes.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-backup/trove/internal/testenv"
)

// cardSum is the sha256 of the card file behind a library path.
func (f *fleet) cardSum(file string) string {
	return sumFile(f.t, filepath.Join(f.card, "DCIM", "100CANON", filepath.Base(file)))
}

// TestE2ERestoreProject: a whole project into an empty folder, every file
// hash-checked and identical to the card; a second run changes nothing.
func TestE2ERestoreProject(t *testing.T) {
	f := newFleet(t, 5, 200<<10, "drive-a")
	e := f.e
	out := filepath.Join(t.TempDir(), "restored")
	r := e.must(0, "restore", "Shoot", "--to", out, "--from", "drive-a")
	wantLine(t, r, r.stdout, "Restored 5 files (1000.0 KiB) to "+out+", all hash-checked")
	got := scanTree(t, out)
	if len(got.files) != 5 || len(got.temps) != 0 {
		t.Errorf("restored tree: %v (temporaries %v), want the 5 files", got.files, got.temps)
	}
	for _, name := range f.files {
		if s := got.files[name]; s != f.cardSum(name) {
			t.Errorf("%s restored with sha256 %.12s, want %.12s", name, s, f.cardSum(name))
		}
	}
	r = e.must(0, "restore", "Shoot", "--to", out)
	wantLine(t, r, r.stdout, "Restored 0 files", "5 already there with the same content")
	// A single file by its library path.
	one := filepath.Join(t.TempDir(), "one")
	r = e.must(0, "restore", f.files[2], "--to", one)
	wantLine(t, r, r.stdout, "Restored 1 file")
	if s := sumFile(t, filepath.Join(one, filepath.FromSlash(f.files[2]))); s != f.cardSum(f.files[2]) {
		t.Errorf("single file restored wrong")
	}
	if r := e.run("restore", "Shoot"); r.code != 2 {
		t.Errorf("restore without --to: want exit 2: %s", r)
	}
}

// TestE2ERestoreFallback: the most recently verified copy (drive-a, just
// verified) rotted afterwards; restore notices the hash mismatch, takes the
// next copy, records the bad one as corrupt, and the file is right.
func TestE2ERestoreFallback(t *testing.T) {
	f := newFleet(t, 3, 128<<10, "drive-a")
	e := f.e
	e.must(0, "verify", "drive-a")
	flipByte(t, f.path("drive-a", f.files[1]), 500)
	out := filepath.Join(t.TempDir(), "out")
	r := e.must(0, "restore", "Shoot", "--to", out)
	wantLine(t, r, r.stdout, "note: "+f.files[1]+": copy on drive-a", "content differs", "used another copy")
	wantLine(t, r, r.stdout, "Restored 3 files", "all hash-checked")
	for _, name := range f.files {
		if s := sumFile(t, filepath.Join(out, filepath.FromSlash(name))); s != f.cardSum(name) {
			t.Errorf("%s restored with the wrong content", name)
		}
	}
	if s, _, _ := copyState(t, e.home, f.files[1], "drive-a"); s != "corrupt" {
		t.Errorf("the rotted copy found by restore is %s in the catalog, want corrupt", s)
	}
	// With only the bad copy to read from, the file is reported by name.
	out2 := filepath.Join(t.TempDir(), "out2")
	r = e.must(1, "restore", f.files[1], "--to", out2, "--from", "drive-a")
	wantLine(t, r, r.stdout, f.files[1]+": no verified copy on an attached target")
	if _, err := os.Stat(filepath.Join(out2, filepath.FromSlash(f.files[1]))); err == nil {
		t.Errorf("a file was written from a corrupt copy")
	}
}

// TestE2ERestoreFull: restoring 6 files of 400 KiB into a 1 MiB tmpfs fails
// with a message naming the file and the full destination; what is there is
// complete, nothing half-written has a final name, no temporary is left.
func TestE2ERestoreFull(t *testing.T) {
	f := newFleet(t, 6, 400<<10, "drive-a")
	e := f.e
	out := testenv.MountTmpfs(t, 1<<20)
	r := e.must(1, "restore", "Shoot", "--to", out)
	wantLine(t, r, r.stdout, "is full")
	wantLine(t, r, r.stdout, "not restored")
	got := scanTree(t, out)
	if len(got.temps) > 0 {
		t.Errorf("temporaries left: %v", got.temps)
	}
	if len(got.files) == 0 || len(got.files) >= 6 {
		t.Errorf("want some but not all files restored, got %d", len(got.files))
	}
	for name, s := range got.files {
		if s != f.cardSum(name) {
			t.Errorf("%s under its final name is not complete", name)
		}
	}
	for _, name := range f.files {
		if _, ok := got.files[name]; !ok && !strings.Contains(r.stdout, name) {
			t.Errorf("%s was neither restored nor named in the output", name)
		}
	}
}

// TestE2ERestoreExistingAndSymlink: an existing different file is skipped
// (exit 0, untouched), kept aside with --overwrite; a symlink planted in the
// destination that points elsewhere is refused, nothing is written through it.
func TestE2ERestoreExistingAndSymlink(t *testing.T) {
	f := newFleet(t, 2, 64<<10, "drive-a")
	e := f.e
	out := t.TempDir()
	mine := filepath.Join(out, filepath.FromSlash(f.files[0]))
	writeFile(t, mine, []byte("my own edit"))
	r := e.must(0, "restore", "Shoot", "--to", out)
	wantLine(t, r, r.stdout, "Restored 1 file", "1 skipped (exist; use --overwrite)")
	if b, _ := os.ReadFile(mine); string(b) != "my own edit" {
		t.Fatalf("existing file overwritten without --overwrite")
	}
	r = e.must(0, "restore", "Shoot", "--to", out, "--overwrite")
	wantLine(t, r, r.stdout, "kept the existing "+f.files[0]+" as "+mine+".trove-old-")
	if s := sumFile(t, mine); s != f.cardSum(f.files[0]) {
		t.Errorf("--overwrite did not restore the file")
	}
	olds, _ := filepath.Glob(mine + ".trove-old-*")
	if len(olds) != 1 {
		t.Fatalf("old file not kept aside: %v", olds)
	}
	if b, _ := os.ReadFile(olds[0]); string(b) != "my own edit" {
		t.Errorf("kept-aside file holds %q", b)
	}

	// A planted symlink: DIR/2024 -> elsewhere.
	dest, elsewhere := t.TempDir(), t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(dest, "2024")); err != nil {
		t.Fatal(err)
	}
	r = e.must(1, "restore", "Shoot", "--to", dest)
	wantLine(t, r, r.stdout, f.files[0], "refused", filepath.Join(dest, "2024")+" is a symbolic link")
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("restore wrote through the planted symlink into %s: %v", elsewhere, ents)
	}
	// The file itself as a symlink to outside: refused as well.
	dest2, victim := t.TempDir(), filepath.Join(t.TempDir(), "victim")
	writeFile(t, victim, []byte("keep me"))
	link := filepath.Join(dest2, filepath.FromSlash(f.files[1]))
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	r = e.must(1, "restore", "Shoot", "--to", dest2, "--overwrite")
	wantLine(t, r, r.stdout, f.files[1], "refused", "symbolic link")
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("restore wrote through a symlinked file: %q", b)
	}
}
