package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/trove-backup/trove/internal/digest"
)

// SetLibraryStat records the library file's size and mtime at the moment its
// content was hashed, so the next backup can skip it without reading it.
func (c *Catalog) SetLibraryStat(fileID, size, mtimeNs int64) error {
	_, err := c.db.Exec(`UPDATE files SET lib_size = ?, lib_mtime_ns = ? WHERE id = ?`, size, mtimeNs, fileID)
	if err != nil {
		return fmt.Errorf("catalog: record library stat: %w", err)
	}
	return nil
}

// UpdateContent records that the library file fileID now holds new content
// (edited in place), with the library's copy of it verified at verifiedAt.
// Copies on other targets keep their old sha256, so they stop counting until
// backup replaces them (keeping the old version).
func (c *Catalog) UpdateContent(ctx context.Context, fileID int64, sum digest.Sum, size, mtimeNs int64,
	libraryID string, verifiedAt time.Time) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE files SET sha256 = ?, size = ?, lib_size = ?, lib_mtime_ns = ?, deleted_at = ''
			WHERE id = ?`, sum.String(), size, size, mtimeNs, fileID); err != nil {
			return fmt.Errorf("catalog: update content of file %d: %w", fileID, err)
		}
		var path string
		if err := tx.QueryRow(`SELECT path FROM files WHERE id = ?`, fileID).Scan(&path); err != nil {
			return fmt.Errorf("catalog: update content of file %d: %w", fileID, err)
		}
		return upsertCopy(tx, fileID, Copy{TargetID: libraryID, Path: path, Sum: sum, State: CopyOK,
			VerifiedAt: verifiedAt, WrittenAt: verifiedAt})
	})
}

// MarkDeleted records that a file was removed from the library (zero at:
// it is back). Its copies elsewhere are untouched.
func (c *Catalog) MarkDeleted(fileID int64, at time.Time) error {
	_, err := c.db.Exec(`UPDATE files SET deleted_at = ? WHERE id = ?`, fmtTime(at), fileID)
	if err != nil {
		return fmt.Errorf("catalog: mark file %d deleted: %w", fileID, err)
	}
	return nil
}

// RemoveCopy forgets one copy (after it was moved into the target's versions,
// or found gone for good by repair). Callers never remove the last good copy.
func (c *Catalog) RemoveCopy(fileID int64, targetID string) error {
	_, err := c.db.Exec(`DELETE FROM copies WHERE file_id = ? AND target_id = ?`, fileID, targetID)
	if err != nil {
		return fmt.Errorf("catalog: remove copy: %w", err)
	}
	return nil
}

// PutCopy records one copy (insert or replace).
func (c *Catalog) PutCopy(ctx context.Context, cp Copy) error {
	return c.tx(ctx, func(tx *sql.Tx) error { return upsertCopy(tx, cp.FileID, cp) })
}

// Version is an old content kept on a target: a replaced or deleted library
// file, or a corrupt copy set aside by repair. It never counts as a copy.
type Version struct {
	ID        int64
	FileID    int64
	TargetID  string
	Path      string // where it is on the target (inside .trove/versions)
	Sum       digest.Sum
	Size      int64
	Reason    string // "replaced", "deleted", "corrupt"
	CreatedAt time.Time
}

// AddVersion records a kept version.
func (c *Catalog) AddVersion(v Version) error {
	_, err := c.db.Exec(`INSERT INTO versions(file_id, target_id, path, sha256, size, reason, created_at)
		VALUES(?,?,?,?,?,?,?)`, v.FileID, v.TargetID, v.Path, v.Sum.String(), v.Size, v.Reason, fmtTime(v.CreatedAt))
	if err != nil {
		return fmt.Errorf("catalog: record version: %w", err)
	}
	return nil
}

// Versions returns the kept versions of a file, oldest first.
func (c *Catalog) Versions(fileID int64) ([]Version, error) {
	return c.queryVersions(`WHERE file_id = ? ORDER BY created_at, id`, fileID)
}

// TargetCopy is a copy together with its file.
type TargetCopy struct {
	Copy
	File File
}

// CopiesOnTarget returns every copy the catalog places on a target, with
// their files, ordered least recently verified first (so a sampled verify
// that takes the head of the list rotates through all copies).
func (c *Catalog) CopiesOnTarget(targetID string) ([]TargetCopy, error) {
	rows, err := c.db.Query(`SELECT c.file_id, c.target_id, c.path, c.sha256, c.state, c.verified_at, c.written_at, c.problem,
		f.id, f.path, f.project, f.sha256, f.size, f.kind, f.captured_at, f.date_source, f.camera, f.original_name,
		f.source, f.added_at, coalesce(f.run_id, 0), f.lib_size, f.lib_mtime_ns, f.deleted_at
		FROM copies c JOIN files f ON f.id = c.file_id WHERE c.target_id = ?
		ORDER BY c.verified_at, f.path`, targetID)
	if err != nil {
		return nil, fmt.Errorf("catalog: list copies on target: %w", err)
	}
	defer rows.Close()
	var out []TargetCopy
	for rows.Next() {
		var tc TargetCopy
		var csum, verified, written, fsum, added, deleted string
		err := rows.Scan(&tc.FileID, &tc.TargetID, &tc.Path, &csum, &tc.State, &verified, &written, &tc.Problem,
			&tc.File.ID, &tc.File.Path, &tc.File.Project, &fsum, &tc.File.Size, &tc.File.Kind, &tc.File.CapturedAt,
			&tc.File.DateSource, &tc.File.Camera, &tc.File.OriginalName, &tc.File.Source, &added, &tc.File.RunID,
			&tc.File.LibSize, &tc.File.LibMtimeNs, &deleted)
		if err != nil {
			return nil, fmt.Errorf("catalog: read copy row: %w", err)
		}
		tc.Sum, _ = digest.Parse(csum)
		tc.File.Sum, _ = digest.Parse(fsum)
		tc.VerifiedAt, tc.WrittenAt = parseTime(verified), parseTime(written)
		tc.File.AddedAt, tc.File.DeletedAt = parseTime(added), parseTime(deleted)
		out = append(out, tc)
	}
	return out, rows.Err()
}

// Coverage reports how many of a target's copies were verified since a time,
// and how many copies it holds.
func (c *Catalog) Coverage(targetID string, since time.Time) (verified, total int, err error) {
	err = c.db.QueryRow(`SELECT count(*), coalesce(sum(CASE WHEN state = 'ok' AND verified_at >= ? THEN 1 ELSE 0 END), 0)
		FROM copies WHERE target_id = ?`, fmtTime(since), targetID).Scan(&total, &verified)
	if err != nil {
		return 0, 0, fmt.Errorf("catalog: coverage: %w", err)
	}
	return verified, total, nil
}

// StaleCopies counts the copies on a target that are good as far as Trove
// knows (state ok) but were last verified before since (or never): the
// ones a verify is due for. Missing and corrupt copies are not counted:
// they are problems of their own, not overdue checks.
func (c *Catalog) StaleCopies(targetID string, since time.Time) (int, error) {
	var n int
	err := c.db.QueryRow(`SELECT count(*) FROM copies WHERE target_id = ? AND state = 'ok' AND verified_at < ?`,
		targetID, fmtTime(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("catalog: stale copies: %w", err)
	}
	return n, nil
}

// Snapshot writes a consistent copy of the whole catalog to path (which must
// not exist), for keeping on targets so a drive alone can rebuild everything.
func (c *Catalog) Snapshot(path string) error {
	if _, err := c.db.Exec(`VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("catalog: snapshot to %s: %w", path, err)
	}
	return nil
}
