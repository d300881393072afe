//go:build linux

package main

// End-to-end tests of runs that stop half-way: kill -9, Ctrl-C, and a
// catalog that cannot be written. The rerun must finish the job without
// duplicates or leftovers, and nothing half-done may ever be counted.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/trove-backup/trove/internal/testenv"
)

// interruptedSetup makes a library on the test's disk, a tmpfs drive and a
// card of n files of 1 MiB.
func interruptedSetup(t *testing.T, n int) (e *e2eEnv, drive, card string) {
	t.Helper()
	drive = testenv.MountTmpfs(t, 256<<20)
	dir := t.TempDir()
	e = newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	e.addTarget("drive-a", drive)
	card = filepath.Join(dir, "card")
	makeCard(t, card, n, 1<<20, 10)
	return e, drive, card
}

// checkFinished checks what a completed rerun must leave: SAFE, every file
// exactly once in the library and on the drive (no "-2" names), no
// temporaries, and the catalog matching both trees.
func checkFinished(t *testing.T, e *e2eEnv, drive string, n int, r result) {
	t.Helper()
	if r.code != 0 || !strings.HasPrefix(r.last(), "SAFE TO FORMAT:") {
		t.Errorf("rerun: want exit 0 and SAFE: %s", r)
	}
	for _, root := range []string{e.lib, drive} {
		files := scanTree(t, root).files
		if len(files) != n {
			t.Errorf("%s holds %d files, want %d", root, len(files), n)
		}
		for name := range files {
			if strings.Contains(name, "-2.") {
				t.Errorf("%s holds a duplicate %s", root, name)
			}
		}
		noTemps(t, root)
	}
	if got := checkCatalog(t, e.home); got["library"] != n || got["drive-a"] != n {
		t.Errorf("verified copies: %v, want %d on library and drive-a", got, n)
	}
	exactlyCatalog(t, e.home, "library", e.lib)
	exactlyCatalog(t, e.home, "drive-a", drive)
	files := map[string]bool{}
	for _, c := range readCatalog(t, e.home) {
		files[c.File] = true
	}
	if len(files) != n {
		t.Errorf("the catalog lists %d files, want %d", len(files), n)
	}
}

// TestE2EKilled: SIGKILL after the 15th verified copy (so some files are
// recorded, some published but not recorded, some half-written), then the
// same command again. Nothing half-written is ever counted or visible under
// a final name; the rerun adopts what is there, finishes, says SAFE.
func TestE2EKilled(t *testing.T) {
	t.Parallel()
	const n = 40
	e, drive, card := interruptedSetup(t, n)
	args := []string{"ingest", card, "--project", "Crash", "--json"}
	killed := false
	r := e.watch(args, onNth(15, "verified", "", func(p *os.Process) {
		killed = p.Signal(syscall.SIGKILL) == nil
	}))
	if !killed || r.code != -int(syscall.SIGKILL) {
		t.Fatalf("want the run killed by SIGKILL: %s", r)
	}
	// Right after the crash: every final name holds a complete card file,
	// and every copy the catalog counts is there and intact.
	sums := sourceSums(t, card)
	for _, root := range []string{e.lib, drive} {
		onlyComplete(t, root, sums)
	}
	if got := checkCatalog(t, e.home); got["library"]+got["drive-a"] >= 2*n {
		t.Errorf("the catalog counts every copy though the run was killed: %v", got)
	}

	again := e.run(args[:len(args)-1]...)
	checkFinished(t, e, drive, n, again)
}

// TestE2EInterrupted: Ctrl-C (SIGINT) mid-run exits 130 without claiming
// safety; the same command again finishes and says SAFE.
func TestE2EInterrupted(t *testing.T) {
	t.Parallel()
	const n = 40
	e, drive, card := interruptedSetup(t, n)
	sent := false
	r := e.watch([]string{"ingest", card, "--project", "Break", "--json"}, onFirst("verified", "", func(p *os.Process) {
		sent = p.Signal(syscall.SIGINT) == nil
	}))
	if !sent || r.code != 130 {
		t.Fatalf("want exit 130 after SIGINT: %s", r)
	}
	res := parseResult(t, r)
	if res.Safe || !strings.HasPrefix(res.Verdict, "NOT SAFE TO FORMAT:") {
		t.Errorf("an interrupted run claims safety: %q", res.Verdict)
	}
	if !strings.Contains(res.Verdict, "interrupted") {
		t.Errorf("the verdict does not say the run was interrupted: %q", res.Verdict)
	}
	for _, p := range res.Problems {
		if strings.Contains(p.Err, "context canceled") {
			t.Errorf("the interruption is reported as a problem of a file: %+v", p)
		}
	}
	sums := sourceSums(t, card)
	for _, root := range []string{e.lib, drive} {
		onlyComplete(t, root, sums)
		noTemps(t, root) // a clean stop removes its temporaries
	}
	checkCatalog(t, e.home)

	again := e.run("ingest", card, "--project", "Break")
	checkFinished(t, e, drive, n, again)
}

// TestE2ECatalogUnwritable: the catalog fails closed. (1) TROVE_HOME
// read-only before the run: a clear error about the catalog, no verdict
// claiming safety, exit 1, nothing copied. (2) TROVE_HOME full mid-run: the
// run stops with an error about the catalog, claims nothing, exit 1; every
// copy the catalog does list is intact; after freeing space a rerun adopts
// the unrecorded copies and says SAFE.
func TestE2ECatalogUnwritable(t *testing.T) {
	t.Parallel()
	home := testenv.MountTmpfs(t, 4<<20)
	drive := testenv.MountTmpfs(t, 256<<20)
	dir := t.TempDir()
	e := newEnv(t, home, filepath.Join(dir, "lib"))
	e.initLib()
	e.addTarget("drive-a", drive)
	card := filepath.Join(dir, "card")
	const n = 20
	makeCard(t, card, n, 1<<20, 11)
	remount := func(opt string) {
		t.Helper()
		if out, err := exec.Command("mount", "-o", "remount,"+opt, home).CombinedOutput(); err != nil {
			t.Fatalf("remount %s %s: %v: %s", opt, home, err, out)
		}
	}

	remount("ro")
	r := e.run("ingest", card, "--project", "Closed")
	remount("rw")
	if r.code != 1 {
		t.Errorf("read-only catalog: want exit 1: %s", r)
	}
	wantLine(t, r, r.stderr, "trove:", "catalog")
	mustNotContain(t, r, r.stdout, "SAFE TO FORMAT: all")
	for _, root := range []string{e.lib, drive} {
		if files := scanTree(t, root).files; len(files) != 0 {
			t.Errorf("%s got %d files though the catalog could not be written", root, len(files))
		}
	}

	// Full mid-run: pause trove after its first verified copy, fill the
	// catalog's filesystem, let it go on.
	filler := filepath.Join(home, "filler")
	r = e.watch([]string{"ingest", card, "--project", "Closed", "--json"}, onFirst("verified", "", func(p *os.Process) {
		p.Signal(syscall.SIGSTOP)
		defer p.Signal(syscall.SIGCONT)
		f, err := os.Create(filler)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Errorf("fill %s: %v", home, err)
				}
				return
			}
		}
	}))
	res := parseResult(t, r)
	if r.code != 1 || res.Safe {
		t.Errorf("full catalog: want exit 1 and NOT SAFE: %s", r)
	}
	if !strings.Contains(res.Error, "catalog") || !strings.Contains(res.Verdict, "the run stopped") {
		t.Errorf("want an error about the catalog and a verdict saying the run stopped: error %q, verdict %q", res.Error, res.Verdict)
	}
	if res.Copied == n {
		t.Errorf("the result claims all %d files were recorded", n)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	sums := sourceSums(t, card)
	for _, root := range []string{e.lib, drive} {
		onlyComplete(t, root, sums)
	}
	checkCatalog(t, e.home)

	again := e.run("ingest", card, "--project", "Closed")
	checkFinished(t, e, drive, n, again)
}
