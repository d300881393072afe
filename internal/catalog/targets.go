package catalog

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Target kinds.
const (
	KindLibrary   = "library"    // the photographer's working library
	KindFolder    = "folder"     // an external drive folder or a mounted NAS share
	KindSFTP      = "sftp"       // a NAS or server over SFTP (plain layout)
	KindS3        = "s3"         // an encrypted vault in an S3-compatible bucket
	KindSFTPVault = "sftp-vault" // an encrypted vault on a server over SFTP
	KindRclone    = "rclone"     // an encrypted vault on an rclone remote
)

// LibraryName is the target name of the library itself.
const LibraryName = "library"

// Target is a place that holds copies. The catalog keeps knowing a target
// (and its copies) while it is not attached.
type Target struct {
	ID           string
	Name         string
	Kind         string
	Path         string // where it was last seen
	Medium       string
	Location     string
	Ingest       bool   // ingest writes to it by default
	Device       string // filesystem identity when last attached
	FSType       string
	Caps         string // JSON of the probed filesystem abilities
	CreatedAt    time.Time
	LastSeenAt   time.Time
	LastWriteAt  time.Time
	LastVerifyAt time.Time
	ManifestSum  string // sha256 of the manifest Trove last wrote there (detects hand edits)
	URL          string // s3://…, sftp://…, rclone:…; empty for folder targets (see Path)
	Options      string // JSON connection options (never secrets)
	MovedAt      time.Time
}

// AddTarget inserts a new target; the name must be unused.
func (c *Catalog) AddTarget(t Target) error {
	_, err := c.db.Exec(`INSERT INTO targets(id, name, kind, path, medium, location, ingest, device,
		fs_type, caps, created_at, last_seen_at, last_write_at, last_verify_at, url, options, moved_at)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		t.ID, t.Name, t.Kind, t.Path, t.Medium, t.Location, t.Ingest, t.Device, t.FSType, t.Caps,
		fmtTime(t.CreatedAt), fmtTime(t.LastSeenAt), fmtTime(t.LastWriteAt), fmtTime(t.LastVerifyAt),
		t.URL, t.Options, fmtTime(t.MovedAt))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("catalog: a target named %q already exists", t.Name)
		}
		return fmt.Errorf("catalog: add target %s: %w", t.Name, err)
	}
	return nil
}

// UpdateTarget rewrites every field of the target with t.ID.
func (c *Catalog) UpdateTarget(t Target) error {
	res, err := c.db.Exec(`UPDATE targets SET name=?, kind=?, path=?, medium=?, location=?, ingest=?, device=?,
		fs_type=?, caps=?, last_seen_at=?, last_write_at=?, last_verify_at=?, manifest_sha256=?, url=?, options=?,
		moved_at=? WHERE id=?`,
		t.Name, t.Kind, t.Path, t.Medium, t.Location, t.Ingest, t.Device, t.FSType, t.Caps,
		fmtTime(t.LastSeenAt), fmtTime(t.LastWriteAt), fmtTime(t.LastVerifyAt), t.ManifestSum, t.URL, t.Options,
		fmtTime(t.MovedAt), t.ID)
	if err != nil {
		return fmt.Errorf("catalog: update target %s: %w", t.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("catalog: update target %s: %w", t.Name, ErrNotFound)
	}
	return nil
}

const targetCols = `id, name, kind, path, medium, location, ingest, device, fs_type, caps,
	created_at, last_seen_at, last_write_at, last_verify_at, manifest_sha256, url, options, moved_at`

func scanTarget(s interface{ Scan(...any) error }) (Target, error) {
	var t Target
	var created, seen, wrote, verified, moved string
	err := s.Scan(&t.ID, &t.Name, &t.Kind, &t.Path, &t.Medium, &t.Location, &t.Ingest, &t.Device,
		&t.FSType, &t.Caps, &created, &seen, &wrote, &verified, &t.ManifestSum, &t.URL, &t.Options, &moved)
	t.MovedAt = parseTime(moved)
	t.CreatedAt, t.LastSeenAt = parseTime(created), parseTime(seen)
	t.LastWriteAt, t.LastVerifyAt = parseTime(wrote), parseTime(verified)
	return t, err
}

// Targets returns every target, the library first, then by name.
func (c *Catalog) Targets() ([]Target, error) {
	rows, err := c.db.Query(`SELECT ` + targetCols + ` FROM targets ORDER BY kind != 'library', name`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list targets: %w", err)
	}
	defer rows.Close()
	var out []Target
	for rows.Next() {
		t, err := scanTarget(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: list targets: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TargetByName returns the named target or ErrNotFound.
func (c *Catalog) TargetByName(name string) (Target, error) {
	t, err := scanTarget(c.db.QueryRow(`SELECT `+targetCols+` FROM targets WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("target %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("catalog: read target %s: %w", name, err)
	}
	return t, nil
}

// Library returns the library's target row.
func (c *Catalog) Library() (Target, error) { return c.TargetByName(LibraryName) }
