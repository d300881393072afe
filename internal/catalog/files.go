package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/digest"
	"golang.org/x/text/cases"
)

// Copy states.
const (
	CopyOK      = "ok"      // read back from the device and matched
	CopyMissing = "missing" // not found at its path when last checked
	CopyCorrupt = "corrupt" // found, but its content no longer matches
)

// File is one file of the library tree. Path is its handle (library-relative,
// slash-separated, NFC); Sum is its content identity.
type File struct {
	ID           int64
	Path         string
	Project      string
	Sum          digest.Sum
	Size         int64
	Kind         string
	CapturedAt   string // camera wall clock, RFC 3339 with offset when known
	DateSource   string
	Camera       string
	OriginalName string
	Source       string // where ingest read it from
	AddedAt      time.Time
	RunID        int64
	LibSize      int64     // library file's size when last hashed (-1 unknown): an "unchanged?" hint
	LibMtimeNs   int64     // library file's mtime (ns) when last hashed: an "unchanged?" hint
	DeletedAt    time.Time // removed from the library on purpose (zero: present)
}

// Copy is one file's content on one target.
type Copy struct {
	FileID     int64
	TargetID   string
	Path       string     // as stored on the target (may differ from File.Path by name mapping)
	Sum        digest.Sum // content this copy holds; it counts only while equal to the file's Sum
	State      string
	VerifiedAt time.Time
	WrittenAt  time.Time
	Problem    string // what verify last found wrong, if anything
}

// Counts reports whether a copy is a verified copy of f's current content.
func (cp Copy) Counts(f File) bool {
	return cp.State == CopyOK && !cp.VerifiedAt.IsZero() && cp.Sum == f.Sum
}

var folder = cases.Fold()

// FoldPath is the case- and width-insensitive key used to keep library paths
// distinct on case-insensitive targets.
func FoldPath(p string) string { return folder.String(p) }

// PathTaken reports whether a library path, compared case-insensitively, is
// already used by a file.
func (c *Catalog) PathTaken(path string) (bool, error) {
	var n int
	err := c.db.QueryRow(`SELECT count(*) FROM files WHERE path_fold = ?`, FoldPath(path)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("catalog: look up %s: %w", path, err)
	}
	return n > 0, nil
}

const fileCols = `id, path, project, sha256, size, kind, captured_at, date_source, camera, original_name, source, added_at,
	coalesce(run_id, 0), lib_size, lib_mtime_ns, deleted_at`

func scanFile(s interface{ Scan(...any) error }) (File, error) {
	var f File
	var sum, added, deleted string
	err := s.Scan(&f.ID, &f.Path, &f.Project, &sum, &f.Size, &f.Kind, &f.CapturedAt, &f.DateSource,
		&f.Camera, &f.OriginalName, &f.Source, &added, &f.RunID, &f.LibSize, &f.LibMtimeNs, &deleted)
	if err != nil {
		return f, err
	}
	f.AddedAt, f.DeletedAt = parseTime(added), parseTime(deleted)
	f.Sum, err = digest.Parse(sum)
	return f, err
}

func (c *Catalog) queryFiles(q string, args ...any) ([]File, error) {
	rows, err := c.db.Query(`SELECT `+fileCols+` FROM files `+q, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: query files: %w", err)
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: read file row: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// FileByPath returns the file at a library path, or ErrNotFound.
func (c *Catalog) FileByPath(path string) (File, error) {
	f, err := scanFile(c.db.QueryRow(`SELECT `+fileCols+` FROM files WHERE path = ?`, path))
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	return f, err
}

// FilesBySum returns the files with this content (usually zero or one).
func (c *Catalog) FilesBySum(sum digest.Sum) ([]File, error) {
	return c.queryFiles(`WHERE sha256 = ? ORDER BY id`, sum.String())
}

// FilesByProject returns a project's files in path order.
func (c *Catalog) FilesByProject(project string) ([]File, error) {
	return c.queryFiles(`WHERE project = ? ORDER BY path`, project)
}

// FilesUnder returns the files whose path equals prefix or lies below it.
func (c *Catalog) FilesUnder(prefix string) ([]File, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	like := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "/%"
	return c.queryFiles(`WHERE path = ? OR path LIKE ? ESCAPE '\' ORDER BY path`, prefix, like)
}

// AllFiles returns every file in path order.
func (c *Catalog) AllFiles() ([]File, error) { return c.queryFiles(`ORDER BY path`) }

// Projects returns the distinct project names, sorted.
func (c *Catalog) Projects() ([]string, error) {
	rows, err := c.db.Query(`SELECT DISTINCT project FROM files ORDER BY project`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list projects: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RecordFile inserts f (when f.ID is 0 and no file has its path) or finds the
// existing row with its path and the same content, then upserts the given
// copies, all in one transaction. It returns the file's ID. A path that
// holds different content is an error: callers pick a free path first.
func (c *Catalog) RecordFile(ctx context.Context, f File, copies []Copy) (int64, error) {
	var id int64
	err := c.tx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = recordTx(tx, f, copies)
		return err
	})
	return id, err
}

// LibStat is the library file's size and mtime when its content was hashed.
type LibStat struct{ Size, MtimeNs int64 }

// RecordIngest is RecordFile plus, in the same transaction (one fsync per
// file), the library file's stat hint (when lib is not nil) and the source
// fingerprint's content hint (when fingerprint is not empty).
func (c *Catalog) RecordIngest(ctx context.Context, f File, copies []Copy, lib *LibStat, fingerprint string) (int64, error) {
	var id int64
	err := c.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if id, err = recordTx(tx, f, copies); err != nil {
			return err
		}
		if lib != nil {
			if _, err := tx.Exec(`UPDATE files SET lib_size = ?, lib_mtime_ns = ? WHERE id = ?`, lib.Size, lib.MtimeNs, id); err != nil {
				return fmt.Errorf("catalog: record library stat: %w", err)
			}
		}
		if fingerprint != "" {
			if _, err := tx.Exec(`INSERT INTO sources(fingerprint, sha256) VALUES(?, ?)
				ON CONFLICT(fingerprint) DO UPDATE SET sha256 = excluded.sha256`, fingerprint, f.Sum.String()); err != nil {
				return fmt.Errorf("catalog: write source hint: %w", err)
			}
		}
		return nil
	})
	return id, err
}

func recordTx(tx *sql.Tx, f File, copies []Copy) (int64, error) {
	var id int64
	var sum string
	err := tx.QueryRow(`SELECT id, sha256 FROM files WHERE path = ?`, f.Path).Scan(&id, &sum)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if f.LibSize == 0 && f.LibMtimeNs == 0 && f.Size != 0 {
			f.LibSize = -1
		}
		res, err := tx.Exec(`INSERT INTO files(path, path_fold, project, sha256, size, kind, captured_at,
			date_source, camera, original_name, source, added_at, run_id, lib_size, lib_mtime_ns)
			VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			f.Path, FoldPath(f.Path), f.Project, f.Sum.String(), f.Size, f.Kind, f.CapturedAt, f.DateSource,
			f.Camera, f.OriginalName, f.Source, fmtTime(f.AddedAt), nullID(f.RunID), f.LibSize, f.LibMtimeNs)
		if err != nil {
			return 0, fmt.Errorf("catalog: record %s: %w", f.Path, err)
		}
		id, _ = res.LastInsertId()
	case err != nil:
		return 0, fmt.Errorf("catalog: record %s: %w", f.Path, err)
	case sum != f.Sum.String():
		return 0, fmt.Errorf("catalog: record %s: the path already holds different content (%s)", f.Path, sum[:12])
	}
	for _, cp := range copies {
		if cp.Sum.IsZero() {
			cp.Sum = f.Sum
		}
		if err := upsertCopy(tx, id, cp); err != nil {
			return 0, err
		}
	}
	return id, nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func upsertCopy(tx *sql.Tx, fileID int64, cp Copy) error {
	_, err := tx.Exec(`INSERT INTO copies(file_id, target_id, path, sha256, state, verified_at, written_at, problem)
		VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(file_id, target_id) DO UPDATE SET
		path = excluded.path, sha256 = excluded.sha256, state = excluded.state, verified_at = excluded.verified_at,
		written_at = excluded.written_at, problem = excluded.problem`,
		fileID, cp.TargetID, cp.Path, cp.Sum.String(), cp.State, fmtTime(cp.VerifiedAt), fmtTime(cp.WrittenAt), cp.Problem)
	if err != nil {
		return fmt.Errorf("catalog: record copy of file %d on %s: %w", fileID, cp.TargetID, err)
	}
	return nil
}

// SetCopyState records the outcome of a check of one copy (verify, repair):
// for CopyOK, verifiedAt becomes its last verification and the problem is
// cleared; otherwise the last good verification time is kept and problem
// says what was found.
func (c *Catalog) SetCopyState(fileID int64, targetID, state string, verifiedAt time.Time, problem string) error {
	if state != CopyOK {
		verifiedAt = time.Time{}
	} else {
		problem = ""
	}
	_, err := c.db.Exec(`UPDATE copies SET state = ?, problem = ?, verified_at = CASE WHEN ? = '' THEN verified_at ELSE ? END
		WHERE file_id = ? AND target_id = ?`, state, problem, fmtTime(verifiedAt), fmtTime(verifiedAt), fileID, targetID)
	if err != nil {
		return fmt.Errorf("catalog: set copy state: %w", err)
	}
	return nil
}

// Copies returns every copy of a file.
func (c *Catalog) Copies(fileID int64) ([]Copy, error) {
	rows, err := c.db.Query(`SELECT `+copyCols+` FROM copies WHERE file_id = ? ORDER BY target_id`, fileID)
	if err != nil {
		return nil, fmt.Errorf("catalog: list copies: %w", err)
	}
	return scanCopies(rows)
}

// AllCopies returns every copy, grouped by file ID.
func (c *Catalog) AllCopies() (map[int64][]Copy, error) {
	rows, err := c.db.Query(`SELECT ` + copyCols + ` FROM copies ORDER BY file_id, target_id`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list copies: %w", err)
	}
	list, err := scanCopies(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]Copy)
	for _, cp := range list {
		out[cp.FileID] = append(out[cp.FileID], cp)
	}
	return out, nil
}

const copyCols = `file_id, target_id, path, sha256, state, verified_at, written_at, problem`

func scanCopies(rows *sql.Rows) ([]Copy, error) {
	defer rows.Close()
	var out []Copy
	for rows.Next() {
		var cp Copy
		var sum, verified, written string
		if err := rows.Scan(&cp.FileID, &cp.TargetID, &cp.Path, &sum, &cp.State, &verified, &written, &cp.Problem); err != nil {
			return nil, fmt.Errorf("catalog: read copy row: %w", err)
		}
		cp.Sum, _ = digest.Parse(sum)
		cp.VerifiedAt, cp.WrittenAt = parseTime(verified), parseTime(written)
		out = append(out, cp)
	}
	return out, rows.Err()
}

// SourceHint returns the content a source fingerprint had when last ingested.
func (c *Catalog) SourceHint(fingerprint string) (digest.Sum, bool, error) {
	var s string
	err := c.db.QueryRow(`SELECT sha256 FROM sources WHERE fingerprint = ?`, fingerprint).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return digest.Sum{}, false, nil
	}
	if err != nil {
		return digest.Sum{}, false, fmt.Errorf("catalog: read source hint: %w", err)
	}
	sum, err := digest.Parse(s)
	return sum, err == nil, err
}

// SetSourceHint remembers which content a source fingerprint had.
func (c *Catalog) SetSourceHint(fingerprint string, sum digest.Sum) error {
	_, err := c.db.Exec(`INSERT INTO sources(fingerprint, sha256) VALUES(?, ?)
		ON CONFLICT(fingerprint) DO UPDATE SET sha256 = excluded.sha256`, fingerprint, sum.String())
	if err != nil {
		return fmt.Errorf("catalog: write source hint: %w", err)
	}
	return nil
}

// FileCount returns how many files the catalog knows (deleted ones included).
func (c *Catalog) FileCount() (int, error) {
	var n int
	if err := c.db.QueryRow(`SELECT count(*) FROM files`).Scan(&n); err != nil {
		return 0, fmt.Errorf("catalog: count files: %w", err)
	}
	return n, nil
}
