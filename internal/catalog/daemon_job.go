package catalog

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ScheduleState is what the background service remembers about one job of
// one target (schedule_state): it survives restarts, so a run missed while
// the service was stopped is still noticed, and a failing job keeps its
// backoff.
type ScheduleState struct {
	TargetID string // "" for jobs that belong to no target (the daily digest)
	Job      string // "backup", "scrub", "digest"
	// LastRun is when the job last started a run that finished (ok or
	// failed); the schedule counts from it. Zero: never.
	LastRun time.Time
	// LastOK is when the last successful run ended.
	LastOK time.Time
	// Failures counts the failed runs since the last success.
	Failures int
	// NextTry is when a failed job is tried again (zero: no retry pending).
	NextTry time.Time
}

// ScheduleState returns the state of a job, or a zero state (with TargetID
// and Job filled in) when the job never ran.
func (c *Catalog) ScheduleState(targetID, job string) (ScheduleState, error) {
	s := ScheduleState{TargetID: targetID, Job: job}
	var last, ok, next string
	err := c.db.QueryRow(`SELECT last_run, last_ok, failures, next_try FROM schedule_state
		WHERE target_id = ? AND job = ?`, targetID, job).Scan(&last, &ok, &s.Failures, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("catalog: read schedule state of %s %s: %w", job, targetID, err)
	}
	s.LastRun, s.LastOK, s.NextTry = parseTime(last), parseTime(ok), parseTime(next)
	return s, nil
}

// SaveScheduleState writes the state of a job, replacing what was there.
func (c *Catalog) SaveScheduleState(s ScheduleState) error {
	_, err := c.db.Exec(`INSERT INTO schedule_state(target_id, job, last_run, last_ok, failures, next_try)
		VALUES(?,?,?,?,?,?) ON CONFLICT(target_id, job) DO UPDATE SET last_run = excluded.last_run,
		last_ok = excluded.last_ok, failures = excluded.failures, next_try = excluded.next_try`,
		s.TargetID, s.Job, fmtTime(s.LastRun), fmtTime(s.LastOK), s.Failures, fmtTime(s.NextTry))
	if err != nil {
		return fmt.Errorf("catalog: save schedule state of %s %s: %w", s.Job, s.TargetID, err)
	}
	return nil
}

// AlertSent reports whether an alert with this dedupe key was recorded, and
// when.
func (c *Catalog) AlertSent(key string) (time.Time, bool, error) {
	var at string
	err := c.db.QueryRow(`SELECT sent_at FROM alerts_sent WHERE key = ?`, key).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("catalog: read alert %s: %w", key, err)
	}
	return parseTime(at), true, nil
}

// MarkAlertSent records that the alert with this dedupe key was sent at at.
func (c *Catalog) MarkAlertSent(key string, at time.Time) error {
	_, err := c.db.Exec(`INSERT INTO alerts_sent(key, sent_at) VALUES(?, ?)
		ON CONFLICT(key) DO UPDATE SET sent_at = excluded.sent_at`, key, fmtTime(at))
	if err != nil {
		return fmt.Errorf("catalog: record alert %s: %w", key, err)
	}
	return nil
}

// ForgetAlert removes a dedupe key, so the same alert is sent again the
// next time its condition arises (a project protected again, later at risk).
func (c *Catalog) ForgetAlert(key string) error {
	if _, err := c.db.Exec(`DELETE FROM alerts_sent WHERE key = ?`, key); err != nil {
		return fmt.Errorf("catalog: forget alert %s: %w", key, err)
	}
	return nil
}

// AlertKeys returns the recorded dedupe keys that start with prefix.
func (c *Catalog) AlertKeys(prefix string) ([]string, error) {
	rows, err := c.db.Query(`SELECT key FROM alerts_sent WHERE substr(key, 1, ?) = ? ORDER BY key`, len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("catalog: list alerts: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RunProblems returns the problems recorded with a run, in the order they
// were recorded.
func (c *Catalog) RunProblems(runID int64) ([]Problem, error) {
	rows, err := c.db.Query(`SELECT path, target, message FROM problems WHERE run_id = ? ORDER BY rowid`, runID)
	if err != nil {
		return nil, fmt.Errorf("catalog: list problems of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []Problem
	for rows.Next() {
		var p Problem
		if err := rows.Scan(&p.Path, &p.Target, &p.Message); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetTargetPath records that a folder target's drive is now found at path
// (mounted somewhere else than before) and when it was seen, touching only
// those columns.
func (c *Catalog) SetTargetPath(targetID, path string, seenAt time.Time) error {
	res, err := c.db.Exec(`UPDATE targets SET path = ?, last_seen_at = ? WHERE id = ?`, path, fmtTime(seenAt), targetID)
	if err != nil {
		return fmt.Errorf("catalog: record new path of target %s: %w", targetID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("catalog: record new path of target %s: %w", targetID, ErrNotFound)
	}
	return nil
}
