package catalog

import (
	"fmt"
	"time"
)

// Run is one execution of a job (ingest, backup, verify...).
type Run struct {
	ID        int64
	Kind      string
	Args      string
	StartedAt time.Time
	EndedAt   time.Time
	Status    string // running, ok, failed, interrupted
	Summary   string
}

// Problem is one thing that went wrong in a run, by file and target.
type Problem struct {
	Path, Target, Message string
}

// BeginRun records the start of a job. It is the first write of every job,
// so a catalog that cannot be written stops the job before it copies anything.
func (c *Catalog) BeginRun(kind, args string, now time.Time) (int64, error) {
	res, err := c.db.Exec(`INSERT INTO runs(kind, args, started_at) VALUES(?,?,?)`, kind, args, fmtTime(now))
	if err != nil {
		return 0, fmt.Errorf("catalog %s cannot be written: %w", c.path, err)
	}
	return res.LastInsertId()
}

// EndRun records how a job ended and what went wrong.
func (c *Catalog) EndRun(id int64, status, summary string, problems []Problem, now time.Time) error {
	_, err := c.db.Exec(`UPDATE runs SET ended_at = ?, status = ?, summary = ? WHERE id = ?`,
		fmtTime(now), status, summary, id)
	if err != nil {
		return fmt.Errorf("catalog: end run: %w", err)
	}
	for _, p := range problems {
		if _, err := c.db.Exec(`INSERT INTO problems(run_id, path, target, message) VALUES(?,?,?,?)`,
			id, p.Path, p.Target, p.Message); err != nil {
			return fmt.Errorf("catalog: record problem: %w", err)
		}
	}
	return nil
}

// Runs returns the most recent runs, newest first.
func (c *Catalog) Runs(limit int) ([]Run, error) {
	rows, err := c.db.Query(`SELECT id, kind, args, started_at, ended_at, status, summary FROM runs
		ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("catalog: list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started, ended string
		if err := rows.Scan(&r.ID, &r.Kind, &r.Args, &started, &ended, &r.Status, &r.Summary); err != nil {
			return nil, err
		}
		r.StartedAt, r.EndedAt = parseTime(started), parseTime(ended)
		out = append(out, r)
	}
	return out, rows.Err()
}
