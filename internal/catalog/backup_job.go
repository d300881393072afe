package catalog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
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

// decodeSum parses a hex SHA-256 without allocating.
func decodeSum(dst *digest.Sum, s string) error {
	if len(s) != 2*digest.Size {
		return fmt.Errorf("damaged sha256 %q", s)
	}
	var bad byte
	for i := range digest.Size {
		hi, lo := unhexTable[s[2*i]], unhexTable[s[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo&0x0f
	}
	if bad&0xf0 != 0 {
		return fmt.Errorf("damaged sha256 %q", s)
	}
	return nil
}

// unhexTable maps a hex digit to its value and anything else to 0xff.
var unhexTable = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	for i, c := range "ABCDEF" {
		t[c] = byte(10 + i)
	}
	return t
}()

// rawRows runs a query on a connection of its own and calls fn with each
// row's values straight from the driver (INTEGER as int64, TEXT as
// string): database/sql's per-row locking and conversions cost about a
// fifth of a scan of 100,000 rows. The slice passed to fn is reused.
func (c *Catalog) rawRows(ctx context.Context, query string, args []driver.NamedValue, fn func([]driver.Value) error) error {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("sqlite driver %T cannot query", dc)
		}
		rows, err := q.QueryContext(ctx, query, args)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, len(rows.Columns()))
		for {
			err := rows.Next(dest)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := fn(dest); err != nil {
				return err
			}
		}
	})
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

// CopiesOfDeleted returns the copies on a target of the given files
// (files removed from the library), in the order of fileIDs. It reads by
// primary key, so it costs what the deleted files cost, not the target.
func (c *Catalog) CopiesOfDeleted(ctx context.Context, targetID string, fileIDs []int64) ([]DeletedCopy, error) {
	var out []DeletedCopy
	const batch = 256
	for start := 0; start < len(fileIDs); start += batch {
		ids := fileIDs[start:min(start+batch, len(fileIDs))]
		args := make([]any, 0, len(ids)+1)
		args = append(args, targetID)
		q := make([]byte, 0, 2*len(ids))
		for i, id := range ids {
			if i > 0 {
				q = append(q, ',')
			}
			q = append(q, '?')
			args = append(args, id)
		}
		rows, err := c.db.QueryContext(ctx, `SELECT c.file_id, c.target_id, c.path, c.sha256, c.state, c.verified_at,
			c.written_at, c.problem, f.path, f.size
			FROM copies c JOIN files f ON f.id = c.file_id
			WHERE c.target_id = ? AND f.deleted_at != '' AND c.file_id IN (`+string(q)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("catalog: list copies of deleted files: %w", err)
		}
		got := make(map[int64]DeletedCopy, len(ids))
		for rows.Next() {
			var d DeletedCopy
			var sum, verified, written string
			if err := rows.Scan(&d.FileID, &d.TargetID, &d.Path, &sum, &d.State, &verified, &written, &d.Problem,
				&d.FilePath, &d.Size); err != nil {
				rows.Close()
				return nil, fmt.Errorf("catalog: list copies of deleted files: %w", err)
			}
			d.Sum, _ = digest.Parse(sum)
			d.VerifiedAt, d.WrittenAt = parseTime(verified), parseTime(written)
			got[d.FileID] = d
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("catalog: list copies of deleted files: %w", err)
		}
		for _, id := range ids {
			if d, ok := got[id]; ok {
				out = append(out, d)
			}
		}
	}
	return out, nil
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
		// The library copy of each new file (none can exist yet), prepared
		// once: preparing it for every file cost about a quarter of the call
		// (more with the triggers of migration 0004, compiled in).
		cp, err := tx.PrepareContext(ctx, `INSERT INTO copies(file_id, target_id, path, sha256, state, verified_at,
			written_at, problem) VALUES(?,?,?,?,?,?,?,'')`)
		if err != nil {
			return fmt.Errorf("catalog: add library files: %w", err)
		}
		defer cp.Close()
		at := fmtTime(verifiedAt)
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
			if _, err := cp.ExecContext(ctx, id, libraryID, f.Path, f.Sum.String(), CopyOK, at, at); err != nil {
				return fmt.Errorf("catalog: record copy of file %d on %s: %w", id, libraryID, err)
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

// FileExtent returns how many files the catalog has (deleted ones included)
// and their largest ID (0 when there are none).
func (c *Catalog) FileExtent(ctx context.Context) (count int, maxID int64, err error) {
	if err := c.db.QueryRowContext(ctx, `SELECT count(*), coalesce(max(id), 0) FROM files`).Scan(&count, &maxID); err != nil {
		return 0, 0, fmt.Errorf("catalog: count files: %w", err)
	}
	return count, maxID, nil
}
