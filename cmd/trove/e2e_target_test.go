//go:build linux

package main

// End-to-end tests of faults on the destination side: a drive that fills
// up, one pulled mid-run, a different drive or an empty mount point at a
// target's path, awkward names on exFAT, and FAT32's 4 GiB limit.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/trove-backup/trove/internal/testenv"
	"golang.org/x/text/unicode/norm"
)

// TestE2ETargetFull: a drive too small for the card. The problem names the
// drive and "full", the library still gets every file, no temporary is left
// on the drive, the verdict lists the files, exit 1; with more room a rerun
// completes and says SAFE.
func TestE2ETargetFull(t *testing.T) {
	t.Parallel()
	drive := testenv.MountTmpfs(t, 3<<20)
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	e.addTarget("drive-a", drive)
	card := filepath.Join(dir, "card")
	makeCard(t, card, 8, 1<<20, 3)

	r := e.run("ingest", card, "--project", "Full")
	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	wantLine(t, r, r.stdout, "drive-a", "full")
	if v := r.last(); !strings.HasPrefix(v, "NOT SAFE TO FORMAT:") || !strings.Contains(v, "lack verified copies on 2 separate devices") {
		t.Errorf("verdict should be NOT SAFE for lack of copies: %q", v)
	}
	wantLine(t, r, r.stdout, "IMG_0008.JPG: verified on library (1 device)")
	wantLine(t, r, r.stdout, "Ingested 8 new files", "0 failed")
	if n := len(scanTree(t, e.lib).files); n != 8 {
		t.Errorf("library holds %d files, want all 8", n)
	}
	noTemps(t, drive, e.lib)
	got := checkCatalog(t, e.home)
	if got["library"] != 8 || got["drive-a"] >= 8 {
		t.Errorf("verified copies: %v, want 8 on library and fewer on drive-a", got)
	}
	exactlyCatalog(t, e.home, "drive-a", drive)
	exactlyCatalog(t, e.home, "library", e.lib)

	// More room on the same drive: the rerun finishes the job.
	if out, err := exec.Command("mount", "-o", "remount,size=32m", drive).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v: %s", err, out)
	}
	again := e.run("ingest", card, "--project", "Full")
	if again.code != 0 || !strings.HasPrefix(again.last(), "SAFE TO FORMAT: all 8 files") {
		t.Errorf("rerun after freeing space: want exit 0 and SAFE: %s", again)
	}
	wantLine(t, again, again.stdout, "Ingested 0 new files", "8 already in the library")
	noTemps(t, drive, e.lib)
	if got := checkCatalog(t, e.home); got["library"] != 8 || got["drive-a"] != 8 {
		t.Errorf("verified copies after the rerun: %v, want 8 and 8", got)
	}
	exactlyCatalog(t, e.home, "drive-a", drive)
}

// TestE2ETargetUnplugged: the drive (ext4 on a loop device) is lazily
// unmounted right after its first verified copy (the process is paused
// meanwhile, so the moment is exact). The run goes on to the library, the
// problem says the drive vanished, nothing lands in the exposed mount point,
// NOT SAFE, exit 1. Plugged back in, the drive holds only complete files and
// every copy the catalog counts; a rerun finishes and says SAFE.
func TestE2ETargetUnplugged(t *testing.T) {
	t.Parallel()
	drive := testenv.MountExt4(t, 128<<20)
	dev := mountSource(t, drive)
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	e.addTarget("drive-a", drive)
	card := filepath.Join(dir, "card")
	const n = 60
	makeCard(t, card, n, 1<<20, 4)

	unplugged := false
	args := []string{"ingest", card, "--project", "Pulled", "--json"}
	r := e.watch(args, onFirst("verified", "drive-a", func(p *os.Process) {
		p.Signal(syscall.SIGSTOP)
		testenv.Unplug(t, drive)
		unplugged = true
		p.Signal(syscall.SIGCONT)
	}))
	if !unplugged {
		t.Fatalf("never saw a verified copy on drive-a: %s", r)
	}
	res := parseResult(t, r)
	if r.code != 1 || res.Safe {
		t.Errorf("want exit 1 and NOT SAFE: %s", r)
	}
	found := false
	for _, p := range res.Problems {
		if p.Dest == "drive-a" && (strings.Contains(p.Err, "vanished") || strings.Contains(p.Err, "device changed")) {
			found = true
		}
	}
	if !found {
		t.Errorf("no problem says drive-a vanished or its device changed: %+v", res.Problems)
	}
	if !strings.HasPrefix(res.Verdict, "NOT SAFE TO FORMAT:") {
		t.Errorf("verdict: %q", res.Verdict)
	}
	if res.Copied != n || res.Failed != 0 {
		t.Errorf("copied %d, failed %d: want the library to get all %d", res.Copied, res.Failed, n)
	}
	// The now-exposed mount point stays empty: no file, no temporary, no .trove.
	ents, err := os.ReadDir(drive)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		t.Errorf("%s appeared in the mount point of the unplugged drive", ent.Name())
	}
	if got := len(scanTree(t, e.lib).files); got != n {
		t.Errorf("library holds %d files, want %d", got, n)
	}
	noTemps(t, e.lib)
	if got := checkCatalog(t, e.home); got["library"] != n {
		t.Errorf("verified copies on the library: %v, want %d", got, n)
	}
	exactlyCatalog(t, e.home, "library", e.lib)

	// Plug the drive back in (trove has exited, so the detached filesystem
	// is released): only complete files, every counted copy intact.
	if out, err := exec.Command("mount", "-t", "ext4", dev, drive).CombinedOutput(); err != nil {
		t.Fatalf("plug %s back in at %s: %v: %s", dev, drive, err, out)
	}
	onlyComplete(t, drive, sourceSums(t, card))
	if got := checkCatalog(t, e.home); got["drive-a"] == 0 || got["drive-a"] >= n {
		t.Errorf("verified copies on drive-a: %v, want some but not all %d", got, n)
	}
	again := e.run(args[:len(args)-1]...)
	if again.code != 0 || !strings.HasPrefix(again.last(), "SAFE TO FORMAT: all 60 files") {
		t.Errorf("rerun with the drive back: want exit 0 and SAFE: %s", again)
	}
	noTemps(t, drive, e.lib)
	if got := checkCatalog(t, e.home); got["drive-a"] != n {
		t.Errorf("verified copies on drive-a after the rerun: %v, want %d", got, n)
	}
	exactlyCatalog(t, e.home, "drive-a", drive)
}

// mountSource returns the device mounted at dir (per /proc/self/mountinfo).
func mountSource(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) > 4 && f[4] == dir && len(g) > 1 {
			return g[1]
		}
	}
	t.Fatalf("nothing mounted at %s", dir)
	return ""
}

// TestE2EWrongDriveAndEmptyMountPoint: another Trove drive mounted at a
// target's path, and then nothing mounted there, are both refused with a
// line naming the target; nothing is written there; the verdict counts the
// missing copies.
func TestE2EWrongDriveAndEmptyMountPoint(t *testing.T) {
	t.Parallel()
	driveA := testenv.MountTmpfs(t, 64<<20)
	driveB := testenv.MountTmpfs(t, 64<<20)
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	e.addTarget("drive-a", driveA)
	e.must(0, "target", "add", "drive-b", driveB, "--medium", "ssd", "--location", "studio")
	card := filepath.Join(dir, "card")
	makeCard(t, card, 3, 64<<10, 5)

	// drive-b's filesystem shows up at drive-a's path.
	if out, err := exec.Command("mount", "--bind", driveB, driveA).CombinedOutput(); err != nil {
		testenv.Skip(t, "bind mount: %v: %s", err, out)
	}
	r := e.run("ingest", card, "--project", "Swapped")
	exec.Command("umount", driveA).Run()
	if r.code != 3 {
		t.Errorf("want exit 3 (not safe, nothing failed): %s", r)
	}
	wantLine(t, r, r.stderr, "drive-a", "different drive")
	wantLine(t, r, r.stderr, "hint: this is a different drive: mount the right one at "+driveA)
	wantLine(t, r, r.stdout, "drive-a was not attached")
	if v := r.last(); !strings.HasPrefix(v, "NOT SAFE TO FORMAT: 3 of 3 files lack verified copies") {
		t.Errorf("verdict: %q", v)
	}
	if fs := scanTree(t, driveB).files; len(fs) != 0 {
		t.Errorf("files written to the wrong drive: %v", fs)
	}
	if fs := scanTree(t, driveA).files; len(fs) != 0 {
		t.Errorf("files written to drive-a behind the wrong drive: %v", fs)
	}
	noTemps(t, driveA, driveB)

	// Nothing mounted: the empty mount point is not drive-a.
	testenv.Unplug(t, driveA)
	r = e.run("ingest", card, "--project", "Swapped")
	if r.code != 3 {
		t.Errorf("want exit 3: %s", r)
	}
	wantLine(t, r, r.stderr, "drive-a", "not attached")
	wantLine(t, r, r.stderr, "hint: plug in the drive for drive-a (expected at "+driveA+")")
	wantLine(t, r, r.stdout, "drive-a was not attached")
	if v := r.last(); !strings.HasPrefix(v, "NOT SAFE TO FORMAT: 3 of 3 files lack verified copies") {
		t.Errorf("verdict: %q", v)
	}
	if ents, _ := os.ReadDir(driveA); len(ents) != 0 {
		t.Errorf("the empty mount point got %d entries", len(ents))
	}
	if got := checkCatalog(t, e.home); got["library"] != 3 || got["drive-a"] != 0 || got["drive-b"] != 0 {
		t.Errorf("verified copies: %v, want 3 on the library only", got)
	}
	for _, c := range readCatalog(t, e.home) {
		if c.Target != "library" && c.Target != "" {
			t.Errorf("catalog records a copy on %s: %+v", c.Target, c)
		}
	}

	// The right drive (drive-b, asked for by name) makes the card safe.
	r = e.run("ingest", card, "--project", "Swapped", "--to", "drive-b")
	if r.code != 0 || !strings.HasPrefix(r.last(), "SAFE TO FORMAT: all 3 files") {
		t.Errorf("with drive-b: want exit 0 and SAFE: %s", r)
	}
	exactlyCatalog(t, e.home, "drive-b", driveB)
}

// awkwardNames are card file names an exFAT drive cannot hold as they are
// (mapped to look-alikes), or holds only ambiguously (case, NFC/NFD).
var awkwardNames = []string{
	`a:b.jpg`, `what?.jpg`, `star*.jpg`, `say "hi".jpg`, `<angle>.jpg`, `pipe|.jpg`,
	`dot.jpg.`, `space.jpg `, `IMG_0200.JPG`, `img_0200.jpg`, "Caf\u00e9.jpg", "Cafe\u0301.jpg",
}

// TestE2EExFATAwkwardNames: every awkward name reaches a real exFAT drive
// under its mapped name, verified; where shows the stored name; nothing is
// silently skipped; SAFE; a rerun (also of a card that is itself exFAT, with
// 2-second local-time stamps) copies nothing.
func TestE2EExFATAwkwardNames(t *testing.T) {
	t.Parallel()
	drive := testenv.MountExFAT(t, 64<<20)
	exCard := testenv.MountExFAT(t, 64<<20)
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	add := e.must(0, "target", "add", "usb", drive, "--medium", "ssd", "--location", "home", "--ingest")
	wantLine(t, add, add.stdout, "look-alike characters")
	card := filepath.Join(dir, "card")
	for i, n := range awkwardNames {
		writeFile(t, filepath.Join(card, n), randomBytes(uint64(700+i), 4096+i))
	}
	ents, err := os.ReadDir(card)
	if err != nil || len(ents) != len(awkwardNames) {
		t.Fatalf("card holds %d names, want %d: %v", len(ents), len(awkwardNames), err)
	}
	makeCard(t, exCard, 2, 32<<10, 7)

	r := e.run("ingest", card, exCard, "--project", "Names", "--json")
	res := parseResult(t, r)
	total := len(awkwardNames) + 2
	if r.code != 0 || !res.Safe || res.Copied != total || len(res.Files) != total {
		t.Fatalf("want exit 0, SAFE, %d copied: %s", total, r)
	}
	w := e.must(0, "where", "Names", "--json")
	var views struct {
		Files []whereFile `json:"files"`
	}
	if err := json.Unmarshal([]byte(w.stdout), &views); err != nil {
		t.Fatal(err)
	}
	if len(views.Files) != total {
		t.Errorf("where lists %d files, want %d", len(views.Files), total)
	}
	// Names are made portable in the library already (media.Template), so
	// every target stores the library's name; the card's name is recorded.
	stored := map[string]bool{}
	for _, f := range views.Files {
		var onUSB *whereCopy
		for i, c := range f.Copies {
			if c.Target == "usb" {
				onUSB = &f.Copies[i]
			}
		}
		if onUSB == nil || onUSB.State != "ok" {
			t.Errorf("%s has no verified copy on usb: %+v", f.Path, f.Copies)
			continue
		}
		base := filepath.Base(onUSB.Path)
		if strings.ContainsAny(base, `:?*"<>|`) || strings.HasSuffix(base, ".") || strings.HasSuffix(base, " ") {
			t.Errorf("usb copy of %s is stored as %q: not a name exFAT holds", f.Path, onUSB.Path)
		}
		if _, err := os.Stat(filepath.Join(drive, filepath.FromSlash(onUSB.Path))); err != nil {
			t.Errorf("where says %s is stored as %q on usb: %v", f.Path, onUSB.Path, err)
		}
		if fold := strings.ToLower(norm.NFC.String(onUSB.Path)); stored[fold] {
			t.Errorf("two files stored as %q on a case-insensitive drive", onUSB.Path)
		} else {
			stored[fold] = true
		}
	}
	originals := map[string]bool{}
	for _, c := range readCatalog(t, e.home) {
		originals[c.Original] = true
	}
	for _, n := range awkwardNames {
		if !originals[n] {
			t.Errorf("the catalog does not record a file whose card name was %q", n)
		}
	}
	got := checkCatalog(t, e.home)
	if got["usb"] != total || got["library"] != total {
		t.Errorf("verified copies: %v, want %d on usb and library", got, total)
	}
	exactlyCatalog(t, e.home, "usb", drive)
	noTemps(t, drive, e.lib)

	again := e.run("ingest", card, exCard, "--project", "Names", "--json")
	ares := parseResult(t, again)
	if again.code != 0 || !ares.Safe || ares.Copied != 0 || ares.Known != total {
		t.Errorf("rerun: want exit 0, SAFE, 0 copied and %d known: %s", total, again)
	}
	if n := len(events(again, "verified")) + len(events(again, "written")); n != 0 {
		t.Errorf("rerun wrote or verified %d copies, want none", n)
	}
	if n := len(scanTree(t, drive).files); n != total {
		t.Errorf("usb holds %d files after the rerun, want %d", n, total)
	}
}

// TestE2EFAT32TooLarge: a 4 GiB + 1 byte file cannot go to a FAT32 drive:
// a clear refusal for that file naming the limit; the other files are fine
// on every drive; the big one is in the library; exit 1.
func TestE2EFAT32TooLarge(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("copies 4 GiB into the library")
	}
	lib := testenv.MountTmpfs(t, 5<<30)
	drive := testenv.MountVFAT(t, 64<<20)
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(lib, "Trove"))
	e.initLib()
	add := e.must(0, "target", "add", "fat", drive, "--medium", "hdd", "--location", "home", "--ingest")
	wantLine(t, add, add.stdout, "cannot be stored here")
	card := filepath.Join(dir, "card")
	makeCard(t, card, 2, 64<<10, 8)
	big := filepath.Join(card, "DCIM", "100CANON", "MVI_0003.MOV")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4<<30 + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Chtimes(big, shootTime, shootTime)

	r := e.run("ingest", card, "--project", "Big")
	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	wantLine(t, r, r.stdout, "MVI_0003.MOV", "fat", "too large")
	wantLine(t, r, r.stdout, "MVI_0003.MOV", "4294967295")
	if v := r.last(); !strings.HasPrefix(v, "NOT SAFE TO FORMAT: 1 of 3 files") || !strings.Contains(v, "MVI_0003.MOV") {
		t.Errorf("verdict: %q", v)
	}
	// The catalog (not re-hashing 4 GiB here: ingest read it back already).
	ok := map[string]int{}
	for _, c := range readCatalog(t, e.home) {
		if c.State == "ok" {
			ok[c.Target]++
		}
		if c.Original == "MVI_0003.MOV" && c.Target == "fat" {
			t.Errorf("the catalog records a copy of the 4 GiB file on FAT32: %+v", c)
		}
		if c.Original == "MVI_0003.MOV" && c.Target == "library" {
			fi, err := os.Stat(filepath.Join(c.TargetPath, filepath.FromSlash(c.Path)))
			if err != nil || fi.Size() != 4<<30+1 {
				t.Errorf("library copy of the big file: %v, %v", fi, err)
			}
		}
	}
	if ok["library"] != 3 || ok["fat"] != 2 {
		t.Errorf("verified copies: %v, want 3 on the library (the big one too) and 2 on fat", ok)
	}
	exactlyCatalog(t, e.home, "fat", drive)
	noTemps(t, drive, lib)
}
