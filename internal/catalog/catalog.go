// Package catalog is Trove's memory: an embedded SQLite database (pure Go,
// modernc.org/sqlite) of targets, files, copies, source fingerprints and runs.
//
// The schema lives in numbered SQL files under sql/, embedded in the binary
// and applied in order inside one transaction each; Open refuses a catalog
// written by a newer Trove. Every write is durable (synchronous=FULL) before
// the call returns, so a fact in the catalog survives a crash; callers record
// a copy only after its read-back matched.
//
// The catalog fails closed: any write error is returned, and job packages
// stop rather than claim safety they could not record.
package catalog

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed sql/*.sql
var migrations embed.FS

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found in catalog")

// Catalog is an open catalog database. It is safe for concurrent use; writes
// are serialised by SQLite.
type Catalog struct {
	db   *sql.DB
	path string
}

// Open opens (creating if needed) the catalog at path and brings its schema
// up to date.
func Open(path string) (*Catalog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one connection: no SQLITE_BUSY between our own goroutines
	c := &Catalog{db: db, path: path}
	if err := c.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	return c, nil
}

// Path returns the database file's path.
func (c *Catalog) Path() string { return c.path }

// Close closes the database.
func (c *Catalog) Close() error { return c.db.Close() }

// SchemaVersion returns the number of the last applied migration.
func (c *Catalog) SchemaVersion() (int, error) {
	v, err := c.Meta("schema_version")
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(v)
}

func (c *Catalog) migrate() error {
	if _, err := c.db.Exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create meta table (is the catalog writable?): %w", err)
	}
	have, err := c.SchemaVersion()
	if err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "sql/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	if have > len(names) {
		return fmt.Errorf("catalog schema version %d is newer than this trove knows (%d): upgrade trove", have, len(names))
	}
	for i, name := range names {
		n := i + 1
		if !strings.HasPrefix(filepath.Base(name), fmt.Sprintf("%04d_", n)) {
			return fmt.Errorf("migration %s is out of sequence", name)
		}
		if n <= have {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		// 0001 creates meta itself; drop our bootstrap copy first.
		err = c.tx(context.Background(), func(tx *sql.Tx) error {
			if n == 1 {
				if _, err := tx.Exec(`DROP TABLE meta`); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(string(body)); err != nil {
				return fmt.Errorf("apply %s: %w", name, err)
			}
			_, err := tx.Exec(`INSERT INTO meta(key, value) VALUES('schema_version', ?)
				ON CONFLICT(key) DO UPDATE SET value = excluded.value`, strconv.Itoa(n))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Catalog) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("catalog: commit: %w", err)
	}
	return nil
}

// Meta returns a value from the meta table.
func (c *Catalog) Meta(key string) (string, error) {
	var v string
	err := c.db.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("catalog: read %s: %w", key, err)
	}
	return v, nil
}

// SetMeta stores a value in the meta table.
func (c *Catalog) SetMeta(key, value string) error {
	_, err := c.db.Exec(`INSERT INTO meta(key, value) VALUES(?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("catalog: write %s: %w", key, err)
	}
	return nil
}

// Time format used in the database: always UTC with nine fractional digits,
// so that text order is time order (ORDER BY and comparisons in SQL).
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
