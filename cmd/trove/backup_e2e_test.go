//go:build linux

package main

// End-to-end tests of `trove backup`: each provokes the fault for real
// (full tmpfs, lazy unmount, a different drive, an empty mount point, kill
// -9, exFAT) and checks what the user sees and what is on disk.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/testenv"
)

// bkResult is the final JSON line of `trove backup --json`.
type bkResult struct {
	Event string `json:"event"`
	OK    bool   `json:"ok"`
	Scan  struct {
		Files, Unchanged, New, Changed, Deleted, Restored, Gone int
		Held                                                    bool
	} `json:"scan"`
	Targets []struct {
		Name     string `json:"name"`
		Status   string `json:"status"`
		Reason   string `json:"reason"`
		Copied   int    `json:"copied"`
		Adopted  int    `json:"adopted"`
		Versions int    `json:"versions"`
		Pending  int    `json:"pending"`
	} `json:"targets"`
	Away []struct {
		Name, Status, Reason string
	} `json:"away"`
	Problems []struct {
		File string `json:"file"`
		Dest string `json:"dest"`
		Err  string `json:"error"`
	} `json:"problems"`
	Warnings []string `json:"warnings"`
}

func bkParse(t *testing.T, r result) bkResult {
	t.Helper()
	var res bkResult
	if err := json.Unmarshal([]byte(r.last()), &res); err != nil || res.Event != "result" {
		t.Fatalf("last stdout line is not the JSON result (%v): %s", err, r)
	}
	return res
}

// bkTarget returns the result of the named target, failing when absent.
func bkTarget(t *testing.T, res bkResult, name string) (copied, versions int, status string) {
	t.Helper()
	for _, tr := range res.Targets {
		if tr.Name == name {
			return tr.Copied, tr.Versions, tr.Status
		}
	}
	t.Fatalf("no result for target %s: %+v", name, res.Targets)
	return 0, 0, ""
}

// bkSetup makes a setup with the library in a temp dir (its own filesystem)
// holding n files of size bytes in one shoot folder, and returns it.
func bkSetup(t *testing.T, n, size int) (*e2eEnv, string) {
	t.Helper()
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	shoot := filepath.Join(e.lib, filepath.FromSlash(shootDir("Smith Wedding")))
	for i := 1; i <= n; i++ {
		writeFile(t, filepath.Join(shoot, fmt.Sprintf("IMG_%04d.JPG", i)), randomBytes(uint64(i)+77, size))
	}
	return e, shoot
}

// bkAdd registers dir as a target.
func (e *e2eEnv) bkAdd(name, dir, medium, location string) {
	e.t.Helper()
	e.must(0, "target", "add", name, dir, "--medium", medium, "--location", location)
}

// manifestChecks runs `sha256sum -c` on the target's manifest from its root.
func manifestChecks(t *testing.T, root string) {
	t.Helper()
	c := exec.Command("sha256sum", "--strict", "-c", ".trove/MANIFEST.sha256")
	c.Dir = root
	out, err := c.CombinedOutput()
	if err != nil {
		t.Errorf("sha256sum -c .trove/MANIFEST.sha256 in %s: %v\n%s", root, err, out)
	}
}

// versionsOf lists the files in a target's versions area with their sha256.
func versionsOf(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	vdir := filepath.Join(root, ".trove", "versions")
	filepath.WalkDir(vdir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(vdir, p)
			out[filepath.ToSlash(rel)] = sumFile(t, p)
		}
		return nil
	})
	return out
}

// openCatalogRO opens home/catalog.db read-only.
func openCatalogRO(t *testing.T, home string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, "catalog.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// catalogCount runs a count query on the catalog.
func catalogCount(t *testing.T, home, query string, args ...any) int {
	t.Helper()
	db := openCatalogRO(t, home)
	defer db.Close()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestBackupOffsiteProtects: a project with copies on the library (ssd,
// home) and drive-a (hdd, home) is AT RISK (no off-site copy); a backup to
// an off-site drive on another filesystem makes it PROTECTED. The drive's
// manifest checks with sha256sum; a second run copies nothing.
func TestBackupOffsiteProtects(t *testing.T) {
	driveA := testenv.MountExt4(t, 64<<20)
	vault := testenv.MountTmpfs(t, 64<<20)
	e, _ := bkSetup(t, 12, 100<<10)
	e.bkAdd("drive-a", driveA, "hdd", "home")
	e.must(0, "backup", "drive-a")
	r := e.run("status", "--check")
	if r.code == 0 || !strings.Contains(r.stdout, "AT RISK") {
		t.Errorf("before the off-site backup the project must be AT RISK: %s", r)
	}
	wantLine(t, r, r.stdout, "off-site")

	e.bkAdd("vault", vault, "hdd", "bank")
	r = e.must(0, "backup")
	wantLine(t, r, r.stdout, "vault: 12 files copied", "0 old versions kept, 0 problems")
	wantLine(t, r, r.stdout, "drive-a: 0 files copied")
	wantLine(t, r, r.stdout, "Backup complete")
	r = e.must(0, "status", "--check")
	wantLine(t, r, r.stdout, "PROTECTED", "Smith Wedding")
	manifestChecks(t, vault)
	manifestChecks(t, driveA)
	if b, err := os.ReadFile(filepath.Join(vault, "README.txt")); err != nil || !strings.Contains(string(b), "sha256sum -c") {
		t.Errorf("README.txt on the vault: %v %q", err, b)
	}
	exactlyCatalog(t, e.home, "vault", vault)
	if got := checkCatalog(t, e.home); got["vault"] != 12 || got["drive-a"] != 12 || got["library"] != 12 {
		t.Errorf("verified copies: %v", got)
	}

	// No change: nothing copied, nothing read but the tree.
	res := bkParse(t, e.must(0, "backup", "--json"))
	if res.Scan.Unchanged != 12 || res.Scan.New != 0 {
		t.Errorf("second run scan: %+v", res.Scan)
	}
	for _, tr := range res.Targets {
		if tr.Copied != 0 || tr.Status != "done" {
			t.Errorf("second run copied on %s: %+v", tr.Name, tr)
		}
	}
}

// TestBackupTargetFull: a drive that fills up mid-backup stops with a clear
// message while the other drive completes; exit 1; no temporary left; every
// recorded copy is real; with more room a rerun finishes.
func TestBackupTargetFull(t *testing.T) {
	small := testenv.MountTmpfs(t, 2<<20)
	big := testenv.MountExt4(t, 64<<20)
	e, _ := bkSetup(t, 10, 512<<10)
	e.bkAdd("small", small, "hdd", "home")
	e.bkAdd("big", big, "ssd", "bank")
	r := e.run("backup")
	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	wantLine(t, r, r.stdout, "small is full")
	wantLine(t, r, r.stdout, "small:", "STOPPED")
	wantLine(t, r, r.stdout, "big: 10 files copied")
	wantLine(t, r, r.stdout, "Backup INCOMPLETE", "small stopped")
	noTemps(t, small, big)
	got := checkCatalog(t, e.home)
	if got["big"] != 10 || got["small"] >= 10 {
		t.Errorf("verified copies %v: want 10 on big, fewer on small", got)
	}
	exactlyCatalog(t, e.home, "small", small)
	if out, err := exec.Command("mount", "-o", "remount,size=32m", small).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v: %s", err, out)
	}
	r = e.must(0, "backup")
	wantLine(t, r, r.stdout, "big: 0 files copied")
	exactlyCatalog(t, e.home, "small", small)
	manifestChecks(t, small)
}

// TestBackupUnplugged: the drive is lazily unmounted right after its first
// verified copy. The run stops that drive with a clear reason, completes
// the other, exits 1, and nothing lands in the exposed mount point. The
// next run refuses the empty mount point in one line.
func TestBackupUnplugged(t *testing.T) {
	drive := testenv.MountTmpfs(t, 256<<20)
	other := testenv.MountExt4(t, 128<<20)
	e, _ := bkSetup(t, 40, 1<<20)
	e.bkAdd("drive-b", drive, "hdd", "bank")
	e.bkAdd("other", other, "ssd", "home")
	unplugged := false
	r := e.watch([]string{"backup", "--json"}, onFirst("verified", "drive-b", func(p *os.Process) {
		p.Signal(syscall.SIGSTOP)
		testenv.Unplug(t, drive)
		unplugged = true
		p.Signal(syscall.SIGCONT)
	}))
	if !unplugged {
		t.Fatalf("never saw a verified copy on drive-b: %s", r)
	}
	res := bkParse(t, r)
	if r.code != 1 || res.OK {
		t.Errorf("want exit 1: %s", r)
	}
	if c, _, st := bkTarget(t, res, "drive-b"); st != "stopped" || c >= 40 {
		t.Errorf("drive-b: %d copied, status %s; want stopped early", c, st)
	}
	if c, _, st := bkTarget(t, res, "other"); st != "done" || c != 40 {
		t.Errorf("other: %d copied, status %s; want all 40", c, st)
	}
	found := false
	for _, p := range res.Problems {
		if p.Dest == "drive-b" && strings.Contains(p.Err, "unplugged") {
			found = true
		}
	}
	if !found {
		t.Errorf("no problem says drive-b was unplugged: %+v", res.Problems)
	}
	verified := len(events(r, "verified"))
	if n := catalogCount(t, e.home, `SELECT count(*) FROM copies c JOIN targets t ON t.id = c.target_id WHERE t.name = 'drive-b'`); n == 0 || n > verified {
		t.Errorf("catalog records %d copies on drive-b; %d verified events", n, verified)
	}
	ents, _ := os.ReadDir(drive)
	for _, ent := range ents {
		t.Errorf("%s appeared in the mount point of the unplugged drive", ent.Name())
	}
	// Now an empty mount point sits at drive-b's path: refused, in one line.
	r = e.run("backup")
	if r.code != 1 {
		t.Errorf("want exit 1 with drive-b missing: %s", r)
	}
	lines := 0
	for _, l := range strings.Split(r.stdout+r.stderr, "\n") {
		if strings.Contains(l, "drive-b") {
			lines++
		}
	}
	if lines != 2 {
		t.Errorf("drive-b should be on one line in the summary and in the verdict, got %d lines: %s", lines, r)
	}
	wantLine(t, r, r.stdout, "drive-b:", "empty folder", "refused, nothing written")
	wantLine(t, r, r.stdout, "other: 0 files copied")
	if ents, _ := os.ReadDir(drive); len(ents) != 0 {
		t.Errorf("the empty mount point got %d entries", len(ents))
	}
	if n := catalogCount(t, e.home, `SELECT count(*) FROM copies c JOIN targets t ON t.id = c.target_id WHERE t.name = 'drive-b'`); n == 0 {
		t.Errorf("the catalog forgot drive-b's copies while it is away")
	}
}

// TestBackupDifferentDrive: another Trove drive mounted at a target's path
// is refused and left untouched; a missing folder is skipped in one line.
func TestBackupDifferentDrive(t *testing.T) {
	drive := testenv.MountTmpfs(t, 32<<20)
	e, _ := bkSetup(t, 3, 10<<10)
	e.bkAdd("drive-b", drive, "hdd", "bank")
	e.must(0, "backup")
	// Pull it and mount another drive, prepared by another setup, at the same path.
	testenv.Unplug(t, drive)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", drive).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", drive).Run() })
	dir2 := t.TempDir()
	e2 := newEnv(t, filepath.Join(dir2, "home"), filepath.Join(dir2, "lib"))
	e2.initLib()
	e2.bkAdd("drive-b", drive, "hdd", "home")
	before := scanTree(t, drive)
	r := e.run("backup")
	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	wantLine(t, r, r.stdout, "drive-b:", "different Trove drive", "refused")
	if after := scanTree(t, drive); len(after.files) != len(before.files) {
		t.Errorf("the other drive was written to: %d files, had %d", len(after.files), len(before.files))
	}
	// A target whose folder is gone (drive not plugged in): skipped.
	lost := filepath.Join(t.TempDir(), "gone")
	os.Mkdir(lost, 0o755)
	e.bkAdd("usb", lost, "ssd", "home")
	os.RemoveAll(lost)
	r = e.run("backup", "usb")
	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	wantLine(t, r, r.stdout, "usb: not attached", "skipped")
}

// TestBackupEditAndDelete: an edited file's old copy moves into the
// target's versions area (recorded, reason replaced), the new copy is
// verified; a deleted file's copy moves into versions (reason deleted), is
// no longer in the tree or manifest, and `trove where` still finds it. A
// file that comes back is un-deleted.
func TestBackupEditAndDelete(t *testing.T) {
	drive := testenv.MountExt4(t, 64<<20)
	e, shoot := bkSetup(t, 5, 50<<10)
	e.bkAdd("drive-b", drive, "hdd", "bank")
	e.must(0, "backup")
	edited := filepath.Join(shoot, "IMG_0002.JPG")
	deleted := filepath.Join(shoot, "IMG_0004.JPG")
	oldSum, delSum := sumFile(t, edited), sumFile(t, deleted)
	writeFile(t, edited, randomBytes(999, 60<<10))
	later := shootTime.Add(time.Hour)
	os.Chtimes(edited, later, later)
	delBytes, _ := os.ReadFile(deleted)
	os.Remove(deleted)

	res := bkParse(t, e.must(0, "backup", "--json"))
	if res.Scan.Changed != 1 || res.Scan.Deleted != 1 {
		t.Errorf("scan: %+v", res.Scan)
	}
	if c, v, _ := bkTarget(t, res, "drive-b"); c != 1 || v != 2 {
		t.Errorf("drive-b: %d copied, %d versions; want 1 and 2", c, v)
	}
	vers := versionsOf(t, drive)
	var gotOld, gotDel bool
	for p, s := range vers {
		gotOld = gotOld || (strings.HasSuffix(p, "/IMG_0002.JPG") && s == oldSum)
		gotDel = gotDel || (strings.HasSuffix(p, "/IMG_0004.JPG") && s == delSum)
	}
	if !gotOld || !gotDel {
		t.Errorf("versions area %v: want the old IMG_0002 (%s) and IMG_0004 (%s)", vers, oldSum[:12], delSum[:12])
	}
	rel := shootDir("Smith Wedding")
	if got := sumFile(t, filepath.Join(drive, rel, "IMG_0002.JPG")); got != sumFile(t, edited) {
		t.Errorf("drive-b holds %s for the edited file", got[:12])
	}
	if _, err := os.Stat(filepath.Join(drive, rel, "IMG_0004.JPG")); !os.IsNotExist(err) {
		t.Errorf("the deleted file is still in drive-b's tree: %v", err)
	}
	if n := catalogCount(t, e.home, `SELECT count(*) FROM versions WHERE reason = 'replaced' AND sha256 = ?`, oldSum); n != 1 {
		t.Errorf("%d replaced versions recorded with the old content", n)
	}
	if n := catalogCount(t, e.home, `SELECT count(*) FROM versions WHERE reason = 'deleted' AND sha256 = ?`, delSum); n != 1 {
		t.Errorf("%d deleted versions recorded", n)
	}
	manifestChecks(t, drive)
	exactlyCatalog(t, e.home, "drive-b", drive)
	if b, _ := os.ReadFile(filepath.Join(drive, ".trove", "MANIFEST.sha256")); strings.Contains(string(b), "IMG_0004") {
		t.Errorf("the manifest still lists the deleted file")
	}
	r := e.must(0, "where", rel+"/IMG_0004.JPG")
	wantLine(t, r, r.stdout, "IMG_0004.JPG")

	// It comes back: un-deleted and backed up again.
	writeFile(t, deleted, delBytes)
	res = bkParse(t, e.must(0, "backup", "--json"))
	if res.Scan.Restored != 1 {
		t.Errorf("scan after the file came back: %+v", res.Scan)
	}
	if c, _, _ := bkTarget(t, res, "drive-b"); c != 1 {
		t.Errorf("drive-b: %d copied after the file came back, want 1", c)
	}
	if n := catalogCount(t, e.home, `SELECT count(*) FROM files WHERE deleted_at != ''`); n != 0 {
		t.Errorf("%d files still marked deleted", n)
	}
	exactlyCatalog(t, e.home, "drive-b", drive)
}

// TestBackupMassDeletion: 2,000 files vanish from the library at once. No
// deletion is recorded or propagated, the refusal is loud, exit 1; with
// --accept-deletions they move to the versions area (never deleted).
func TestBackupMassDeletion(t *testing.T) {
	drive := testenv.MountTmpfs(t, 256<<20)
	e, shoot := bkSetup(t, 2100, 64)
	e.bkAdd("drive-b", drive, "hdd", "bank")
	e.must(0, "backup")
	for i := 1; i <= 2000; i++ {
		os.Remove(filepath.Join(shoot, fmt.Sprintf("IMG_%04d.JPG", i)))
	}
	r := e.run("backup")
	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	wantLine(t, r, r.stdout, "2,000 of 2,100 files are gone from the library", "--accept-deletions")
	wantLine(t, r, r.stdout, "Backup INCOMPLETE", "deletions held")
	if n := len(scanTree(t, drive).files); n != 2100 {
		t.Errorf("drive-b holds %d files, want all 2100", n)
	}
	if n := catalogCount(t, e.home, `SELECT count(*) FROM files WHERE deleted_at != ''`); n != 0 {
		t.Errorf("%d files marked deleted despite the brake", n)
	}
	if v := versionsOf(t, drive); len(v) != 0 {
		t.Errorf("%d files moved to versions despite the brake", len(v))
	}

	r = e.must(0, "backup", "--accept-deletions")
	wantLine(t, r, r.stdout, "2,000 old versions kept")
	if n := len(scanTree(t, drive).files); n != 100 {
		t.Errorf("drive-b's tree holds %d files, want 100", n)
	}
	if v := versionsOf(t, drive); len(v) != 2000 {
		t.Errorf("versions area holds %d files, want 2000", len(v))
	}
	manifestChecks(t, drive)
}

// TestBackupKilled: kill -9 mid-backup, then a rerun converges: every ok
// copy in the catalog hashes right, the drive holds exactly the catalog's
// copies, no temporary is left, and the manifest checks.
func TestBackupKilled(t *testing.T) {
	drive := testenv.MountExt4(t, 128<<20)
	e, _ := bkSetup(t, 60, 512<<10)
	e.bkAdd("drive-b", drive, "hdd", "bank")
	n := 0
	r := e.watch([]string{"backup", "--json"}, func(p *os.Process, line string) {
		if strings.Contains(line, `"event":"verified"`) && strings.Contains(line, `"dest":"drive-b"`) {
			if n++; n == 5 {
				p.Kill()
			}
		}
	})
	if r.code != -int(syscall.SIGKILL) {
		t.Fatalf("trove was not killed (finished too soon?): %s", r)
	}
	checkCatalog(t, e.home)
	res := bkParse(t, e.must(0, "backup", "--json"))
	c, _, _ := bkTarget(t, res, "drive-b")
	adopted := res.Targets[0].Adopted
	if c+adopted > 60 || c >= 60 {
		t.Errorf("rerun copied %d and adopted %d: want the rest of 60", c, adopted)
	}
	noTemps(t, drive)
	if got := checkCatalog(t, e.home); got["drive-b"] != 60 {
		t.Errorf("verified copies on drive-b: %v, want 60", got)
	}
	exactlyCatalog(t, e.home, "drive-b", drive)
	if v := versionsOf(t, drive); len(v) != 0 {
		t.Errorf("the rerun kept versions of its own copies: %v", v)
	}
	manifestChecks(t, drive)
}

// TestBackupExFAT: an exFAT drive (coarse timestamps, restricted names): a
// name with ':' is stored mapped, the manifest checks, and a second backup
// copies nothing.
func TestBackupExFAT(t *testing.T) {
	drive := testenv.MountExFAT(t, 64<<20)
	e, _ := bkSetup(t, 5, 40<<10)
	writeFile(t, filepath.Join(e.lib, "Exports", "Client: Smith", "cover.psd"), randomBytes(5, 30<<10))
	e.bkAdd("exfat", drive, "ssd", "bank")
	res := bkParse(t, e.must(0, "backup", "--json"))
	if c, _, _ := bkTarget(t, res, "exfat"); c != 6 {
		t.Errorf("copied %d, want 6", c)
	}
	manifestChecks(t, drive)
	for i := 0; i < 2; i++ {
		res = bkParse(t, e.must(0, "backup", "--json"))
		if c, _, _ := bkTarget(t, res, "exfat"); c != 0 || res.Scan.Unchanged != 6 {
			t.Errorf("no-change run %d: copied %d, scan %+v", i+2, c, res.Scan)
		}
	}
	if n := catalogCount(t, e.home, `SELECT count(*) FROM files WHERE project = 'Exports'`); n != 1 {
		t.Errorf("the export's project: %d files in project Exports", n)
	}
}

// TestBackupLibraryNotAttached: an emptied library folder (no identity) is
// refused; nothing is marked deleted.
func TestBackupLibraryNotAttached(t *testing.T) {
	drive := testenv.MountTmpfs(t, 32<<20)
	e, _ := bkSetup(t, 3, 1<<10)
	e.bkAdd("drive-b", drive, "hdd", "bank")
	e.must(0, "backup")
	if err := os.RemoveAll(e.lib); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(e.lib, 0o755)
	r := e.run("backup")
	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	wantLine(t, r, r.stderr, "library", "refusing to back up")
	if n := catalogCount(t, e.home, `SELECT count(*) FROM files WHERE deleted_at != ''`); n != 0 {
		t.Errorf("%d files marked deleted", n)
	}
	if n := len(scanTree(t, drive).files); n != 3 {
		t.Errorf("drive-b holds %d files, want 3", n)
	}
}
