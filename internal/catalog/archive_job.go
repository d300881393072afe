package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/trove-backup/trove/internal/digest"
)

// Catalog access for the life of a shoot after delivery: archiving a
// project and releasing it from the library (internal/archive), pruning
// old versions (internal/prune), drive rotation and freshness.

// Archive records that a project was archived to a target.
type Archive struct {
	Project    string
	TargetID   string
	ArchivedAt time.Time
}

// RecordArchive records (or refreshes the time of) a project's archive on
// a target. Callers record it only once every file of the project has a
// verified copy there.
func (c *Catalog) RecordArchive(project, targetID string, at time.Time) error {
	_, err := c.db.Exec(`INSERT INTO archives(project, target_id, archived_at) VALUES(?,?,?)
		ON CONFLICT(project, target_id) DO UPDATE SET archived_at = excluded.archived_at`,
		project, targetID, fmtTime(at))
	if err != nil {
		return fmt.Errorf("catalog: record archive of %s: %w", project, err)
	}
	return nil
}

// Archives returns every archive record, by project then time.
func (c *Catalog) Archives() ([]Archive, error) {
	rows, err := c.db.Query(`SELECT project, target_id, archived_at FROM archives ORDER BY project, archived_at, target_id`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list archives: %w", err)
	}
	defer rows.Close()
	var out []Archive
	for rows.Next() {
		var a Archive
		var at string
		if err := rows.Scan(&a.Project, &a.TargetID, &at); err != nil {
			return nil, fmt.Errorf("catalog: list archives: %w", err)
		}
		a.ArchivedAt = parseTime(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ReleaseFromLibrary records, in one transaction, that the library's copies
// of files were deleted after a verified archive: released_at is set and the
// library's copy rows are forgotten. The files stay in the catalog (they are
// not deleted: their copies elsewhere keep counting).
func (c *Catalog) ReleaseFromLibrary(ctx context.Context, fileIDs []int64, libraryID string, at time.Time) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range fileIDs {
			if _, err := tx.ExecContext(ctx, `UPDATE files SET released_at = ? WHERE id = ?`, fmtTime(at), id); err != nil {
				return fmt.Errorf("catalog: release file %d: %w", id, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM copies WHERE file_id = ? AND target_id = ?`, id, libraryID); err != nil {
				return fmt.Errorf("catalog: release file %d: %w", id, err)
			}
		}
		return nil
	})
}

// ClearRelease records that released files are back in the library (a
// restore into the library, picked up by backup): released_at is cleared.
func (c *Catalog) ClearRelease(ctx context.Context, fileIDs []int64) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range fileIDs {
			if _, err := tx.ExecContext(ctx, `UPDATE files SET released_at = '' WHERE id = ?`, id); err != nil {
				return fmt.Errorf("catalog: clear release of file %d: %w", id, err)
			}
		}
		return nil
	})
}

// ReleasedAt returns when each released file of a project was released
// (files never released are absent from the map).
func (c *Catalog) ReleasedAt(project string) (map[int64]time.Time, error) {
	rows, err := c.db.Query(`SELECT id, released_at FROM files WHERE project = ? AND released_at != ''`, project)
	if err != nil {
		return nil, fmt.Errorf("catalog: read releases: %w", err)
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id int64
		var at string
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("catalog: read releases: %w", err)
		}
		out[id] = parseTime(at)
	}
	return out, rows.Err()
}

// ProjectRelease summarises how much of a project was released from the
// library.
type ProjectRelease struct {
	Project string
	Files   int // files of the project still in the catalog (not deleted)
	// Released counts files released from the library that the library does
	// not hold again (no library copy row).
	Released   int
	ReleasedAt time.Time // the latest release
}

// ProjectReleases returns, for every project with at least one released
// file, how many of its files the library no longer holds.
func (c *Catalog) ProjectReleases(libraryID string) ([]ProjectRelease, error) {
	rows, err := c.db.Query(`SELECT f.project, count(*),
		coalesce(sum(CASE WHEN f.released_at != '' AND c.file_id IS NULL THEN 1 ELSE 0 END), 0),
		coalesce(max(f.released_at), '')
		FROM files f LEFT JOIN copies c ON c.file_id = f.id AND c.target_id = ?
		WHERE f.deleted_at = '' GROUP BY f.project HAVING max(f.released_at) != '' ORDER BY f.project`, libraryID)
	if err != nil {
		return nil, fmt.Errorf("catalog: read releases: %w", err)
	}
	defer rows.Close()
	var out []ProjectRelease
	for rows.Next() {
		var p ProjectRelease
		var at string
		if err := rows.Scan(&p.Project, &p.Files, &p.Released, &at); err != nil {
			return nil, fmt.Errorf("catalog: read releases: %w", err)
		}
		p.ReleasedAt = parseTime(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// VersionsOnTarget returns every kept version on a target, oldest first.
func (c *Catalog) VersionsOnTarget(targetID string) ([]Version, error) {
	return c.queryVersions(`WHERE target_id = ? ORDER BY created_at, id`, targetID)
}

// AllVersions returns every kept version on every target, oldest first.
func (c *Catalog) AllVersions() ([]Version, error) {
	return c.queryVersions(`ORDER BY created_at, id`)
}

func (c *Catalog) queryVersions(where string, args ...any) ([]Version, error) {
	rows, err := c.db.Query(`SELECT id, file_id, target_id, path, sha256, size, reason, created_at FROM versions `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list versions: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var v Version
		var sum, created string
		if err := rows.Scan(&v.ID, &v.FileID, &v.TargetID, &v.Path, &sum, &v.Size, &v.Reason, &created); err != nil {
			return nil, fmt.Errorf("catalog: list versions: %w", err)
		}
		v.Sum, _ = digest.Parse(sum)
		v.CreatedAt = parseTime(created)
		out = append(out, v)
	}
	return out, rows.Err()
}

// RemoveVersion forgets a kept version (after retention deleted its file).
func (c *Catalog) RemoveVersion(id int64) error {
	if _, err := c.db.Exec(`DELETE FROM versions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("catalog: forget version %d: %w", id, err)
	}
	return nil
}

// VerifiedSums returns, for every content held by a verified copy (state
// ok, verified at least once), how many such copies exist, on any target and
// for any file.
func (c *Catalog) VerifiedSums(ctx context.Context) (map[digest.Sum]int, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT sha256, count(*) FROM copies
		WHERE state = 'ok' AND verified_at != '' GROUP BY sha256`)
	if err != nil {
		return nil, fmt.Errorf("catalog: count verified copies: %w", err)
	}
	defer rows.Close()
	out := map[digest.Sum]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("catalog: count verified copies: %w", err)
		}
		if sum, err := digest.Parse(s); err == nil {
			out[sum] += n
		}
	}
	return out, rows.Err()
}

// CurrentSums returns the contents of every file still in the library's
// tree (not deleted; released files included): the contents that must never
// lose their last copy.
func (c *Catalog) CurrentSums(ctx context.Context) (map[digest.Sum]bool, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT DISTINCT sha256 FROM files WHERE deleted_at = ''`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list current contents: %w", err)
	}
	defer rows.Close()
	out := map[digest.Sum]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("catalog: list current contents: %w", err)
		}
		if sum, err := digest.Parse(s); err == nil {
			out[sum] = true
		}
	}
	return out, rows.Err()
}

// MoveTarget records that a target was carried to another location, touching
// only the location and moved_at columns.
func (c *Catalog) MoveTarget(targetID, location string, at time.Time) error {
	res, err := c.db.Exec(`UPDATE targets SET location = ?, moved_at = ? WHERE id = ?`, location, fmtTime(at), targetID)
	if err != nil {
		return fmt.Errorf("catalog: move target %s: %w", targetID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("catalog: move target %s: %w", targetID, ErrNotFound)
	}
	return nil
}
