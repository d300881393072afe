package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/alert"
	"github.com/trove-backup/trove/internal/backup"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/daemon"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/schedule"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
	"github.com/trove-backup/trove/internal/targetmeta"
	"github.com/trove-backup/trove/internal/verify"
)

// pollEnv is a hidden setting for tests only: the time between two daemon
// passes (a Go duration such as "200ms"; default 5s).
const pollEnv = "TROVE_DAEMON_POLL"

// onceMaxPasses bounds the passes of `trove daemon --once`.
const onceMaxPasses = 5

// daemonGrace is how long a stopping daemon waits for its jobs to stop.
const daemonGrace = time.Minute

func newDaemonCmd() *cobra.Command {
	var once bool
	cmd := &cobra.Command{
		Use:   "daemon [--once]",
		Short: "Run the background service in the foreground: schedules, drive-attach backups, nightly scrub, alerts",
		Long: `Runs Trove's background service in the foreground, writing one timestamped line per event
to stdout. ` + "`trove service install`" + ` sets it up to start at login.

  - A backup of a drive starts as soon as the drive is plugged in (its .trove/target.json
    appears at its usual place or under a mount point: /media/$USER, /run/media/$USER, /mnt,
    any mount point; /Volumes on macOS; a drive found at a new place is recorded there).
    Drives attached when the service starts are backed up at once.
  - Targets with a schedule in config.toml ([targets.NAME] schedule = "daily 02:00") are
    backed up on it; a run missed while the computer slept runs once after wake.
  - Every night (verify = "daily 03:00" by default) a slice of each attached target is read
    back (the rolling scrub, within scrub_budget), so each copy is re-read within the
    policy's verify_within_days.
  - Failures are retried after 5 minutes, 15 minutes, then hourly, recorded (trove log) and
    sent to the alert channels; so are projects that turn at risk and the daily digest.

One job per target at a time; a target in use by a CLI run is tried again a minute later.
Only one daemon runs per TROVE_HOME (a second one exits with an error). SIGTERM or Ctrl-C
stops it cleanly; an interrupted job runs again at the next start.

--once runs one round (back up attached drives, run what is due, send due alerts), waits for
it and exits: 0 when every job succeeded, 1 when any failed (for cron).`,
		Example: `  trove daemon
  trove daemon --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			lockPath := filepath.Join(filepath.Dir(a.paths.Catalog), "daemon.lock")
			lock, err := daemon.AcquireLock(lockPath)
			if err != nil {
				if errors.Is(err, daemon.ErrRunning) {
					return withHint(err, "stop the other one first (`trove service status` shows the service)")
				}
				return err
			}
			defer lock.Release()
			logger := log.New(a.stdout, "", log.LstdFlags)
			d, err := newDaemon(a, logger)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if once {
				// A job that was due but waited for its target (one job per
				// target) runs in a following pass; stop when a pass starts
				// nothing more (at most onceMaxPasses).
				ran := -1
				for range onceMaxPasses {
					if err := d.Pass(cmd.Context()); err != nil {
						return err
					}
					d.Wait()
					s := d.Stats()
					total := s.OK + s.Failed + s.Busy + s.Away + s.Interrupted
					if total == ran || cmd.Context().Err() != nil {
						break
					}
					ran = total
				}
				s := d.Stats()
				fmt.Fprintf(a.stdout, "Pass done: %d ok, %d failed, %d busy, %d not attached, %d interrupted.\n",
					s.OK, s.Failed, s.Busy, s.Away, s.Interrupted)
				switch {
				case cmd.Context().Err() != nil:
					return &exitError{code: exitInterrupt, silent: true}
				case s.Failed > 0:
					return &exitError{code: exitFailure, silent: true}
				}
				return nil
			}
			logger.Printf("trove daemon started (pid %d): catalog %s", os.Getpid(), a.paths.Catalog)
			return d.Run(cmd.Context(), daemonGrace)
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "run one scheduling pass, wait for its jobs and exit")
	return cmd
}

// newDaemon wires the scheduler to the real jobs, alerts and clock.
func newDaemon(a *app, logger *log.Logger) (*daemon.Daemon, error) {
	libID, _ := a.libraryID()
	days := a.cfg.Policy.VerifyWithinDays
	if days <= 0 {
		days = 90
	}
	o := daemon.Options{
		Catalog: a.cat, Settings: a.cfg.Targets, MaxAge: time.Duration(days) * 24 * time.Hour,
		Digest: a.cfg.Alerts.Digest, LibraryID: libID, Now: a.now,
		Backup: func(ctx context.Context, j daemon.Job) daemon.Outcome { return daemonBackup(ctx, a, j) },
		Scrub:  func(ctx context.Context, j daemon.Job) daemon.Outcome { return daemonScrub(ctx, a, j) },
		Status: func(context.Context) ([]daemon.ProjectState, error) { return projectStates(a) },
		DigestAlert: func(_ context.Context, now time.Time) (alert.Alert, error) {
			return digestAlert(a, now)
		},
		Logf: logger.Printf,
	}
	if s := os.Getenv(pollEnv); s != "" {
		p, err := time.ParseDuration(s)
		if err != nil || p <= 0 {
			return nil, fmt.Errorf("%s=%q: not a duration", pollEnv, s)
		}
		o.Poll, o.BusyRetry = p, p
		o.Backoff = []time.Duration{p}
	}
	n, errs := alertNotifier(alertChannels(a.cfg.Alerts))
	for _, err := range errs {
		logger.Printf("warning: alert channel not usable: %v", err)
	}
	if n != nil {
		o.Notifier = n
	}
	return daemon.New(o)
}

// attachOutcome maps an attach failure to the daemon's words: a busy target
// is tried again later, an absent one waits for its drive.
func attachOutcome(err error) daemon.Outcome {
	switch {
	case errors.Is(err, local.ErrLocked):
		return daemon.Outcome{Status: daemon.StatusBusy, Err: err}
	case errors.Is(err, store.ErrNotAttached):
		return daemon.Outcome{Status: daemon.StatusAway, Err: err}
	}
	return daemon.Outcome{Status: daemon.StatusFailed, Err: err}
}

// freshTarget re-reads the job's target (the daemon's copy may be a few
// seconds old) at the place its drive was found.
func freshTarget(a *app, j daemon.Job) (catalog.Target, error) {
	t, err := a.cat.TargetByName(j.Target.Name)
	if err != nil {
		return t, err
	}
	if t.ID != j.Target.ID {
		return t, fmt.Errorf("target %s was replaced while the job waited", j.Target.Name)
	}
	if j.Target.Path != "" {
		t.Path = j.Target.Path
	}
	return t, nil
}

// daemonBackup backs up one target, as `trove backup NAME` does.
func daemonBackup(ctx context.Context, a *app, j daemon.Job) daemon.Outcome {
	t, err := freshTarget(a, j)
	if err != nil {
		return daemon.Outcome{Status: daemon.StatusFailed, Err: err}
	}
	lib, err := a.cat.Library()
	if err != nil {
		return daemon.Outcome{Status: daemon.StatusFailed, Err: fmt.Errorf("the catalog has no library: %w", err)}
	}
	libStore, err := a.attach(lib)
	if err != nil {
		out := attachOutcome(err)
		if out.Status == daemon.StatusAway { // a missing library is a failure, never "nothing to do"
			out.Status = daemon.StatusFailed
			out.Err = fmt.Errorf("library: %w: refusing to back up", err)
		}
		return out
	}
	defer libStore.Close()
	at, err := a.open(ctx, t) // any kind: folder, SFTP, vault
	if err != nil {
		return attachOutcome(err)
	}
	defer at.Close()
	var until time.Time
	if w, err := schedule.ParseWindow(a.cfg.Targets[t.Name].Window); err == nil && !w.Always() {
		if !w.Contains(a.now()) {
			return daemon.Outcome{Status: daemon.StatusOK, Summary: fmt.Sprintf("outside its upload window %s: resumes %s",
				w, w.NextStart(a.now()).Format("15:04"))}
		}
		until = w.End(a.now())
	}
	opts := backup.Options{Catalog: a.cat, Library: backup.Dest{Target: lib, Store: libStore},
		LibraryDir: libStore.Root(), Targets: []backup.Dest{{Target: at.Target, Store: at.Store, Until: until, Pace: at.Pace}}, Now: a.now,
		Sink: progress.Discard(), Args: t.Name + " (daemon: " + j.Reason + ")"}
	res, runErr := backup.Run(ctx, opts)
	if res != nil && runErr == nil && scanChanged(res.Scan) {
		if l, err := a.cat.Library(); err == nil {
			if err := targetmeta.Refresh(ctx, a.cat, l, libStore, a.now()); err != nil {
				res.Warnings = append(res.Warnings, "could not update the library's manifest: "+err.Error())
			}
		}
	}
	if res == nil {
		if ctx.Err() != nil {
			return daemon.Outcome{Status: daemon.StatusInterrupted, Err: runErr}
		}
		return daemon.Outcome{Status: daemon.StatusFailed, Err: runErr}
	}
	out := daemon.Outcome{RunID: res.RunID, Status: daemon.StatusOK, Err: runErr}
	var parts []string
	for _, tr := range res.Targets {
		parts = append(parts, fmt.Sprintf("%s copied (%s), %s kept", pluralS(tr.Copied, "file"),
			progress.FormatBytes(tr.Bytes), pluralS(tr.Versions, "old version")))
		if tr.Status != backup.StatusDone {
			reason := tr.Reason
			if reason == "" {
				reason = tr.Name + " " + tr.Status
			}
			out.Problems = append(out.Problems, fmt.Sprintf("%s (%s not backed up)", reason, pluralS(tr.Pending, "file")))
			if out.Cause == "" {
				out.Cause, _, _ = strings.Cut(reason, ": ") // "drive-b is full"
			}
		}
	}
	out.Summary = fmt.Sprintf("library %s (%d new, %d edited, %d deleted); %s", pluralS(res.Scan.Files, "file"),
		res.Scan.New, res.Scan.Changed, res.Scan.Deleted, strings.Join(parts, "; "))
	out.Problems = append(out.Problems, res.Warnings...)
	for _, p := range res.Problems {
		out.Problems = append(out.Problems, strings.TrimPrefix(p.File+": "+p.Err, ": "))
	}
	switch {
	case ctx.Err() != nil:
		out.Status = daemon.StatusInterrupted
	case runErr != nil || !res.OK():
		out.Status = daemon.StatusFailed
	}
	return out
}

// daemonScrub re-reads tonight's slice of one target: the copies
// schedule.PlanScrub picks within the budget, checked by verify.
func daemonScrub(ctx context.Context, a *app, j daemon.Job) daemon.Outcome {
	t, err := freshTarget(a, j)
	if err != nil {
		return daemon.Outcome{Status: daemon.StatusFailed, Err: err}
	}
	opened, err := a.open(ctx, t) // any kind: folder, SFTP, vault
	if err != nil {
		return attachOutcome(err)
	}
	defer opened.Close()
	copies, err := a.cat.CopiesOnTarget(t.ID)
	if err != nil {
		return daemon.Outcome{Status: daemon.StatusFailed, Err: err}
	}
	copies = slices.DeleteFunc(copies, func(tc catalog.TargetCopy) bool { // as verify counts them
		return t.Kind == catalog.KindLibrary && !tc.File.DeletedAt.IsZero()
	})
	pct, plan := daemon.ScrubSample(copies, j.Budget, j.MaxAge, a.now())
	note := ""
	if plan.Shortfall > 0 {
		note = fmt.Sprintf("; the scrub budget is too small to re-read every copy in time: it needs %s a night",
			progress.FormatBytes(plan.Needed))
	}
	if pct == 0 {
		return daemon.Outcome{Status: daemon.StatusOK, Summary: "nothing to re-read tonight" + note}
	}
	at := attachedTarget{t: opened.Target, l: opened.Local, s: opened.Store, dev: opened.Device, c: opened.Close}
	o := verify.Options{Catalog: a.cat, Targets: []verify.Target{{Target: opened.Target, Store: opened.Store, Attached: stillAttached(at)}},
		Sample: pct, Windows: []time.Duration{j.MaxAge}, Now: a.now, Sink: progress.Discard(),
		Args: fmt.Sprintf("%s --sample %.4g (daemon: nightly scrub, %s planned)", t.Name, pct, progress.FormatBytes(plan.Bytes))}
	res, runErr := verify.Run(ctx, o)
	if res == nil {
		if ctx.Err() != nil {
			return daemon.Outcome{Status: daemon.StatusInterrupted, Err: runErr}
		}
		return daemon.Outcome{Status: daemon.StatusFailed, Err: runErr}
	}
	out := daemon.Outcome{Status: daemon.StatusOK, Err: runErr,
		Summary: fmt.Sprintf("re-read %s (%s)%s", plural(res.Checked, "copy", "copies"), progress.FormatBytes(res.Bytes), note)}
	for _, p := range res.Problems {
		msg := p.Message
		if p.State != "" {
			msg = p.State + ": " + msg
		}
		if p.File != "" {
			msg = p.File + ": " + msg
		}
		out.Problems = append(out.Problems, msg)
	}
	switch {
	case ctx.Err() != nil:
		out.Status = daemon.StatusInterrupted
	case runErr != nil || !res.OK():
		out.Status = daemon.StatusFailed
	}
	if out.Status == daemon.StatusFailed {
		// verify recorded the run; find it for the daemon (the newest verify run).
		if runs, err := a.cat.Runs(5); err == nil {
			for _, r := range runs {
				if r.Kind == "verify" && r.Args == o.Args {
					out.RunID = r.ID
					break
				}
			}
		}
	}
	return out
}

// projectStates evaluates the policy for every project (as trove status).
func projectStates(a *app) ([]daemon.ProjectState, error) {
	v, err := evaluate(a)
	if err != nil {
		return nil, err
	}
	out := make([]daemon.ProjectState, 0, len(v.Projects))
	for _, p := range v.Projects {
		out = append(out, daemon.ProjectState{Name: p.Name, AtRisk: !p.Protected, Reasons: p.Reasons, Files: p.AtRisk})
	}
	return out, nil
}

// digestAlert composes the daily digest from the catalog.
func digestAlert(a *app, now time.Time) (alert.Alert, error) {
	v, err := evaluate(a)
	if err != nil {
		return alert.Alert{}, err
	}
	var d alert.DigestData
	for _, p := range v.Projects {
		d.Projects = append(d.Projects, alert.ProjectCount{Project: p.Name, Protected: p.Files - p.AtRisk, AtRisk: p.AtRisk})
	}
	ts, err := a.cat.Targets()
	if err != nil {
		return alert.Alert{}, err
	}
	for _, t := range ts {
		d.Targets = append(d.Targets, alert.TargetState{Target: t.Name, LastWrite: t.LastWriteAt, LastVerify: t.LastVerifyAt})
	}
	return alert.Digest(d, now), nil
}
