package catalog

import (
	"fmt"
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
