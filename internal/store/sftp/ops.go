package sftp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	pkgsftp "github.com/pkg/sftp"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
)

// readIdentity reads .trove/target.json; missing folder or file →
// ErrNotAttached.
func (s *Store) readIdentity() (Identity, error) {
	where := s.cfg.URL()
	fi, err := s.c.Stat(s.abs("."))
	if errors.Is(err, os.ErrNotExist) {
		return Identity{}, fmt.Errorf("%s: the folder does not exist on the server (NAS volume not mounted? wrong path?): %w", where, store.ErrNotAttached)
	}
	if err != nil {
		return Identity{}, s.classify("read identity", err)
	}
	if !fi.IsDir() {
		return Identity{}, fmt.Errorf("%s: not a folder on the server", where)
	}
	f, err := s.c.Open(s.abs(identityFile))
	if errors.Is(err, os.ErrNotExist) {
		return Identity{}, fmt.Errorf("%s has no %s (not a Trove target yet, or the NAS volume is not mounted): %w", where, identityFile, store.ErrNotAttached)
	}
	if err != nil {
		return Identity{}, s.classify("read identity", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return Identity{}, s.classify("read identity", err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return Identity{}, fmt.Errorf("read identity of %s: %s is damaged: %w", where, identityFile, err)
	}
	if id.Format < 1 || id.Format > local.IdentityFormat {
		return Identity{}, fmt.Errorf("read identity of %s: unsupported format %d (newer Trove?)", where, id.Format)
	}
	if id.TargetID == "" {
		return Identity{}, fmt.Errorf("read identity of %s: no target id in %s", where, identityFile)
	}
	return id, nil
}

// begin checks ctx, the connection and the name.
func (s *Store) begin(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validName(name); err != nil {
		return err
	}
	return s.alive()
}

// statRegular lstat's a stored name and requires a regular file.
func (s *Store) statRegular(name string) (store.Info, error) {
	fi, err := s.c.Lstat(s.abs(name))
	if errors.Is(err, os.ErrNotExist) || (err == nil && !fi.Mode().IsRegular()) {
		return store.Info{}, fmt.Errorf("%s on %s: %w", name, s.label(), store.ErrNotExist)
	}
	if err != nil {
		return store.Info{}, s.classify("stat "+name, err)
	}
	return store.Info{Name: name, Stored: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Open reads an object over the connection. SFTP cannot bypass the
// server's page cache (see the package doc).
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := s.begin(ctx, name); err != nil {
		return nil, err
	}
	return s.openFile(name)
}

func (s *Store) openFile(name string) (io.ReadCloser, error) {
	if _, err := s.statRegular(name); err != nil {
		return nil, err
	}
	f, err := s.c.Open(s.abs(name))
	if err != nil {
		return nil, s.classify("open "+name, err)
	}
	return &reader{s: s, f: f, name: name}, nil
}

// reader classifies read errors (a lost connection → ErrNotAttached).
type reader struct {
	s    *Store
	f    *pkgsftp.File
	name string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.classify("read "+r.name, err)
	}
	return n, err
}

// WriteTo lets io.Copy use pkg/sftp's concurrent reads.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	n, err := r.f.WriteTo(w)
	if err != nil {
		err = r.s.classify("read "+r.name, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.f.Close() }

// Stat describes one object, or returns ErrNotExist.
func (s *Store) Stat(ctx context.Context, name string) (store.Info, error) {
	if err := s.begin(ctx, name); err != nil {
		return store.Info{}, err
	}
	return s.statRegular(name)
}

// Walk calls fn for every object whose name starts with prefix (a plain
// string prefix, "" for all), in byte order. It skips .trove, temporaries,
// symlinks and other non-regular files.
func (s *Store) Walk(ctx context.Context, prefix string, fn func(store.Info) error) error {
	if strings.HasPrefix(prefix, "/") || strings.ContainsRune(prefix, 0) {
		return fmt.Errorf("walk prefix %q: %w", prefix, store.ErrBadName)
	}
	if err := s.alive(); err != nil {
		return err
	}
	start := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i]
		if !validStoredPath(start) {
			return fmt.Errorf("walk prefix %q: %w", prefix, store.ErrBadName)
		}
	}
	return s.walkDir(ctx, start, prefix, fn)
}

func (s *Store) walkDir(ctx context.Context, dir, prefix string, fn func(store.Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := s.c.ReadDir(s.abs(dir))
	if errors.Is(err, os.ErrNotExist) && dir != "" {
		return nil
	}
	if err != nil {
		return s.classify("walk "+dir, err)
	}
	type entry struct {
		name, key string
		fi        fs.FileInfo
	}
	list := make([]entry, 0, len(ents))
	for _, fi := range ents {
		base := fi.Name()
		if base == "." || base == ".." || (dir == "" && base == metaDir) || isTemp(base) {
			continue
		}
		e := entry{name: base, key: base, fi: fi}
		if dir != "" {
			e.name = dir + "/" + base
		}
		if fi.IsDir() {
			e.key += "/"
		}
		list = append(list, e)
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, e := range list {
		if e.fi.IsDir() {
			p := e.name + "/"
			if strings.HasPrefix(p, prefix) || strings.HasPrefix(prefix, p) {
				if err := s.walkDir(ctx, e.name, prefix, fn); err != nil {
					return err
				}
			}
			continue
		}
		if !e.fi.Mode().IsRegular() || !strings.HasPrefix(e.name, prefix) {
			continue
		}
		if err := fn(store.Info{Name: e.name, Stored: e.name, Size: e.fi.Size(), ModTime: e.fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Rename moves an object; it fails with ErrExist rather than replace.
func (s *Store) Rename(ctx context.Context, from, to string) error {
	if err := s.begin(ctx, from); err != nil {
		return err
	}
	if err := validName(to); err != nil {
		return err
	}
	if _, err := s.statRegular(from); err != nil {
		return err
	}
	if err := s.mkdirAll(path.Dir(to)); err != nil {
		return s.classify("rename "+from+" to "+to, err)
	}
	if err := s.publish(from, to); err != nil {
		return s.classify("rename "+from+" to "+to, err)
	}
	return nil
}

// Remove deletes one object (never a directory).
func (s *Store) Remove(ctx context.Context, name string) error {
	if err := s.begin(ctx, name); err != nil {
		return err
	}
	if _, err := s.statRegular(name); err != nil {
		return err
	}
	if err := s.c.Remove(s.abs(name)); err != nil {
		return s.classify("remove "+name, err)
	}
	return nil
}

// mkdirAll creates a directory below the root and its parents.
func (s *Store) mkdirAll(dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	if err := s.c.MkdirAll(s.abs(dir)); err != nil {
		// MkdirAll fails if a concurrent writer created a parent first.
		if fi, serr := s.c.Stat(s.abs(dir)); serr == nil && fi.IsDir() {
			return nil
		}
		return fmt.Errorf("create folder %s: %w", dir, err)
	}
	return nil
}

// publish renames the stored name from to to without replacing (plain
// SSH_FXP_RENAME; see the package doc). A taken name yields ErrExist.
func (s *Store) publish(from, to string) error {
	err := s.c.Rename(s.abs(from), s.abs(to))
	if err == nil {
		return nil
	}
	if connLost(err) || s.isGone() {
		return err
	}
	if _, serr := s.c.Lstat(s.abs(to)); serr == nil {
		return fmt.Errorf("%s on %s: %w", to, s.label(), store.ErrExist)
	}
	if _, serr := s.c.Lstat(s.abs(from)); errors.Is(serr, os.ErrNotExist) {
		return fmt.Errorf("%s vanished before it could be renamed (removed by another program?): %w", from, err)
	}
	return err
}
