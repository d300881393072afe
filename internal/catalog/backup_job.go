package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/trove-backup/trove/internal/digest"
)

// Catalog access for the backup job: compact, streaming reads sized for
// libraries of hundreds of thousands of files, and batched writes (one
// transaction, one fsync, per batch).

// IndexEntry is the little backup needs to know of one file to recognise it
// unchanged without reading it.
type IndexEntry struct {
	ID         int64
	Path       string
	Sum        digest.Sum
	LibSize    int64 // -1: unknown
	LibMtimeNs int64
	Deleted    bool
}

// ScanIndex calls fn for every file (deleted ones included), in no
// particular order, without materialising the whole table.
func (c *Catalog) ScanIndex(ctx context.Context, fn func(IndexEntry) error) error {
	rows, err := c.db.QueryContext(ctx, `SELECT id, path, sha256, lib_size, lib_mtime_ns, deleted_at != '' OR released_at != '' FROM files`)
	if err != nil {
		return fmt.Errorf("catalog: read file index: %w", err)
	}
	defer rows.Close()
	var sum string
	for rows.Next() {
		var e IndexEntry
		if err := rows.Scan(&e.ID, &e.Path, &sum, &e.LibSize, &e.LibMtimeNs, &e.Deleted); err != nil {
			return fmt.Errorf("catalog: read file index: %w", err)
		}
		if e.Sum, err = digest.Parse(sum); err != nil {
			return fmt.Errorf("catalog: file %s: %w", e.Path, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("catalog: read file index: %w", err)
	}
	return nil
}

// VerifiedCopies calls fn with the file ID and content of every copy on
// the target that is in state ok and was verified; the copy counts for its
// file when sum equals the file's current sum (callers compare: a join
// would cost random reads over the whole files table).
func (c *Catalog) VerifiedCopies(ctx context.Context, targetID string, fn func(fileID int64, sum digest.Sum)) error {
	rows, err := c.db.QueryContext(ctx, `SELECT file_id, sha256 FROM copies
		WHERE target_id = ? AND state = 'ok' AND verified_at != ''`, targetID)
	if err != nil {
		return fmt.Errorf("catalog: list copies on target: %w", err)
	}
	defer rows.Close()
	var s string
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, &s); err != nil {
			return fmt.Errorf("catalog: list copies on target: %w", err)
		}
		sum, err := digest.Parse(s)
		if err != nil {
			continue // a damaged row never counts
		}
		fn(id, sum)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("catalog: list copies on target: %w", err)
	}
	return nil
}

// CopyOf returns the copy of a file on a target, or ErrNotFound.
func (c *Catalog) CopyOf(fileID int64, targetID string) (Copy, error) {
	rows, err := c.db.Query(`SELECT `+copyCols+` FROM copies WHERE file_id = ? AND target_id = ?`, fileID, targetID)
	if err != nil {
		return Copy{}, fmt.Errorf("catalog: read copy: %w", err)
	}
	list, err := scanCopies(rows)
	if err != nil {
		return Copy{}, err
	}
	if len(list) == 0 {
		return Copy{}, fmt.Errorf("copy of file %d on %s: %w", fileID, targetID, ErrNotFound)
	}
	return list[0], nil
}

// DeletedCopy is a copy, on some target, of a file removed from the library.
type DeletedCopy struct {
	Copy
	FilePath string // the file's library path
	Size     int64  // the file's size
}

// CopiesOfDeleted returns the copies on a target whose files were removed
// from the library, in path order.
func (c *Catalog) CopiesOfDeleted(ctx context.Context, targetID string) ([]DeletedCopy, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT c.file_id, c.target_id, c.path, c.sha256, c.state, c.verified_at,
		c.written_at, c.problem, f.path, f.size
		FROM copies c JOIN files f ON f.id = c.file_id WHERE c.target_id = ? AND f.deleted_at != '' ORDER BY f.path`, targetID)
	if err != nil {
		return nil, fmt.Errorf("catalog: list copies of deleted files: %w", err)
	}
	defer rows.Close()
	var out []DeletedCopy
	for rows.Next() {
		var d DeletedCopy
		var sum, verified, written string
		if err := rows.Scan(&d.FileID, &d.TargetID, &d.Path, &sum, &d.State, &verified, &written, &d.Problem,
			&d.FilePath, &d.Size); err != nil {
			return nil, fmt.Errorf("catalog: list copies of deleted files: %w", err)
		}
		d.Sum, _ = digest.Parse(sum)
		d.VerifiedAt, d.WrittenAt = parseTime(verified), parseTime(written)
		out = append(out, d)
	}
	return out, rows.Err()
}

// AddLibraryFiles records files found in the library (not ingested) in one
// transaction, each with a library copy verified at the given time (its
// content was just hashed from the library). Files must carry LibSize and
// LibMtimeNs. A path already in the catalog is an error. It returns the new
// IDs in the order of files.
func (c *Catalog) AddLibraryFiles(ctx context.Context, files []File, libraryID string, verifiedAt time.Time) ([]int64, error) {
	ids := make([]int64, 0, len(files))
	err := c.tx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO files(path, path_fold, project, sha256, size, kind, captured_at,
			date_source, camera, original_name, source, added_at, run_id, lib_size, lib_mtime_ns)
			VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			return fmt.Errorf("catalog: add library files: %w", err)
		}
		defer ins.Close()
		for _, f := range files {
			res, err := ins.ExecContext(ctx, f.Path, FoldPath(f.Path), f.Project, f.Sum.String(), f.Size, f.Kind,
				f.CapturedAt, f.DateSource, f.Camera, f.OriginalName, f.Source, fmtTime(f.AddedAt), nullID(f.RunID),
				f.LibSize, f.LibMtimeNs)
			if err != nil {
				return fmt.Errorf("catalog: record %s: %w", f.Path, err)
			}
			id, err := res.LastInsertId()
			if err != nil {
				return fmt.Errorf("catalog: record %s: %w", f.Path, err)
			}
			ids = append(ids, id)
			if err := upsertCopy(tx, id, Copy{TargetID: libraryID, Path: f.Path, Sum: f.Sum, State: CopyOK,
				VerifiedAt: verifiedAt, WrittenAt: verifiedAt}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// LibraryStat is a library file's size and mtime when its content was hashed.
type LibraryStat struct {
	FileID, Size, MtimeNs int64
}

// SetLibraryStats records many stat hints in one transaction.
func (c *Catalog) SetLibraryStats(ctx context.Context, stats []LibraryStat) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		for _, s := range stats {
			if _, err := tx.ExecContext(ctx, `UPDATE files SET lib_size = ?, lib_mtime_ns = ? WHERE id = ?`,
				s.Size, s.MtimeNs, s.FileID); err != nil {
				return fmt.Errorf("catalog: record library stat: %w", err)
			}
		}
		return nil
	})
}

// PutCopies records many copies (insert or replace) in one transaction.
func (c *Catalog) PutCopies(ctx context.Context, copies []Copy) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		for _, cp := range copies {
			if err := upsertCopy(tx, cp.FileID, cp); err != nil {
				return err
			}
		}
		return nil
	})
}

// Restore records that a file removed from the library is back, holding
// its recorded content, with the library's copy verified at verifiedAt.
func (c *Catalog) Restore(ctx context.Context, fileID int64, libraryID, path string, size, mtimeNs int64, verifiedAt time.Time) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		var sum string
		if err := tx.QueryRowContext(ctx, `SELECT sha256 FROM files WHERE id = ?`, fileID).Scan(&sum); err != nil {
			return fmt.Errorf("catalog: restore file %d: %w", fileID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE files SET deleted_at = '', lib_size = ?, lib_mtime_ns = ? WHERE id = ?`,
			size, mtimeNs, fileID); err != nil {
			return fmt.Errorf("catalog: restore file %d: %w", fileID, err)
		}
		s, err := digest.Parse(sum)
		if err != nil {
			return fmt.Errorf("catalog: restore file %d: %w", fileID, err)
		}
		return upsertCopy(tx, fileID, Copy{TargetID: libraryID, Path: path, Sum: s, State: CopyOK,
			VerifiedAt: verifiedAt, WrittenAt: verifiedAt})
	})
}

// MarkDeletedFromLibrary records that files were removed from the library
// on purpose, in one transaction, and forgets the library's own copies of
// them. Their copies on other targets are untouched (backup moves them into
// each target's versions area).
func (c *Catalog) MarkDeletedFromLibrary(ctx context.Context, fileIDs []int64, libraryID string, at time.Time) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range fileIDs {
			if _, err := tx.ExecContext(ctx, `UPDATE files SET deleted_at = ? WHERE id = ?`, fmtTime(at), id); err != nil {
				return fmt.Errorf("catalog: mark file %d deleted: %w", id, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM copies WHERE file_id = ? AND target_id = ?`, id, libraryID); err != nil {
				return fmt.Errorf("catalog: mark file %d deleted: %w", id, err)
			}
		}
		return nil
	})
}

// KeepVersion records, in one transaction, that a copy was moved into its
// target's versions area: the version is added and the copy forgotten (it
// no longer sits at its path).
func (c *Catalog) KeepVersion(ctx context.Context, v Version) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO versions(file_id, target_id, path, sha256, size, reason, created_at)
			VALUES(?,?,?,?,?,?,?)`, v.FileID, v.TargetID, v.Path, v.Sum.String(), v.Size, v.Reason, fmtTime(v.CreatedAt)); err != nil {
			return fmt.Errorf("catalog: record version: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM copies WHERE file_id = ? AND target_id = ?`, v.FileID, v.TargetID); err != nil {
			return fmt.Errorf("catalog: forget moved copy: %w", err)
		}
		return nil
	})
}
