package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/alert"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/mountinfo"
	"github.com/trove-backup/trove/internal/store/local"
)

// clock is a fake clock that moves only when the test says so.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// calls records the jobs a fake runner was given and answers with a
// programmable outcome.
type calls struct {
	mu   sync.Mutex
	jobs []Job
	next func(Job) Outcome // nil: ok
}

func (c *calls) run(ctx context.Context, j Job) Outcome {
	c.mu.Lock()
	c.jobs = append(c.jobs, j)
	next := c.next
	c.mu.Unlock()
	if next != nil {
		return next(j)
	}
	return Outcome{Status: StatusOK, Summary: "fine"}
}

func (c *calls) list() []Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Job(nil), c.jobs...)
}

func (c *calls) reset() {
	c.mu.Lock()
	c.jobs = nil
	c.mu.Unlock()
}

// notifier records alerts.
type notifier struct {
	mu   sync.Mutex
	sent []alert.Alert
	fail error
}

func (n *notifier) Send(_ context.Context, a alert.Alert) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail != nil {
		return n.fail
	}
	n.sent = append(n.sent, a)
	return nil
}

func (n *notifier) subjects() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, a := range n.sent {
		out = append(out, a.Subject)
	}
	return out
}

// fixture is a catalog with a library and targets, a fake clock, fake
// runners and a fake mount root.
type fixture struct {
	t      *testing.T
	cat    *catalog.Catalog
	clk    *clock
	backup *calls
	scrub  *calls
	note   *notifier
	root   string // fake mount root
	logs   *strings.Builder
	logMu  sync.Mutex
	opts   Options
}

var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cat, err := catalog.Open(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	f := &fixture{t: t, cat: cat, clk: &clock{t: t0}, backup: &calls{}, scrub: &calls{}, note: &notifier{},
		root: t.TempDir(), logs: &strings.Builder{}}
	lib := t.TempDir()
	f.addTarget("lib-id", catalog.LibraryName, catalog.KindLibrary, lib)
	if _, err := local.Prepare(lib, local.Identity{TargetID: "lib-id", Name: catalog.LibraryName}); err != nil {
		t.Fatal(err)
	}
	f.opts = Options{Catalog: cat, Settings: map[string]config.TargetSettings{},
		Backup: f.backup.run, Scrub: f.scrub.run, Notifier: f.note, Now: f.clk.Now,
		MountRoots: func() []Root { return []Root{{Dir: f.root, Depth: 1}} },
		Logf: func(format string, args ...any) {
			f.logMu.Lock()
			fmt.Fprintf(f.logs, format+"\n", args...)
			f.logMu.Unlock()
			t.Logf(format, args...)
		}}
	return f
}

func (f *fixture) addTarget(id, name, kind, path string) {
	f.t.Helper()
	if err := f.cat.AddTarget(catalog.Target{ID: id, Name: name, Kind: kind, Path: path, Medium: "hdd",
		Location: "home", CreatedAt: t0}); err != nil {
		f.t.Fatal(err)
	}
}

// drive registers a folder target whose drive is at dir (prepared there).
func (f *fixture) drive(id, name, dir string) {
	f.t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	if _, err := local.Prepare(dir, local.Identity{TargetID: id, Name: name}); err != nil {
		f.t.Fatal(err)
	}
	f.addTarget(id, name, catalog.KindFolder, dir)
}

func (f *fixture) daemon() *Daemon {
	f.t.Helper()
	d, err := New(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// pass runs one pass and waits for the jobs it started.
func (f *fixture) pass(d *Daemon) {
	f.t.Helper()
	if err := d.Pass(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	d.Wait()
}

func (f *fixture) state(id, job string) catalog.ScheduleState {
	f.t.Helper()
	st, err := f.cat.ScheduleState(id, job)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func (f *fixture) log() string {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return f.logs.String()
}

func kinds(jobs []Job, kind string) []Job {
	var out []Job
	for _, j := range jobs {
		if j.Kind == kind {
			out = append(out, j)
		}
	}
	return out
}

func TestScheduledBackupSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	f.addTarget("nas-id", "nas", catalog.KindSFTP, "")
	f.opts.Settings["nas"] = config.TargetSettings{Schedule: "every 1h", Verify: "manual"}
	f.opts.Settings["library"] = config.TargetSettings{Verify: "manual"}
	d := f.daemon()

	f.pass(d) // never ran: due now
	if got := kinds(f.backup.list(), JobBackup); len(got) != 1 || got[0].Target.Name != "nas" ||
		!strings.Contains(got[0].Reason, "never ran") {
		t.Fatalf("first pass: %+v", got)
	}
	if st := f.state("nas-id", JobBackup); !st.LastRun.Equal(t0) || !st.NextTry.IsZero() || st.Failures != 0 {
		t.Fatalf("state after the run: %+v", st)
	}
	f.backup.reset()
	f.clk.Add(59 * time.Minute)
	f.pass(d)
	if n := len(f.backup.list()); n != 0 {
		t.Fatalf("backup ran again after 59 minutes: %d", n)
	}

	// A new daemon (restart) keeps the rhythm from the catalog.
	d2 := f.daemon()
	f.pass(d2)
	if n := len(f.backup.list()); n != 0 {
		t.Fatalf("restart made the backup due early: %d runs", n)
	}
	f.clk.Add(time.Minute)
	f.pass(d2)
	if n := len(f.backup.list()); n != 1 {
		t.Fatalf("backup not run at the hour: %d runs", n)
	}
}

func TestMissedRunsWhileAsleepRunOnce(t *testing.T) {
	f := newFixture(t)
	f.addTarget("nas-id", "nas", catalog.KindSFTP, "")
	f.opts.Settings["nas"] = config.TargetSettings{Schedule: "daily 02:00", Verify: "manual"}
	f.opts.Settings["library"] = config.TargetSettings{Verify: "manual"}
	last := time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	if err := f.cat.SaveScheduleState(catalog.ScheduleState{TargetID: "nas-id", Job: JobBackup, LastRun: last, LastOK: last}); err != nil {
		t.Fatal(err)
	}
	f.clk.Set(time.Date(2025, 3, 1, 23, 0, 0, 0, time.UTC)) // the computer goes to sleep
	d := f.daemon()
	f.pass(d)
	if n := len(f.backup.list()); n != 0 {
		t.Fatalf("not due before 02:00: %d runs", n)
	}
	f.clk.Set(time.Date(2025, 3, 4, 9, 30, 0, 0, time.UTC)) // wakes three days later
	f.pass(d)
	f.pass(d)
	jobs := f.backup.list()
	if len(jobs) != 1 {
		t.Fatalf("want exactly one catch-up run, got %d", len(jobs))
	}
	if !strings.Contains(jobs[0].Reason, "3 runs missed") {
		t.Errorf("reason %q does not say that 3 runs were missed", jobs[0].Reason)
	}
	f.clk.Set(time.Date(2025, 3, 5, 2, 0, 0, 0, time.UTC))
	f.pass(d)
	if n := len(f.backup.list()); n != 2 {
		t.Fatalf("the next nightly run did not happen: %d runs", n)
	}
}

func TestClockJumps(t *testing.T) {
	f := newFixture(t)
	f.addTarget("nas-id", "nas", catalog.KindSFTP, "")
	f.opts.Settings["nas"] = config.TargetSettings{Schedule: "daily 02:00", Verify: "manual"}
	f.opts.Settings["library"] = config.TargetSettings{Verify: "manual"}
	future := time.Date(2025, 3, 20, 2, 0, 0, 0, time.UTC) // recorded by a clock that ran ahead
	if err := f.cat.SaveScheduleState(catalog.ScheduleState{TargetID: "nas-id", Job: JobBackup, LastRun: future}); err != nil {
		t.Fatal(err)
	}
	f.clk.Set(time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC))
	d := f.daemon()
	f.pass(d)
	if n := len(f.backup.list()); n != 0 {
		t.Fatalf("ran right after the clock went back: %d", n)
	}
	if !strings.Contains(f.log(), "clock went back") {
		t.Errorf("log does not mention the clock:\n%s", f.log())
	}
	// It does not wait ten days for the future time: due at the next 02:00.
	f.clk.Set(time.Date(2025, 3, 11, 1, 59, 0, 0, time.UTC))
	f.pass(d)
	if n := len(f.backup.list()); n != 0 {
		t.Fatalf("ran before 02:00: %d", n)
	}
	f.clk.Set(time.Date(2025, 3, 11, 2, 0, 0, 0, time.UTC))
	f.pass(d)
	if n := len(f.backup.list()); n != 1 {
		t.Fatalf("not run at the first 02:00 after the clock went back: %d", n)
	}
	// Forward by a week: one run, not seven.
	f.clk.Add(7 * 24 * time.Hour)
	f.pass(d)
	f.pass(d)
	if n := len(f.backup.list()); n != 2 {
		t.Fatalf("forward jump: want one more run, got %d in all", n)
	}

	// A retry time far in the future (clock set back during a backoff) is
	// pulled in to at most the longest backoff.
	now := f.clk.Now()
	if err := f.cat.SaveScheduleState(catalog.ScheduleState{TargetID: "nas-id", Job: JobBackup, LastRun: now,
		Failures: 1, NextTry: now.Add(30 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.pass(d)
	if st := f.state("nas-id", JobBackup); st.NextTry.After(now.Add(time.Hour)) {
		t.Fatalf("retry left %v ahead", st.NextTry.Sub(now))
	}
}

func TestFailureBackoffAlertAndRunRecord(t *testing.T) {
	f := newFixture(t)
	f.addTarget("nas-id", "nas", catalog.KindSFTP, "")
	f.opts.Settings["nas"] = config.TargetSettings{Schedule: "every 1m", Verify: "manual"}
	f.opts.Settings["library"] = config.TargetSettings{Verify: "manual"}
	f.backup.next = func(Job) Outcome {
		return Outcome{Status: StatusFailed, Err: errors.New("connection refused")}
	}
	d := f.daemon()
	f.pass(d)
	st := f.state("nas-id", JobBackup)
	if st.Failures != 1 || !st.NextTry.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("after one failure: %+v", st)
	}
	subj := f.note.subjects()
	if len(subj) != 1 || !strings.Contains(subj[0], "backup to nas failed") {
		t.Fatalf("alerts: %q", subj)
	}
	runs, err := f.cat.Runs(10)
	if err != nil || len(runs) != 1 || runs[0].Status != "failed" || runs[0].Kind != "backup" {
		t.Fatalf("run record: %+v %v", runs, err)
	}
	probs, err := f.cat.RunProblems(runs[0].ID)
	if err != nil || len(probs) != 1 || !strings.Contains(probs[0].Message, "connection refused") {
		t.Fatalf("problems: %+v %v", probs, err)
	}

	// Not again before the backoff, although the schedule says every minute.
	f.clk.Add(4 * time.Minute)
	f.pass(d)
	if n := len(f.backup.list()); n != 1 {
		t.Fatalf("retried during the backoff: %d runs", n)
	}
	waits := []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour, time.Hour}
	for i := 1; i < len(waits); i++ {
		f.clk.Set(f.state("nas-id", JobBackup).NextTry)
		f.pass(d)
		st := f.state("nas-id", JobBackup)
		if st.Failures != i+1 || !st.NextTry.Equal(f.clk.Now().Add(waits[i])) {
			t.Fatalf("after failure %d: %+v, want retry in %v", i+1, st, waits[i])
		}
	}
	// Failures 1-3 alerted; the 4th is quiet (one alert a day after three).
	if n := len(f.note.subjects()); n != 3 {
		t.Fatalf("want 3 alerts for 4 failures, got %d", n)
	}
	if n, _ := f.cat.Runs(100); len(n) != 4 {
		t.Fatalf("want a run record per failure, got %d", len(n))
	}

	// Success resets the backoff and the alert dedupe.
	f.backup.next = nil
	f.clk.Set(f.state("nas-id", JobBackup).NextTry)
	f.pass(d)
	if st := f.state("nas-id", JobBackup); st.Failures != 0 || !st.NextTry.IsZero() || !st.LastOK.Equal(f.clk.Now()) {
		t.Fatalf("after success: %+v", st)
	}
	if _, ok, _ := f.cat.AlertSent(keyRunFailed + "backup:nas-id"); ok {
		t.Error("failure alert key kept after a success")
	}
}

func TestOneJobPerTargetAndBackupsOneAtATime(t *testing.T) {
	f := newFixture(t)
	f.addTarget("a-id", "a", catalog.KindSFTP, "")
	f.addTarget("b-id", "b", catalog.KindSFTP, "")
	for _, n := range []string{"a", "b", "library"} {
		f.opts.Settings[n] = config.TargetSettings{Schedule: "every 1m", Verify: "manual"}
	}
	release := make(chan struct{})
	started := make(chan string, 10)
	f.backup.next = func(j Job) Outcome {
		started <- j.Target.Name
		<-release
		return Outcome{Status: StatusOK}
	}
	d := f.daemon()
	ctx := context.Background()
	d.Pass(ctx)
	first := <-started
	for range 3 {
		f.clk.Add(2 * time.Minute)
		d.Pass(ctx)
	}
	select {
	case n := <-started:
		t.Fatalf("%s started while %s was running (both need the library)", n, first)
	default:
	}
	close(release)
	d.Wait()
	d.Pass(ctx)
	d.Wait()
	// The second target runs next, not the first again (no starvation);
	// the first may run once more afterwards: it is due again by then.
	jobs := f.backup.list()
	if len(jobs) < 2 || jobs[0].Target.Name == jobs[1].Target.Name {
		t.Fatalf("want a then b (or b then a), one at a time: %+v", jobs)
	}
}

func TestBusyIsNotAFailure(t *testing.T) {
	f := newFixture(t)
	f.addTarget("nas-id", "nas", catalog.KindSFTP, "")
	f.opts.Settings["nas"] = config.TargetSettings{Schedule: "every 1h", Verify: "manual"}
	f.opts.Settings["library"] = config.TargetSettings{Verify: "manual"}
	f.backup.next = func(Job) Outcome { return Outcome{Status: StatusBusy, Err: local.ErrLocked} }
	d := f.daemon()
	f.pass(d)
	f.clk.Add(30 * time.Second)
	f.pass(d)
	if n := len(f.backup.list()); n != 1 {
		t.Fatalf("tried again before BusyRetry: %d", n)
	}
	if st := f.state("nas-id", JobBackup); st.Failures != 0 || st.NextTry.IsZero() {
		t.Fatalf("busy must stay pending, not fail: %+v", st)
	}
	if len(f.note.subjects()) != 0 {
		t.Fatalf("busy alerted: %q", f.note.subjects())
	}
	f.backup.next = nil
	f.clk.Add(31 * time.Second)
	f.pass(d)
	if n := len(f.backup.list()); n != 2 {
		t.Fatalf("not tried again after BusyRetry: %d", n)
	}
	if st := f.state("nas-id", JobBackup); !st.NextTry.IsZero() || st.LastOK.IsZero() {
		t.Fatalf("after the retry: %+v", st)
	}
}

func TestInterruptedRunResumesAfterRestart(t *testing.T) {
	f := newFixture(t)
	f.addTarget("nas-id", "nas", catalog.KindSFTP, "")
	f.opts.Settings["nas"] = config.TargetSettings{Schedule: "daily 02:00", Verify: "manual"}
	f.opts.Settings["library"] = config.TargetSettings{Verify: "manual"}
	ctx, cancel := context.WithCancel(context.Background())
	f.backup.next = func(Job) Outcome {
		cancel() // SIGTERM mid-run
		return Outcome{Status: StatusFailed, Err: context.Canceled}
	}
	d := f.daemon()
	d.Pass(ctx)
	d.Wait()
	if st := f.state("nas-id", JobBackup); st.Failures != 0 || st.NextTry.IsZero() || !st.LastRun.IsZero() {
		t.Fatalf("an interrupted run must stay pending, not count: %+v", st)
	}
	if len(f.note.subjects()) != 0 {
		t.Fatalf("shutdown alerted: %q", f.note.subjects())
	}
	// Restart (as after kill -9, where nothing at all was written at the end).
	f.backup.next = nil
	f.clk.Add(time.Minute)
	f.pass(f.daemon())
	jobs := f.backup.list()
	if len(jobs) != 2 || !strings.Contains(jobs[1].Reason, "cut short") {
		t.Fatalf("not resumed: %+v", jobs)
	}
}

func TestDriveAttachDetection(t *testing.T) {
	f := newFixture(t)
	registered := filepath.Join(t.TempDir(), "T7")
	f.drive("t7-id", "t7", registered)
	f.opts.Settings["library"] = config.TargetSettings{Verify: "manual"}
	f.opts.Settings["t7"] = config.TargetSettings{Verify: "manual"} // manual backup schedule: attach only
	// Unplug: the identity is gone from the registered path.
	id, err := local.ReadIdentity(registered)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(registered); err != nil {
		t.Fatal(err)
	}
	d := f.daemon()
	f.pass(d)
	if n := len(f.backup.list()); n != 0 {
		t.Fatalf("backup without a drive: %d", n)
	}
	f.clk.Add(5 * time.Second)
	f.pass(d)
	if n := len(f.backup.list()); n != 0 {
		t.Fatalf("backup without a drive: %d", n)
	}

	// The drive comes back, mounted elsewhere: a folder under the mount root.
	other := filepath.Join(f.root, "T7 1")
	if _, err := local.Prepare(other, id); err == nil {
		t.Fatal("Prepare of a missing folder should fail")
	}
	os.MkdirAll(other, 0o755)
	if _, err := local.Prepare(other, id); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(5 * time.Second)
	f.pass(d)
	jobs := f.backup.list()
	if len(jobs) != 1 || jobs[0].Target.Path != other || !strings.HasPrefix(jobs[0].Reason, reasonAttached) {
		t.Fatalf("attach did not start a backup at the new place: %+v", jobs)
	}
	if tg, err := f.cat.TargetByName("t7"); err != nil || tg.Path != other {
		t.Fatalf("catalog path not updated: %q %v", tg.Path, err)
	}
	// Still attached: no second backup.
	f.clk.Add(5 * time.Second)
	f.pass(d)
	if n := len(f.backup.list()); n != 1 {
		t.Fatalf("a drive that stays attached was backed up again: %d", n)
	}
	// Unplug and plug in again: a new backup.
	os.RemoveAll(other)
	f.pass(d)
	os.MkdirAll(other, 0o755)
	local.Prepare(other, id)
	f.pass(d)
	if n := len(f.backup.list()); n != 2 {
		t.Fatalf("re-attach did not start a backup: %d", n)
	}
	// An identity of another library is ignored.
	f.opts.LibraryID = "lib-A"
	stranger := filepath.Join(f.root, "stranger")
	os.MkdirAll(stranger, 0o755)
	local.Prepare(stranger, local.Identity{TargetID: "t7-id", Name: "t7", LibraryID: "lib-B"})
	got := scan(context.Background(), []catalog.Target{{ID: "t7-id", Kind: catalog.KindFolder, Path: "/nonexistent"}},
		[]Root{{Dir: f.root, Depth: 1}}, "lib-A")
	if p := got["t7-id"]; p == stranger {
		t.Errorf("a drive of another library was taken for t7")
	}
}

func TestAttachedAtStartAndScrubWaitsForDrive(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "drive")
	f.drive("d-id", "d", dir)
	f.opts.Settings["d"] = config.TargetSettings{Verify: "daily 03:00", ScrubBudget: "1MiB"}
	f.opts.Settings["library"] = config.TargetSettings{Verify: "manual"}
	f.clk.Set(time.Date(2025, 3, 10, 3, 0, 0, 0, time.UTC))
	d := f.daemon()
	release := make(chan struct{})
	f.backup.next = func(Job) Outcome { <-release; return Outcome{Status: StatusOK} }
	d.Pass(context.Background()) // the drive is there at start: backup; the scrub waits (one job per target)
	if b, s := len(f.backup.list()), len(f.scrub.list()); b > 1 || s != 0 {
		t.Fatalf("first pass: %d backups, %d scrubs", b, s)
	}
	close(release)
	d.Wait()
	if b := len(f.backup.list()); b != 1 {
		t.Fatalf("first pass: %d backups", b)
	}
	f.pass(d)
	sc := f.scrub.list()
	if len(sc) != 1 || sc[0].Budget != 1<<20 || sc[0].MaxAge != 90*24*time.Hour {
		t.Fatalf("scrub: %+v", sc)
	}
	// Unplugged at the next night: the scrub waits, once logged.
	os.RemoveAll(dir)
	f.clk.Add(24 * time.Hour)
	f.pass(d)
	f.pass(d)
	if n := len(f.scrub.list()); n != 1 {
		t.Fatalf("scrub ran without the drive: %d", n)
	}
	if c := strings.Count(f.log(), "not attached"); c != 1 {
		t.Errorf("want one 'not attached' line, got %d:\n%s", c, f.log())
	}
}

func TestAtRiskAlertOnceWhenProjectTurns(t *testing.T) {
	f := newFixture(t)
	f.opts.Settings["library"] = config.TargetSettings{Verify: "manual"}
	var mu sync.Mutex
	risky := map[string]bool{"2024-01-01 Old": true}
	f.opts.Status = func(context.Context) ([]ProjectState, error) {
		mu.Lock()
		defer mu.Unlock()
		var out []ProjectState
		for _, n := range []string{"2024-01-01 Old", "2024-06-01 Smith"} {
			out = append(out, ProjectState{Name: n, AtRisk: risky[n], Reasons: []string{"only 2 copies (policy: 3)"}})
		}
		return out, nil
	}
	f.opts.StatusEvery = time.Minute
	set := func(n string, v bool) { mu.Lock(); risky[n] = v; mu.Unlock() }
	d := f.daemon()
	f.pass(d) // baseline: Old was at risk already, no alert
	if s := f.note.subjects(); len(s) != 0 {
		t.Fatalf("baseline alerted: %q", s)
	}
	set("2024-06-01 Smith", true)
	f.clk.Add(time.Minute)
	f.pass(d)
	f.clk.Add(time.Minute)
	f.pass(d)
	if s := f.note.subjects(); len(s) != 1 || !strings.Contains(s[0], "Smith") {
		t.Fatalf("want one at-risk alert for Smith: %q", s)
	}
	// A restart does not alert again (dedupe in the catalog) …
	d2 := f.daemon()
	f.pass(d2)
	f.clk.Add(time.Minute)
	f.pass(d2)
	if n := len(f.note.subjects()); n != 1 {
		t.Fatalf("alerted again after restart: %q", f.note.subjects())
	}
	// … protected again, then at risk again: a new alert.
	set("2024-06-01 Smith", false)
	f.clk.Add(time.Minute)
	f.pass(d2)
	set("2024-06-01 Smith", true)
	f.clk.Add(time.Minute)
	f.pass(d2)
	if n := len(f.note.subjects()); n != 2 {
		t.Fatalf("want a second alert after the project turned again: %q", f.note.subjects())
	}
}

func TestDigest(t *testing.T) {
	f := newFixture(t)
	f.opts.Settings["library"] = config.TargetSettings{Verify: "manual"}
	f.opts.Digest = "daily 08:00"
	f.opts.DigestAlert = func(_ context.Context, now time.Time) (alert.Alert, error) {
		return alert.Digest(alert.DigestData{}, now), nil
	}
	f.clk.Set(time.Date(2025, 3, 10, 7, 0, 0, 0, time.UTC))
	if err := f.cat.SaveScheduleState(catalog.ScheduleState{Job: JobDigest, LastRun: f.clk.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	d := f.daemon()
	f.pass(d)
	if n := len(f.note.subjects()); n != 0 {
		t.Fatalf("digest before 08:00: %q", f.note.subjects())
	}
	f.clk.Set(time.Date(2025, 3, 10, 8, 0, 1, 0, time.UTC))
	f.pass(d)
	f.pass(d)
	if s := f.note.subjects(); len(s) != 1 || !strings.HasPrefix(s[0], "Trove daily") {
		t.Fatalf("digest: %q", s)
	}
	// Delivery fails: retried with backoff.
	f.note.fail = errors.New("smtp down")
	f.clk.Set(time.Date(2025, 3, 11, 8, 0, 1, 0, time.UTC))
	f.pass(d)
	if st := f.state("", JobDigest); st.Failures != 1 || st.NextTry.IsZero() {
		t.Fatalf("failed digest: %+v", st)
	}
}

func TestScrubSample(t *testing.T) {
	now := t0
	var copies []catalog.TargetCopy
	for i := range 100 {
		tc := catalog.TargetCopy{}
		tc.FileID = int64(i + 1)
		tc.File.Size = 1000
		tc.VerifiedAt = now.Add(-time.Duration(i%80) * 24 * time.Hour)
		copies = append(copies, tc)
	}
	pct, plan := ScrubSample(copies, 5000, 10*24*time.Hour, now)
	if len(plan.Items) != 5 || plan.Bytes != 5000 {
		t.Fatalf("plan: %d items, %d bytes", len(plan.Items), plan.Bytes)
	}
	// verify takes ceil(len*pct/100) copies: exactly the planned count.
	if n := int(mathCeil(float64(len(copies)) * pct / 100)); n != 5 {
		t.Fatalf("sample %v%% reads %d copies, want 5", pct, n)
	}
	if pct, _ := ScrubSample(nil, 0, 0, now); pct != 0 {
		t.Fatalf("empty target: %v", pct)
	}
}

func mathCeil(x float64) float64 {
	i := float64(int64(x))
	if i < x {
		return i + 1
	}
	return i
}

func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "daemon.lock")
	l, err := AcquireLock(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLock(p); !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(p)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}

func TestMountInfoHelpers(t *testing.T) {
	if got := mountinfo.Unescape(`/media/ann/My\040Drive`); got != "/media/ann/My Drive" {
		t.Errorf("unescape: %q", got)
	}
	for p, want := range map[string]bool{"/proc": true, "/sys/fs": true, "/run/user/1000": true,
		"/run/media/ann/T7": false, "/mnt/nas": false, "/media/x": false} {
		if systemPath(p) != want {
			t.Errorf("systemPath(%s) = %v", p, !want)
		}
	}
}
