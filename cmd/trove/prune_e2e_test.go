//go:build linux

package main

// End-to-end test of `trove prune`: an edited photo leaves its old version
// on two drives; once out of retention (its time set back in the catalog,
// as a clock a year ahead would see it) one goes and the last one stays;
// --dry-run deletes nothing.

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestE2EPruneKeepsLastCopy(t *testing.T) {
	f := newFleet(t, 2, 32<<10, "drive-a", "drive-b")
	e := f.e
	edited := f.path("library", f.files[0])
	writeFile(t, edited, []byte("edited in the library"))
	e.must(0, "backup")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.home, "catalog.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var paths []string
	rows, err := db.Query(`SELECT v.path FROM versions v JOIN targets t ON t.id = v.target_id ORDER BY t.name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		rows.Scan(&p)
		paths = append(paths, p)
	}
	rows.Close()
	if len(paths) != 2 {
		t.Fatalf("backup kept %d old versions, want one on each drive: %v", len(paths), paths)
	}
	r := e.must(0, "prune", "--dry-run")
	wantLine(t, r, r.stdout, "Dry run: would delete 0 old versions", "Kept 2 by the rule")
	if _, err := db.Exec(`UPDATE versions SET created_at = '2020-01-01T00:00:00.000000000Z'`); err != nil {
		t.Fatal(err)
	}
	r = e.must(0, "prune", "--dry-run")
	wantLine(t, r, r.stdout, "would delete drive-a: "+paths[0], "replaced version of "+f.files[0], "older than 30 days and 12 months")
	wantLine(t, r, r.stdout, "kept drive-b: "+paths[1], "the last copy of this content anywhere")
	wantLine(t, r, r.stdout, "Dry run: would delete 1 old version", "nothing was deleted")
	for d, p := range map[string]string{"drive-a": paths[0], "drive-b": paths[1]} {
		if _, err := os.Stat(filepath.Join(f.drives[d], filepath.FromSlash(p))); err != nil {
			t.Errorf("dry run: %s on %s: %v", p, d, err)
		}
	}
	r = e.must(0, "prune")
	wantLine(t, r, r.stdout, "deleted drive-a: "+paths[0])
	wantLine(t, r, r.stdout, "Deleted 1 old version")
	if _, err := os.Stat(filepath.Join(f.drives["drive-a"], filepath.FromSlash(paths[0]))); !os.IsNotExist(err) {
		t.Errorf("old version still on drive-a: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.drives["drive-b"], filepath.FromSlash(paths[1]))); err != nil {
		t.Errorf("the last copy of the old version is gone from drive-b: %v", err)
	}
	log, err := os.ReadFile(filepath.Join(f.drives["drive-a"], ".trove", "prune.log"))
	if err != nil || !strings.Contains(string(log), "deleted "+paths[0]) {
		t.Errorf("prune.log on drive-a: %v\n%s", err, log)
	}
	r = e.must(0, "prune", "drive-b")
	wantLine(t, r, r.stdout, "Deleted 0 old versions", "1 as the last copy or current content")
	checkCatalog(t, e.home)
}
