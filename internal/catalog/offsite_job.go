package catalog

import (
	"context"
	"fmt"
	"time"
)

// ProjectProgress is how much of one project's current files has a
// counting copy (Copy.Counts) on one target.
type ProjectProgress struct {
	Project string
	// Total and Done are bytes; an empty file weighs one byte, so that a
	// project of empty files is not complete before they are copied.
	Total, Done int64
	// Last is when the most recent counting copy there was written (zero
	// when none).
	Last time.Time
}

// ProgressOnTarget returns, per project (in byte order of names), the
// bytes of its files present in the library or released to an archive
// (deleted files do not count) and of those with a counting copy on the
// target. It is one aggregate query: it does not load the files.
func (c *Catalog) ProgressOnTarget(ctx context.Context, targetID string) ([]ProjectProgress, error) {
	rows, err := c.db.QueryContext(ctx, `
		SELECT f.project,
		       sum(max(f.size, 1)),
		       sum(CASE WHEN c.state = 'ok' AND c.verified_at != '' AND c.sha256 = f.sha256 THEN max(f.size, 1) ELSE 0 END),
		       coalesce(max(CASE WHEN c.state = 'ok' AND c.verified_at != '' AND c.sha256 = f.sha256 THEN c.written_at END), '')
		FROM files f LEFT JOIN copies c ON c.file_id = f.id AND c.target_id = ?
		WHERE f.deleted_at = ''
		GROUP BY f.project ORDER BY f.project`, targetID)
	if err != nil {
		return nil, fmt.Errorf("catalog: progress on target: %w", err)
	}
	defer rows.Close()
	var out []ProjectProgress
	for rows.Next() {
		var p ProjectProgress
		var last string
		if err := rows.Scan(&p.Project, &p.Total, &p.Done, &last); err != nil {
			return nil, fmt.Errorf("catalog: progress on target: %w", err)
		}
		p.Last = parseTime(last)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: progress on target: %w", err)
	}
	return out, nil
}
