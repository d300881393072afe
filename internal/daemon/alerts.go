package daemon

import (
	"context"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/alert"
)

// sendTimeout bounds the delivery of one alert to every channel.
const sendTimeout = 2 * time.Minute

// quietAfter is the number of failures in a row after which a failing job
// alerts at most once per quietEvery (every failure is still logged and
// recorded as a run).
const (
	quietAfter = 3
	quietEvery = 24 * time.Hour
)

// Dedupe key prefixes in the catalog's alerts_sent.
const (
	keyRunFailed = "run-failed:"
	keyAtRisk    = "at-risk:"
)

func failKey(j Job) string { return keyRunFailed + j.Kind + ":" + j.Target.ID }

// send delivers a to every channel, logging the result. Without channels
// the alert is only logged. It reports whether the alert went out.
func (d *Daemon) send(ctx context.Context, a alert.Alert) bool {
	if d.o.Notifier == nil {
		d.o.Logf("alert (no alert channel configured): %s", a.Subject)
		return false
	}
	// Shutdown must not swallow the alert of the run that just failed.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	if err := d.o.Notifier.Send(sctx, a); err != nil {
		d.o.Logf("error: alert %q not delivered: %v", a.Subject, err)
		return false
	}
	d.o.Logf("alert sent: %s", a.Subject)
	return true
}

// alertFailure sends the alert for a failed job: every failure up to
// quietAfter in a row, then at most one per quietEvery.
func (d *Daemon) alertFailure(ctx context.Context, j Job, failures int, out Outcome, now time.Time) {
	k := failKey(j)
	if failures > quietAfter {
		if at, ok, err := d.o.Catalog.AlertSent(k); err == nil && ok && now.Sub(at) < quietEvery && !now.Before(at) {
			d.o.Logf("%s: alert for this failure already sent %s; the next one at most once a day",
				j.Target.Name, at.Local().Format(time.DateTime))
			return
		}
	}
	job := j.Kind
	if job == JobScrub {
		job = "verify"
	}
	rf := alert.RunFailure{Job: job, Target: j.Target.Name, Problems: failList(out)}
	switch {
	case out.Cause != "":
		rf.Cause = out.Cause
	case out.Err != nil:
		rf.Cause = out.Err.Error()
	}
	a := alert.RunFailed(rf, now)
	if failures > 1 {
		a.Body = strings.Replace(a.Body, "\n", "\n(Failure "+itoa(failures)+" in a row; Trove keeps retrying.)\n", 1)
	}
	if d.send(ctx, a) {
		if err := d.o.Catalog.MarkAlertSent(k, now); err != nil {
			d.o.Logf("error: %v", err)
		}
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

// checkRisk evaluates every project and alerts for those that were
// protected at the previous evaluation and are at risk now (once, until the
// project is protected again: dedupe key in alerts_sent). The first
// evaluation after start only sets the baseline: a shoot that was never
// protected (just ingested, not yet backed up) is not news.
func (d *Daemon) checkRisk(ctx context.Context) {
	if d.o.Status == nil {
		return
	}
	states, err := d.o.Status(ctx)
	if err != nil {
		d.o.Logf("error: evaluating projects: %v", err)
		return
	}
	now := d.o.Now()
	d.mu.Lock()
	before := d.risk
	d.risk = map[string]bool{}
	for _, p := range states {
		d.risk[p.Name] = p.AtRisk
	}
	d.lastEval = now
	d.mu.Unlock()
	sent, err := d.o.Catalog.AlertKeys(keyAtRisk)
	if err != nil {
		d.o.Logf("error: %v", err)
		return
	}
	had := map[string]bool{}
	for _, k := range sent {
		had[strings.TrimPrefix(k, keyAtRisk)] = true
	}
	for _, p := range states {
		k := keyAtRisk + p.Name
		switch {
		case !p.AtRisk && had[p.Name]:
			d.o.Logf("project %q is protected again", p.Name)
			if err := d.o.Catalog.ForgetAlert(k); err != nil {
				d.o.Logf("error: %v", err)
			}
		case p.AtRisk && before != nil && !had[p.Name]:
			wasRisk, known := before[p.Name]
			if !known || wasRisk {
				continue
			}
			d.o.Logf("project %q turned AT RISK: %s", p.Name, strings.Join(p.Reasons, "; "))
			a := alert.ProjectAtRisk(alert.AtRisk{Project: p.Name, Reasons: p.Reasons, Files: p.Files}, now)
			if d.send(ctx, a) {
				if err := d.o.Catalog.MarkAlertSent(k, now); err != nil {
					d.o.Logf("error: %v", err)
				}
			}
		}
	}
}

// maybeDigest sends the daily digest when alerts.digest is due. A digest
// that could not be composed or delivered is retried with the job backoff.
func (d *Daemon) maybeDigest(ctx context.Context, now time.Time) {
	if d.o.DigestAlert == nil || d.o.Notifier == nil || d.digestSch.Manual() {
		return
	}
	st, err := d.o.Catalog.ScheduleState("", JobDigest)
	if err != nil {
		d.o.Logf("error: %v", err)
		return
	}
	due, _ := d.due(&st, d.digestSch, now)
	if !due {
		return
	}
	a, err := d.o.DigestAlert(ctx, now)
	ok := err == nil && d.send(ctx, a)
	if err != nil {
		d.o.Logf("error: composing the daily digest: %v", err)
	}
	if ok {
		st.LastRun, st.LastOK, st.Failures, st.NextTry = now, now, 0, time.Time{}
	} else {
		st.LastRun = now
		st.Failures++
		st.NextTry = now.Add(d.backoff(st.Failures))
	}
	if err := d.o.Catalog.SaveScheduleState(st); err != nil {
		d.o.Logf("error: %v", err)
	}
}
