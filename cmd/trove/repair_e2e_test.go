//go:build linux

package main

// End-to-end tests of `trove repair`: a file bad everywhere (nothing moved,
// "unrecoverable", the away drive named), a rotted library file healed from
// a backup, an edited library file left alone, and kill -9 mid-repair
// followed by a rerun that converges.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/trove-backup/trove/internal/testenv"
)

// TestE2ERepairUnrecoverable: one file is corrupt on every attached target
// and its only other copy is on an unplugged drive. Repair names it
// unrecoverable with the drive to attach, moves and deletes nothing, still
// repairs the other file it can, and exits 1.
func TestE2ERepairUnrecoverable(t *testing.T) {
	f := newFleet(t, 3, 64<<10, "drive-a", "drive-b", "drive-c")
	e := f.e
	bad := f.files[0]
	damaged := map[string]string{}
	for _, tg := range []string{"library", "drive-a", "drive-b"} {
		flipByte(t, f.path(tg, bad), 10)
		damaged[tg] = sumFile(t, f.path(tg, bad))
	}
	flipByte(t, f.path("drive-a", f.files[1]), 10) // repairable
	testenv.Unplug(t, f.drives["drive-c"])
	e.must(1, "verify")

	r := e.must(1, "repair")
	wantLine(t, r, r.stdout, "unrecoverable: "+bad+" (no good copy on any attached target; drive-c not attached)")
	wantLine(t, r, r.stdout, "repaired "+f.files[1]+" on drive-a from")
	wantLine(t, r, r.stdout, "Repaired 1 copy", "1 unrecoverable", "Nothing was deleted")
	for tg, sum := range damaged {
		if got := sumFile(t, f.path(tg, bad)); got != sum {
			t.Errorf("%s on %s was changed by a failed repair", bad, tg)
		}
		if v := scanVersions(t, rootOf(f, tg)); len(v) > 1 || (len(v) == 1 && strings.HasSuffix(v[0], bad)) {
			t.Errorf("%s: unrecoverable file was moved into versions: %v", tg, v)
		}
		if s, _, _ := copyState(t, e.home, bad, tg); s != "corrupt" {
			t.Errorf("%s on %s: state %s, want corrupt", bad, tg, s)
		}
	}
	// A second run (library only) changes nothing and says the same.
	r = e.must(1, "repair", "library")
	wantLine(t, r, r.stdout, "unrecoverable: "+bad+" (no good copy on any attached target; drive-c not attached)")
	if r := e.run("repair", "drive-zz"); r.code != 2 {
		t.Errorf("unknown target: want exit 2: %s", r)
	}
}

func rootOf(f *fleet, tg string) string {
	if tg == "library" {
		return f.e.lib
	}
	return f.drives[tg]
}

// TestE2ERepairLibraryFromBackup: bit rot in the library (content changed,
// size and mtime kept) is found by verify and healed from a drive; the
// rotted file is kept in the library's versions. A library file that was
// edited (its mtime moved) is not "repaired" over the edit.
func TestE2ERepairLibraryFromBackup(t *testing.T) {
	f := newFleet(t, 2, 128<<10, "drive-a")
	e := f.e
	rotted, edited := f.files[0], f.files[1]
	want := sumFile(t, f.path("drive-a", rotted))
	flipByte(t, f.path("library", rotted), 4096)
	writeFileKeep(t, f.path("library", edited), []byte("retouched in an editor"))

	r := e.must(1, "verify", "library")
	wantLine(t, r, r.stdout, rotted+" on library: corrupt: content differs")
	wantLine(t, r, r.stdout, edited+" on library: corrupt: truncated", "if you edited it, run `trove backup`")
	st := e.run("status")
	wantLine(t, st, st.stdout, "copy on library is corrupt")

	r = e.must(1, "repair")
	wantLine(t, r, r.stdout, "repaired "+rotted+" on library from drive-a")
	wantLine(t, r, r.stdout, edited+" on library: not repaired: the library file was modified")
	if got := sumFile(t, f.path("library", rotted)); got != want {
		t.Errorf("library file not healed: %s, want %s", got[:12], want[:12])
	}
	if b, _ := os.ReadFile(f.path("library", edited)); string(b) != "retouched in an editor" {
		t.Errorf("the edited library file was replaced: %q", b)
	}
	if v := scanVersions(t, e.lib); len(v) != 1 || !strings.HasSuffix(v[0], rotted) {
		t.Errorf("library versions: %v, want the rotted file", v)
	}
	if s, _, _ := copyState(t, e.home, rotted, "library"); s != "ok" {
		t.Errorf("healed library copy: state %s", s)
	}
	// Moving the edit away lets repair bring Trove's version back.
	if err := os.Rename(f.path("library", edited), filepath.Join(t.TempDir(), "edit")); err != nil {
		t.Fatal(err)
	}
	r = e.must(0, "repair", "library")
	wantLine(t, r, r.stdout, "repaired "+edited+" on library from drive-a")
	e.must(0, "verify")
}

// TestE2ERepairKill9: repair of 24 corrupt copies is killed with SIGKILL
// right after its first repaired copy; a rerun finishes, every copy then
// verifies, every corrupt content is kept in the versions, no temporary or
// unrecorded file is left.
func TestE2ERepairKill9(t *testing.T) {
	f := newFleet(t, 24, 512<<10, "drive-a")
	e := f.e
	badSums := map[string]bool{}
	for _, name := range f.files {
		flipByte(t, f.path("drive-a", name), 77)
		badSums[sumFile(t, f.path("drive-a", name))] = true
	}
	e.must(1, "verify")

	r := e.watch([]string{"repair", "drive-a", "--json"}, onFirst("verified", "drive-a", func(p *os.Process) {
		p.Signal(syscall.SIGKILL)
	}))
	if r.code != -int(syscall.SIGKILL) {
		t.Fatalf("repair was not killed (exit %d): %s", r.code, r)
	}
	again := e.must(0, "repair", "drive-a")
	wantLine(t, again, again.stdout, "Repaired", "all read back and verified")
	e.must(0, "verify")
	noTemps(t, f.drives["drive-a"])
	exactlyCatalog(t, e.home, "drive-a", f.drives["drive-a"])
	kept := map[string]bool{}
	for _, v := range scanVersions(t, f.drives["drive-a"]) {
		kept[sumFile(t, filepath.Join(f.drives["drive-a"], ".trove", "versions", filepath.FromSlash(v)))] = true
	}
	for s := range badSums {
		if !kept[s] {
			t.Errorf("a corrupt copy (sha256 %s) was lost instead of kept in the versions", s[:12])
		}
	}
	if r := e.must(0, "repair"); !strings.Contains(r.stdout, "Nothing to repair") {
		t.Errorf("a third run should find nothing to do: %s", r)
	}
}
