package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/store"
)

// Preserve moves an object into .trove/versions/<UTC time>/<name>, never
// replacing anything, and returns that path (relative to the root).
func (s *Store) Preserve(ctx context.Context, name string, at time.Time) (string, error) {
	if err := s.begin(ctx, name); err != nil {
		return "", err
	}
	if _, err := s.statRegular(name); err != nil {
		return "", err
	}
	stamp := at.UTC().Format("2006-01-02T15-04-05Z")
	for n := 1; n < 1000; n++ {
		dir := versionsDir + "/" + stamp
		if n > 1 {
			dir = fmt.Sprintf("%s-%d", dir, n)
		}
		dst := dir + "/" + name
		if err := s.mkdirAll(path.Dir(dst)); err != nil {
			return "", s.classify("keep old version of "+name, err)
		}
		err := s.publish(name, dst)
		if errors.Is(err, store.ErrExist) {
			continue
		}
		if err != nil {
			return "", s.classify("keep old version of "+name, err)
		}
		return dst, nil
	}
	return "", fmt.Errorf("keep old version of %s: too many versions at %s", name, stamp)
}

// OpenVersion reads a kept version over the connection.
func (s *Store) OpenVersion(ctx context.Context, versionPath string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(versionPath, versionsDir+"/") || !validStoredPath(versionPath) {
		return nil, fmt.Errorf("version path %q: %w", versionPath, store.ErrBadName)
	}
	if err := s.alive(); err != nil {
		return nil, err
	}
	return s.openFile(versionPath)
}

// metaName checks that name is one of Trove's own files.
func metaName(name string) error {
	if name == "README.txt" || name == "INDEX.html" {
		return nil
	}
	if strings.HasPrefix(name, metaDir+"/") && validStoredPath(name) && !strings.HasPrefix(name, versionsDir+"/") &&
		name != identityFile && !strings.Contains(name, tmpMarker) {
		return nil
	}
	return fmt.Errorf("meta file %q: %w", name, store.ErrBadName)
}

// WriteMeta writes one of Trove's own files from r, replacing the old one
// only once the new one is complete (fsync@openssh.com, then
// posix-rename@openssh.com; see Caps.PosixRename for servers without it).
func (s *Store) WriteMeta(ctx context.Context, name string, r io.Reader) error {
	if err := metaName(name); err != nil {
		return err
	}
	if err := s.alive(); err != nil {
		return err
	}
	return s.writeDurable(ctx, name, r, true)
}

// ReadMeta opens one of Trove's own files.
func (s *Store) ReadMeta(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := metaName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.alive(); err != nil {
		return nil, err
	}
	return s.openFile(name)
}

// writeDurable writes name through a temporary; replace selects
// posix-rename (replacing) over the no-replace publish.
func (s *Store) writeDurable(ctx context.Context, name string, r io.Reader, replace bool) error {
	if err := s.mkdirAll(path.Dir(name)); err != nil {
		return s.classify("write "+name, err)
	}
	tmp := path.Join(path.Dir(name), tmpBase(path.Base(name)))
	f, err := s.c.OpenFile(s.abs(tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return s.classify("write "+name, err)
	}
	_, err = io.Copy(f, ctxReader{ctx, r})
	if err == nil && s.caps.Fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		switch {
		case !replace:
			err = s.publish(tmp, name)
		case s.caps.PosixRename:
			err = s.c.PosixRename(s.abs(tmp), s.abs(name))
		default:
			// No atomic replace on this server: remove, then rename.
			// A crash in between leaves only the temporary.
			if rerr := s.c.Remove(s.abs(name)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = rerr
			} else {
				err = s.c.Rename(s.abs(tmp), s.abs(name))
			}
		}
	}
	if err != nil {
		if !s.isGone() {
			s.c.Remove(s.abs(tmp))
		}
		return s.classify("write "+name, err)
	}
	return nil
}
