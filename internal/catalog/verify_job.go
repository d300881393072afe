package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// MarkTargetVerified records when verify last checked a target. Unlike
// UpdateTarget it touches only that column, so jobs running on several
// targets at once never overwrite each other's fields.
func (c *Catalog) MarkTargetVerified(targetID string, at time.Time) error {
	res, err := c.db.Exec(`UPDATE targets SET last_verify_at = ? WHERE id = ?`, fmtTime(at), targetID)
	if err != nil {
		return fmt.Errorf("catalog: record verification of target %s: %w", targetID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("catalog: record verification of target %s: %w", targetID, ErrNotFound)
	}
	return nil
}

// MarkTargetWritten records when a job (repair, backup) last wrote copies to
// a target, touching only that column and last_seen_at.
func (c *Catalog) MarkTargetWritten(targetID string, at time.Time) error {
	_, err := c.db.Exec(`UPDATE targets SET last_write_at = ?, last_seen_at = ? WHERE id = ?`,
		fmtTime(at), fmtTime(at), targetID)
	if err != nil {
		return fmt.Errorf("catalog: record write to target %s: %w", targetID, err)
	}
	return nil
}

// serverCheckBatch is how many copies MarkServerChecked updates per
// statement inside its one transaction (a variable for tests).
var serverCheckBatch = 500

// MarkServerChecked records that the copies of fileIDs on a target were
// just found unchanged by the service's own checksums (verify's server
// check). It sets only server_checked_at: verified_at, which means the bytes
// were re-read, is not touched, nor is the copy's state. All the copies are
// written in one transaction (a vault may hold 100,000 copies); IDs without
// a copy on the target are ignored.
func (c *Catalog) MarkServerChecked(ctx context.Context, targetID string, fileIDs []int64, at time.Time) error {
	if len(fileIDs) == 0 {
		return nil
	}
	ts := fmtTime(at)
	err := c.tx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(fileIDs); start += serverCheckBatch {
			ids := fileIDs[start:min(len(fileIDs), start+serverCheckBatch)]
			args := make([]any, 0, len(ids)+2)
			args = append(args, ts, targetID)
			for _, id := range ids {
				args = append(args, id)
			}
			q := `UPDATE copies SET server_checked_at = ? WHERE target_id = ? AND file_id IN (?` +
				strings.Repeat(",?", len(ids)-1) + `)`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: record server check of %d copies on target %s: %w", len(fileIDs), targetID, err)
	}
	return nil
}

// ServerCoverage reports how many of a target's copies are good (state ok)
// and were found unchanged by a server check since a time, and how many
// copies the target holds (the same total as Coverage).
func (c *Catalog) ServerCoverage(targetID string, since time.Time) (checked, total int, err error) {
	err = c.db.QueryRow(`SELECT count(*), coalesce(sum(CASE WHEN state = 'ok' AND server_checked_at >= ? AND server_checked_at != '' THEN 1 ELSE 0 END), 0)
		FROM copies WHERE target_id = ?`, fmtTime(since), targetID).Scan(&total, &checked)
	if err != nil {
		return 0, 0, fmt.Errorf("catalog: server check coverage of target %s: %w", targetID, err)
	}
	return checked, total, nil
}
