package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/store"
)

var (
	_ store.Preserver = (*Local)(nil)
	_ store.MetaStore = (*Local)(nil)
)

// versionsDir holds replaced, deleted and corrupt versions:
// .trove/versions/<UTC time>/<stored path>.
const versionsDir = metaDir + "/versions"

// Preserve moves an object into the versions area, never replacing
// anything, and returns its new path (relative to the root, stored form).
func (l *Local) Preserve(ctx context.Context, name string, at time.Time) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	stored, err := l.encode(name)
	if err != nil {
		return "", err
	}
	if _, err := l.statStored(name, stored); err != nil {
		return "", err
	}
	if err := l.checkAttached(); err != nil {
		return "", err
	}
	stamp := at.UTC().Format("2006-01-02T15-04-05Z")
	for n := 1; ; n++ {
		dir := versionsDir + "/" + stamp
		if n > 1 {
			dir = fmt.Sprintf("%s-%d", dir, n)
		}
		dst := dir + "/" + stored
		if err := mkdirDurable(l.root, path.Dir(dst)); err != nil {
			return "", l.classify("keep old version of "+name, err)
		}
		err := l.publish(stored, dst)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", l.classify("keep old version of "+name, err)
		}
		if err := errors.Join(syncDir(l.root, path.Dir(dst)), syncDir(l.root, path.Dir(stored))); err != nil {
			return "", l.classify("keep old version of "+name, err)
		}
		return dst, nil
	}
}

// OpenVersion reads a kept version from the device.
func (l *Local) OpenVersion(ctx context.Context, versionPath string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(versionPath, versionsDir+"/") || !validStoredPath(versionPath) {
		return nil, fmt.Errorf("version path %q: %w", versionPath, store.ErrBadName)
	}
	f, err := l.root.Open(versionPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s on %s: %w", versionPath, l.label(), store.ErrNotExist)
		}
		return nil, l.classify("open "+versionPath, err)
	}
	dropCache(f)
	return f, nil
}

// metaName checks that name is one of Trove's own files.
func metaName(name string) error {
	if name == "README.txt" || name == "INDEX.html" {
		return nil
	}
	if strings.HasPrefix(name, metaDir+"/") && validStoredPath(name) && !strings.HasPrefix(name, versionsDir+"/") &&
		name != identityFile && name != lockFile {
		return nil
	}
	return fmt.Errorf("meta file %q: %w", name, store.ErrBadName)
}

func validStoredPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\x00") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// WriteMeta durably writes one of Trove's own files from r, replacing the
// old one only once the new one is complete and synced.
func (l *Local) WriteMeta(ctx context.Context, name string, r io.Reader) error {
	if err := metaName(name); err != nil {
		return err
	}
	if err := l.checkAttached(); err != nil {
		return err
	}
	if err := mkdirDurable(l.root, path.Dir(name)); err != nil {
		return l.classify("write "+name, err)
	}
	tmp := path.Join(path.Dir(name), tmpBase(path.Base(name), randomSuffix()))
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return l.classify("write "+name, err)
	}
	_, err = io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.root.Rename(tmp, name)
	}
	if err == nil {
		err = syncDir(l.root, path.Dir(name))
	}
	if err != nil {
		l.root.Remove(tmp)
		return l.classify("write "+name, err)
	}
	return nil
}

// ReadMeta opens one of Trove's own files.
func (l *Local) ReadMeta(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := metaName(name); err != nil {
		return nil, err
	}
	f, err := l.root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s on %s: %w", name, l.label(), store.ErrNotExist)
	}
	if err != nil {
		return nil, l.classify("read "+name, err)
	}
	dropCache(f)
	return f, nil
}
