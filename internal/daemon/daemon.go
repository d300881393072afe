// Package daemon is Trove's background service: the loop behind
// `trove daemon` that backs up targets on their schedules and the moment
// their drive is plugged in, re-reads a slice of every target each night
// (the rolling scrub), retries failures with backoff, and sends alerts.
//
// The package decides when and what; it never copies or verifies a file
// itself. The jobs are injected (Options.Backup, Options.Scrub: funcs that
// cmd/trove wires to internal/backup and internal/verify), and so are the
// clock, the mount locations and the alert channels, so the loop is tested
// on a fake clock without sleeping.
//
// # What runs when
//
//   - A backup of a folder target starts when its drive appears: at its
//     registered path, or at another mount point (the catalog then records
//     the new path). The first scan after the service starts counts every
//     attached drive as just attached.
//   - A backup also starts when the target's schedule (config
//     [targets.NAME] schedule) is due (schedule.Check on the last run kept in
//     the catalog's schedule_state, so restarts keep the rhythm); a run
//     missed while the computer slept or was off runs once after wake, and a
//     clock that went back makes the job due at the next scheduled time
//     after the new clock. A due backup of a drive that is not attached
//     waits for the drive (one log line, no failure).
//   - A scrub (verify of a budgeted slice) runs on the target's verify
//     schedule, by default "daily 03:00", when the target is attached.
//   - The daily digest goes out on alerts.digest.
//
// # Safety
//
// At most one job per target runs at a time, and a backup also holds the
// library (backups read it whole and lock it), so backups run one after
// another. Beside a CLI run the target's own lock (a flock on
// <target>/.trove/lock, released by the kernel when a process dies) decides:
// a busy target is tried again after Options.BusyRetry, not counted as a
// failure. A failed job is retried after 5 minutes, 15 minutes, then every
// hour (Options.Backoff); every failure is logged, recorded as a run with its
// problems and sent as an alert (after three in a row, at most one alert per
// job per day). A job is marked pending in the catalog when it starts, so a
// run cut short by a crash or kill -9 runs again when the service restarts.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trove-backup/trove/internal/alert"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/schedule"
)

// Job kinds (schedule_state.job).
const (
	JobBackup = "backup"
	JobScrub  = "scrub"
	JobDigest = "digest"
)

// Outcome statuses.
const (
	StatusOK          = "ok"          // the job did everything
	StatusFailed      = "failed"      // the job failed: retried with backoff, alerted
	StatusBusy        = "busy"        // the target is locked by another Trove run: tried again later
	StatusAway        = "away"        // the target is not attached: waits for it
	StatusInterrupted = "interrupted" // stopped by shutdown: runs again at the next start
)

// DefaultScrubSchedule is the scrub schedule of a target whose config has no
// verify setting.
const DefaultScrubSchedule = "daily 03:00"

// Job is one unit of work handed to a Runner.
type Job struct {
	Kind   string         // JobBackup or JobScrub
	Target catalog.Target // Target.Path is where its drive is now
	Reason string         // why it runs, for logs and the run record: "drive attached", "scheduled" …
	// Scrub only: the most bytes to read tonight (0 = no limit) and the age
	// every copy must be re-read within (schedule.PlanScrub's maxAge).
	Budget int64
	MaxAge time.Duration
}

// Outcome is what a Runner reports.
type Outcome struct {
	Status string // one of the Status constants
	// RunID is the run the job recorded in the catalog (0 if it recorded
	// none: the daemon then records a failure itself).
	RunID    int64
	Summary  string   // one line for the log
	Problems []string // what went wrong, most important first
	Err      error    // the cause of a failure, or why the target is busy or away
	// Cause is a few words for an alert's subject ("drive-b is full");
	// empty: Err's text, else the first problem.
	Cause string
}

// Runner carries out a job. It must honour ctx (shutdown) and never panic.
type Runner func(ctx context.Context, j Job) Outcome

// ProjectState is one project's 3-2-1 verdict, for at-risk alerts.
type ProjectState struct {
	Name    string
	AtRisk  bool
	Reasons []string
	Files   int // files at risk
}

// Options configure a Daemon. Catalog, Backup and Scrub are required.
type Options struct {
	Catalog *catalog.Catalog
	// Settings are the per-target config sections, by target name.
	Settings map[string]config.TargetSettings
	// MaxAge is the policy's "verified within" (default 90 days).
	MaxAge time.Duration
	// Digest is the alerts.digest schedule ("" = no digest).
	Digest string
	// LibraryID, when set, makes drives of another library be ignored.
	LibraryID string

	Backup, Scrub Runner
	// Status evaluates every project (nil: no at-risk alerts).
	Status func(ctx context.Context) ([]ProjectState, error)
	// DigestAlert composes the daily digest (nil: no digest).
	DigestAlert func(ctx context.Context, now time.Time) (alert.Alert, error)
	// Notifier delivers alerts (nil: alerts are only logged).
	Notifier alert.Notifier

	// Now is the clock (default time.Now); After waits (default time.After).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Poll is the time between two passes (default 5 s): mount locations
	// are scanned and schedules checked at every pass.
	Poll time.Duration
	// MountRoots lists the folders where drives appear (default
	// MountRoots); ScanTimeout bounds one scan (default 20 s).
	MountRoots  func() []Root
	ScanTimeout time.Duration
	// Backoff are the waits after the 1st, 2nd, … failure in a row; the
	// last repeats (default 5m, 15m, 1h). BusyRetry is the wait after a
	// busy target (default 1 minute).
	Backoff   []time.Duration
	BusyRetry time.Duration
	// StatusEvery is how often projects are re-evaluated when no run
	// finished (default 1 hour).
	StatusEvery time.Duration
	// Logf writes one log line (default: discard).
	Logf func(format string, args ...any)
}

// Stats counts the outcomes of the jobs a Daemon ran.
type Stats struct {
	OK, Failed, Busy, Away, Interrupted int
}

// Daemon is the scheduler. Build it with New; drive it with Run, or with
// Pass and Wait (tests, --once).
type Daemon struct {
	o          Options
	backupSch  map[string]schedule.Schedule // by target name (missing: manual)
	scrubSch   map[string]schedule.Schedule
	scrubBytes map[string]int64
	digestSch  schedule.Schedule

	wake chan struct{} // a job finished

	mu         sync.Mutex
	running    map[string]string // target id → job kind holding it
	wg         sync.WaitGroup
	present    map[string]string // target id → path where its drive is (last scan)
	scanned    bool
	scanning   bool                 // a scan is in progress (possibly stuck on a network mount)
	attachWant map[string]string    // target id → reason: a backup to start as soon as possible
	waiting    map[string]bool      // "job/target": "waiting for the drive" was logged
	busyUntil  map[string]time.Time // "job/target" → not before
	mine       map[string]time.Time // "job/target" → the pending mark of a job this process started
	risk       map[string]bool      // project → at risk at the last evaluation (nil: no baseline)
	lastEval   time.Time
	stats      Stats
}

// New checks o and returns a Daemon.
func New(o Options) (*Daemon, error) {
	if o.Catalog == nil || o.Backup == nil || o.Scrub == nil {
		return nil, errors.New("daemon: Catalog, Backup and Scrub are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.MountRoots == nil {
		o.MountRoots = MountRoots
	}
	if o.ScanTimeout <= 0 {
		o.ScanTimeout = 20 * time.Second
	}
	if len(o.Backoff) == 0 {
		o.Backoff = []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour}
	}
	if o.BusyRetry <= 0 {
		o.BusyRetry = time.Minute
	}
	if o.StatusEvery <= 0 {
		o.StatusEvery = time.Hour
	}
	if o.MaxAge <= 0 {
		o.MaxAge = schedule.DefaultScrubAge
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	d := &Daemon{o: o, backupSch: map[string]schedule.Schedule{}, scrubSch: map[string]schedule.Schedule{},
		scrubBytes: map[string]int64{}, wake: make(chan struct{}, 1),
		running: map[string]string{}, present: map[string]string{}, attachWant: map[string]string{},
		waiting: map[string]bool{}, busyUntil: map[string]time.Time{}, mine: map[string]time.Time{}}
	defScrub, err := schedule.Parse(DefaultScrubSchedule)
	if err != nil {
		return nil, err
	}
	for name, s := range o.Settings {
		if d.backupSch[name], err = schedule.Parse(s.Schedule); err != nil {
			return nil, fmt.Errorf("targets.%s.schedule: %w", name, err)
		}
		d.scrubSch[name] = defScrub
		if s.Verify != "" {
			if d.scrubSch[name], err = schedule.Parse(s.Verify); err != nil {
				return nil, fmt.Errorf("targets.%s.verify: %w", name, err)
			}
		}
		if s.ScrubBudget != "" {
			if d.scrubBytes[name], err = schedule.ParseBandwidth(s.ScrubBudget); err != nil {
				return nil, fmt.Errorf("targets.%s.scrub_budget: %w", name, err)
			}
		}
	}
	if d.digestSch, err = schedule.Parse(o.Digest); err != nil {
		return nil, fmt.Errorf("alerts.digest: %w", err)
	}
	return d, nil
}

// scrubSchedule returns the scrub schedule of a target (the default when the
// config has no section for it).
func (d *Daemon) scrubSchedule(name string) schedule.Schedule {
	if s, ok := d.scrubSch[name]; ok {
		return s
	}
	s, _ := schedule.Parse(DefaultScrubSchedule)
	return s
}

// Run passes every Options.Poll (and soon after a job ends) until ctx is
// cancelled, then waits for the running jobs (they see ctx cancelled and
// stop cleanly) at most grace, and returns nil. It returns an error only
// when the catalog cannot be read at the first pass.
func (d *Daemon) Run(ctx context.Context, grace time.Duration) error {
	first := true
	for {
		if err := d.Pass(ctx); err != nil {
			if first {
				return err
			}
			d.o.Logf("error: %v (trying again in %v)", err, d.o.Poll)
		}
		first = false
		select {
		case <-ctx.Done():
			d.o.Logf("stopping: waiting for running jobs to stop")
			done := make(chan struct{})
			go func() { d.wg.Wait(); close(done) }()
			select {
			case <-done:
				d.o.Logf("stopped")
			case <-time.After(grace):
				d.o.Logf("stopped with jobs still running after %v", grace)
			}
			return nil
		case <-d.o.After(d.o.Poll):
		case <-d.wake:
		}
	}
}

// Wait blocks until every job started so far has ended.
func (d *Daemon) Wait() { d.wg.Wait() }

// Stats returns the outcomes counted so far.
func (d *Daemon) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Pass runs one scheduling pass: it scans for attached drives, starts the
// backups of drives that just appeared and every job that is due, and
// re-evaluates projects for at-risk alerts when it is time. Jobs run in the
// background; Wait waits for them.
func (d *Daemon) Pass(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	targets, err := d.o.Catalog.Targets()
	if err != nil {
		return fmt.Errorf("read targets: %w", err)
	}
	now := d.o.Now()
	targets = d.scanDrives(ctx, targets, now)

	// Drives that just appeared: back them up at once.
	for _, t := range targets {
		reason, ok := d.takeAttach(t.ID)
		if !ok {
			continue
		}
		if !d.startJob(ctx, Job{Kind: JobBackup, Target: t, Reason: reason}, now) {
			d.requeueAttach(t.ID, reason)
		}
	}
	// Due jobs start in the order they have waited longest (never run
	// first), so a target due at every pass cannot starve the others.
	var due []candidate
	for _, t := range targets {
		if t.Kind != catalog.KindLibrary {
			due = append(due, d.maybe(JobBackup, t, d.backupSch[t.Name], now)...)
		}
		due = append(due, d.maybe(JobScrub, t, d.scrubSchedule(t.Name), now)...)
	}
	sort.SliceStable(due, func(a, b int) bool { return due[a].last.Before(due[b].last) })
	for _, c := range due {
		d.startJob(ctx, c.job, now)
	}
	d.maybeDigest(ctx, now)
	d.mu.Lock()
	evalDue := d.risk == nil || now.Sub(d.lastEval) >= d.o.StatusEvery || now.Before(d.lastEval)
	d.mu.Unlock()
	if evalDue {
		d.checkRisk(ctx)
	}
	return nil
}

func key(job, targetID string) string { return job + "/" + targetID }

// candidate is a due job and when it last ran.
type candidate struct {
	job  Job
	last time.Time
}

// maybe returns job on t when it is due and can run (its drive attached,
// not waiting after a busy answer).
func (d *Daemon) maybe(job string, t catalog.Target, sch schedule.Schedule, now time.Time) []candidate {
	st, err := d.o.Catalog.ScheduleState(t.ID, job)
	if err != nil {
		d.o.Logf("error: %v", err)
		return nil
	}
	k := key(job, t.ID)
	d.mu.Lock()
	mark, ok := d.mine[k]
	d.mu.Unlock()
	if ok && st.NextTry.Equal(mark) {
		return nil // our own job's pending mark: it runs now (or just ended)
	}
	due, reason := d.due(&st, sch, now)
	if !due {
		return nil
	}
	d.mu.Lock()
	notBefore := d.busyUntil[k]
	_, present := d.present[t.ID]
	loggedWait := d.waiting[k]
	d.mu.Unlock()
	if now.Before(notBefore) {
		return nil
	}
	if isFolder(t) && !present {
		if !loggedWait {
			d.o.Logf("%s: %s due (%s) but the drive is not attached (expected at %s): it runs when the drive is plugged in",
				t.Name, jobWord(job), reason, t.Path)
			d.mu.Lock()
			d.waiting[k] = true
			d.mu.Unlock()
		}
		return nil
	}
	j := Job{Kind: job, Target: t, Reason: reason}
	if job == JobScrub {
		j.Budget, j.MaxAge = d.scrubBytes[t.Name], d.o.MaxAge
	}
	return []candidate{{job: j, last: st.LastRun}}
}

// due decides whether a job with state st and schedule sch is due at now,
// and why. It saves st when the clock went back (so the job becomes due at
// the next scheduled time after the new clock) or when a retry time lies
// implausibly far ahead (clock set back during a backoff).
func (d *Daemon) due(st *catalog.ScheduleState, sch schedule.Schedule, now time.Time) (bool, string) {
	maxWait := d.o.Backoff[len(d.o.Backoff)-1]
	if !st.NextTry.IsZero() {
		if st.NextTry.Sub(now) > maxWait {
			d.o.Logf("%s %s: the clock went back; retry moved to %s", st.Job, st.TargetID, now.Add(maxWait).Format(time.DateTime))
			st.NextTry = now.Add(maxWait)
			if err := d.o.Catalog.SaveScheduleState(*st); err != nil {
				d.o.Logf("error: %v", err)
			}
		}
		if now.Before(st.NextTry) {
			return false, ""
		}
		if st.Failures > 0 {
			return true, fmt.Sprintf("retry after %s", plural(st.Failures, "failure"))
		}
		return true, "resuming a run that was cut short"
	}
	dec := schedule.Check(sch, st.LastRun, now)
	if dec.ClockBackwards {
		d.o.Logf("%s %s: the clock went back (last run %s is in the future); next run at %s",
			st.Job, st.TargetID, st.LastRun.Format(time.DateTime), dec.Next.Format(time.DateTime))
		st.LastRun = dec.LastRun
		if err := d.o.Catalog.SaveScheduleState(*st); err != nil {
			d.o.Logf("error: %v", err)
		}
		return false, ""
	}
	switch {
	case !dec.Due:
		return false, ""
	case st.LastRun.IsZero():
		return true, "scheduled (" + sch.String() + "), never ran before"
	case dec.Missed > 1:
		return true, fmt.Sprintf("scheduled (%s), %d runs missed while the computer slept or was off", sch, dec.Missed)
	}
	return true, "scheduled (" + sch.String() + ")"
}

// isFolder reports whether t is a folder on a drive (or the library), whose
// presence the daemon can see.
func isFolder(t catalog.Target) bool {
	return t.Kind == catalog.KindFolder || t.Kind == catalog.KindLibrary
}

// holds lists the targets a job occupies: its own, and for a backup the
// library too.
func (d *Daemon) holds(j Job) []string {
	ids := []string{j.Target.ID}
	if j.Kind == JobBackup {
		if lib, err := d.o.Catalog.Library(); err == nil && lib.ID != j.Target.ID {
			ids = append(ids, lib.ID)
		}
	}
	return ids
}

// startJob starts j in the background unless one of the targets it needs is
// held by another job (then it returns false and nothing happens).
func (d *Daemon) startJob(ctx context.Context, j Job, now time.Time) bool {
	ids := d.holds(j)
	d.mu.Lock()
	for _, id := range ids {
		if _, busy := d.running[id]; busy {
			d.mu.Unlock()
			return false
		}
	}
	for _, id := range ids {
		d.running[id] = j.Kind
	}
	delete(d.waiting, key(j.Kind, j.Target.ID))
	d.wg.Add(1)
	d.mu.Unlock()

	// Mark the job pending: if the process dies mid-run, the next start
	// runs it again.
	st, err := d.o.Catalog.ScheduleState(j.Target.ID, j.Kind)
	if err == nil && st.NextTry.IsZero() {
		st.NextTry = now
		err = d.o.Catalog.SaveScheduleState(st)
	}
	if err != nil {
		d.o.Logf("error: %v", err)
	}
	d.mu.Lock()
	d.mine[key(j.Kind, j.Target.ID)] = st.NextTry
	d.mu.Unlock()
	d.o.Logf("%s: %s started (%s)", j.Target.Name, jobWord(j.Kind), j.Reason)
	go func() {
		defer d.wg.Done()
		defer func() {
			d.mu.Lock()
			for _, id := range ids {
				delete(d.running, id)
			}
			d.mu.Unlock()
			select {
			case d.wake <- struct{}{}:
			default:
			}
		}()
		run := d.o.Backup
		if j.Kind == JobScrub {
			run = d.o.Scrub
		}
		out := run(ctx, j)
		d.finish(ctx, j, now, out)
	}()
	return true
}

// jobWord names a job kind for people.
func jobWord(kind string) string {
	if kind == JobScrub {
		return "scrub (verify)"
	}
	return kind
}

// finish records a job's outcome: schedule state, run record, log, alerts.
func (d *Daemon) finish(ctx context.Context, j Job, start time.Time, out Outcome) {
	end := d.o.Now()
	k := key(j.Kind, j.Target.ID)
	if out.Status == StatusFailed && ctx.Err() != nil {
		out.Status = StatusInterrupted
	}
	st, err := d.o.Catalog.ScheduleState(j.Target.ID, j.Kind)
	if err != nil {
		d.o.Logf("error: %v", err)
	}
	save := true
	d.mu.Lock()
	switch out.Status {
	case StatusOK:
		d.stats.OK++
	case StatusFailed:
		d.stats.Failed++
	case StatusBusy:
		d.stats.Busy++
		d.busyUntil[k] = end.Add(d.o.BusyRetry)
		delete(d.mine, k) // the pending mark stays: tried again after BusyRetry
	case StatusAway:
		d.stats.Away++
	default:
		d.stats.Interrupted++
	}
	d.mu.Unlock()
	switch out.Status {
	case StatusOK:
		st.LastRun, st.LastOK, st.Failures, st.NextTry = start, end, 0, time.Time{}
		d.o.Logf("%s: %s done: %s", j.Target.Name, jobWord(j.Kind), orDefault(out.Summary, "ok"))
		if err := d.o.Catalog.ForgetAlert(failKey(j)); err != nil {
			d.o.Logf("error: %v", err)
		}
	case StatusFailed:
		st.LastRun = start
		st.Failures++
		st.NextTry = end.Add(d.backoff(st.Failures))
		d.recordFailure(j, start, end, &out)
		d.o.Logf("%s: %s FAILED (%s): %s; trying again at %s", j.Target.Name, jobWord(j.Kind),
			plural(st.Failures, "failure")+" in a row", failText(out), st.NextTry.Format(time.DateTime))
		d.alertFailure(ctx, j, st.Failures, out, end)
	case StatusBusy:
		// Not a failure: another Trove run has the target; the pending mark
		// stays, so the job runs once the target is free.
		d.o.Logf("%s: %s skipped: in use by another Trove run (%s); trying again at %s", j.Target.Name,
			jobWord(j.Kind), errText(out.Err), end.Add(d.o.BusyRetry).Format(time.DateTime))
		if j.Reason == reasonAttached || strings.HasPrefix(j.Reason, reasonAttached) {
			d.requeueAttach(j.Target.ID, j.Reason)
		}
		save = false
	case StatusAway:
		st.NextTry = time.Time{}
		d.o.Logf("%s: %s skipped: not attached (%s)", j.Target.Name, jobWord(j.Kind), errText(out.Err))
	default:
		d.o.Logf("%s: %s interrupted: it runs again at the next start", j.Target.Name, jobWord(j.Kind))
		save = false
	}
	if save {
		if err := d.o.Catalog.SaveScheduleState(st); err != nil {
			d.o.Logf("error: %v", err)
		}
	}
	if (out.Status == StatusOK || out.Status == StatusFailed) && ctx.Err() == nil {
		d.checkRisk(ctx)
	}
}

// backoff is the wait after the nth failure in a row.
func (d *Daemon) backoff(n int) time.Duration {
	return d.o.Backoff[min(n, len(d.o.Backoff))-1]
}

// recordFailure writes a run record for a failure the job did not record
// itself (it could not even start: library missing, catalog error …).
func (d *Daemon) recordFailure(j Job, start, end time.Time, out *Outcome) {
	if out.RunID != 0 {
		return
	}
	kind := j.Kind
	if kind == JobScrub {
		kind = "verify"
	}
	id, err := d.o.Catalog.BeginRun(kind, j.Target.Name+" (daemon: "+j.Reason+")", start)
	if err != nil {
		d.o.Logf("error: cannot record the failed run: %v", err)
		return
	}
	var probs []catalog.Problem
	for _, p := range failList(*out) {
		probs = append(probs, catalog.Problem{Target: j.Target.Name, Message: p})
	}
	if err := d.o.Catalog.EndRun(id, StatusFailed, orDefault(out.Summary, failText(*out)), probs, end); err != nil {
		d.o.Logf("error: cannot record the failed run: %v", err)
		return
	}
	out.RunID = id
}

// failList is the outcome's problems, or its error when it lists none.
func failList(out Outcome) []string {
	if len(out.Problems) > 0 {
		return out.Problems
	}
	return []string{errText(out.Err)}
}

func failText(out Outcome) string {
	l := failList(out)
	if len(l) > 1 {
		return fmt.Sprintf("%s (and %d more problems, see `trove log`)", l[0], len(l)-1)
	}
	return l[0]
}

func errText(err error) string {
	if err == nil {
		return "no reason given"
	}
	return err.Error()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// sortedNames returns the keys of m, sorted.
func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
