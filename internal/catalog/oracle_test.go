package catalog

// The backup's two reads from before the index cache (ReadBackupIndex),
// kept for the tests only: they read files and copies by separate queries,
// so the tests can hold ReadBackupIndex, from SQLite or from its cache,
// against an independent answer.

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/trove-backup/trove/internal/digest"
)

// ScanIndex calls fn for every file (deleted ones included) in byte order
// of their paths (SQLite's BINARY collation, which is Go's string order),
// without materialising the whole table. The IndexEntry passed to fn is
// reused: fn must copy what it keeps.
func (c *Catalog) ScanIndex(ctx context.Context, fn func(*IndexEntry) error) error {
	var e IndexEntry
	err := c.rawRows(ctx, `SELECT id, path, sha256, lib_size, lib_mtime_ns, deleted_at != '' OR released_at != ''
		FROM files ORDER BY path`, nil, func(row []driver.Value) error {
		if err := scanIndexRow(row, &e); err != nil {
			return err
		}
		return fn(&e)
	})
	if err != nil {
		return fmt.Errorf("catalog: read file index: %w", err)
	}
	return nil
}

// VerifiedCopies calls fn with the file ID and content of every copy on
// the target that is in state ok and was verified; the copy counts for its
// file when sum equals the file's current sum (callers compare: a join
// would cost a random read of the files table per copy). The sum passed to
// fn is reused.
func (c *Catalog) VerifiedCopies(ctx context.Context, targetID string, fn func(fileID int64, sum *digest.Sum) error) error {
	var sum digest.Sum
	err := c.rawRows(ctx, `SELECT file_id, sha256 FROM copies WHERE target_id = ? AND state = 'ok' AND verified_at != ''`,
		[]driver.NamedValue{{Ordinal: 1, Value: targetID}}, func(row []driver.Value) error {
			id, ok := row[0].(int64)
			s, ok2 := row[1].(string)
			if !ok || !ok2 || decodeSum(&sum, s) != nil {
				return nil // a damaged row never counts
			}
			return fn(id, &sum)
		})
	if err != nil {
		return fmt.Errorf("catalog: list copies on target: %w", err)
	}
	return nil
}
