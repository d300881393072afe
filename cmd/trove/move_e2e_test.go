//go:build linux

package main

// End-to-end tests of drive rotation: `trove target move`, then the
// freshness warnings that status shows (statusExtras), with the catalog's
// last-write and last-seen times set back instead of waiting weeks.

import (
	"database/sql"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
)

// testApp opens the env's setup in this process (as openApp does), with
// output discarded; the caller may replace now.
func testApp(t *testing.T, e *e2eEnv) *app {
	t.Helper()
	cfg, err := config.Load(filepath.Join(e.home, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(filepath.Join(e.home, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	return &app{cfg: cfg, cat: cat, stdout: io.Discard, stderr: io.Discard, now: time.Now}
}

// setTargetTimes rewrites a target's last write and last seen times.
func setTargetTimes(t *testing.T, home, target string, wrote, seen time.Time) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, "catalog.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }
	if _, err := db.Exec(`UPDATE targets SET last_write_at = ?, last_seen_at = ? WHERE name = ?`, f(wrote), f(seen), target); err != nil {
		t.Fatal(err)
	}
}

// TestE2ETargetMoveFreshness: drive-b is carried to the bank; status then
// counts it off-site, and warns once its last sync is older than
// offsite_max_days (30) and once it was not seen for unseen_max_days (60).
// Copies not verified within the policy are named per target.
func TestE2ETargetMoveFreshness(t *testing.T) {
	f := newFleet(t, 2, 32<<10, "drive-a", "drive-b") // drive-b starts at "office"
	e := f.e
	r := e.must(0, "target", "move", "drive-b", "--location", "bank")
	wantLine(t, r, r.stdout, "drive-b is now kept at bank (was office).")
	wantLine(t, r, r.stdout, "Its copies count as off-site")
	r = e.must(0, "target", "move", "drive-b", "--location", "Bank")
	wantLine(t, r, r.stdout, "already kept at bank: nothing changed")
	e.must(2, "target", "move", "drive-b")
	e.must(2, "target", "move", "nope", "--location", "bank")
	e.must(2, "target", "move", "library", "--location", "bank")

	a := testApp(t, e)
	defer a.Close()
	bank, err := a.cat.TargetByName("drive-b")
	if err != nil {
		t.Fatal(err)
	}
	if bank.Location != "bank" || bank.MovedAt.IsZero() {
		t.Errorf("catalog after the move: location %q, moved at %v", bank.Location, bank.MovedAt)
	}
	x, err := statusExtras(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Warnings) != 0 {
		t.Errorf("fresh setup has warnings: %q", x.Warnings)
	}
	if len(x.Coverage) != 3 || x.Coverage[1].Target != "drive-a" || x.Coverage[1].Percent30 != 100 {
		t.Errorf("coverage: %+v", x.Coverage)
	}

	now := time.Now()
	setTargetTimes(t, e.home, "drive-b", now.Add(-47*24*time.Hour-time.Hour), now.Add(-47*24*time.Hour))
	setTargetTimes(t, e.home, "drive-a", now.Add(-75*24*time.Hour), now.Add(-75*24*time.Hour-time.Hour))
	// 100 days later, as status would see it then (injected clock).
	a.now = func() time.Time { return now }
	x, err = statusExtras(a)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"bank drive drive-b last synced 47 days ago: bring it home and swap",
		"drive-a (kept at home) not seen for 75 days: attach it so Trove can verify it",
	}
	for _, w := range want {
		if !slices.Contains(x.Warnings, w) {
			t.Errorf("warnings lack %q: %q", w, x.Warnings)
		}
	}
	if slices.ContainsFunc(x.Warnings, func(s string) bool { return strings.Contains(s, "drive-a last synced") }) {
		t.Errorf("drive-a at home got an off-site warning: %q", x.Warnings)
	}
	a.now = func() time.Time { return now.Add(100 * 24 * time.Hour) }
	x, err = statusExtras(a)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(x.Warnings, "drive-b: 2 of 2 copies not verified within 90 days (run `trove verify drive-b`)") {
		t.Errorf("no verification warning for drive-b: %q", x.Warnings)
	}
	if x.Coverage[2].Target != "drive-b" || x.Coverage[2].Percent90 != 0 {
		t.Errorf("coverage 100 days later: %+v", x.Coverage)
	}
	var b strings.Builder
	printStatusExtras(&b, x)
	if !strings.Contains(b.String(), "warning: bank drive drive-b last synced 147 days ago: bring it home and swap") {
		t.Errorf("printed extras:\n%s", b.String())
	}
}
