package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/trove-backup/trove/internal/store"
)

// Blobs is the small object store a vault lives on: an S3 bucket prefix, a
// folder, an rclone remote. Keys are slash-separated ASCII ("data/ab/ab12…",
// "index/…", "vault.json"). A Blobs holds only what the vault gives it:
// ciphertext plus the plaintext vault.json.
//
// Errors for a missing key wrap store.ErrNotExist.
type Blobs interface {
	// Put stores exactly size bytes read from r under key, replacing any
	// object with that key. Either the whole object becomes visible or
	// none of it (no partial objects, no orphan parts after a failure).
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get streams the object's bytes from the backend (never a local
	// cache): the vault's read-back verification relies on it.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns the object's size.
	Stat(ctx context.Context, key string) (size int64, err error)
	// List calls fn for every object whose key starts with prefix, in
	// byte order of keys. An error from fn stops the listing and is
	// returned.
	List(ctx context.Context, prefix string, fn func(key string, size int64) error) error
	// Delete removes the object; a missing key wraps store.ErrNotExist.
	Delete(ctx context.Context, key string) error
}

// DirBlobs keeps blobs as files below a local folder (tests, a folder that
// another tool syncs off-site). Writes are durable: temporary file, fsync,
// rename, fsync of the directory.
type DirBlobs struct {
	Dir string
}

var _ Blobs = DirBlobs{}

const dirTmpMarker = ".blob-tmp-"

func (d DirBlobs) path(key string) (string, error) {
	if !validKey(key) {
		return "", fmt.Errorf("blob key %q: %w", key, store.ErrBadName)
	}
	return filepath.Join(d.Dir, filepath.FromSlash(key)), nil
}

// validKey accepts the keys the vault makes: relative, no empty or dot
// segments, printable ASCII without backslashes.
func validKey(key string) bool {
	if key == "" || strings.HasPrefix(key, "/") {
		return false
	}
	for _, c := range key {
		if c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.Contains(seg, dirTmpMarker) {
			return false
		}
	}
	return true
}

func notExist(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %s: %w", op, key, store.ErrNotExist)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// Put writes the blob durably.
func (d DirBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	f, err := os.CreateTemp(dir, "."+path.Base(key)+dirTmpMarker+"*")
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tmp := f.Name()
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err == nil && n != size {
		err = fmt.Errorf("got %d bytes, want %d", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Get opens the blob.
func (d DirBlobs) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notExist("get", key, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("get %s: not a regular file: %w", key, store.ErrNotExist)
	}
	return f, nil
}

// Stat returns the blob's size.
func (d DirBlobs) Stat(ctx context.Context, key string) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, notExist("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("stat %s: not a regular file: %w", key, store.ErrNotExist)
	}
	return fi.Size(), nil
}

// List walks the folder; keys come in byte order.
func (d DirBlobs) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	type kv struct {
		key  string
		size int64
	}
	var all []kv
	err := filepath.WalkDir(d.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == d.Dir {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.Type().IsRegular() || strings.Contains(e.Name(), dirTmpMarker) {
			return nil
		}
		rel, err := filepath.Rel(d.Dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		all = append(all, kv{key, fi.Size()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", d.Dir, err)
	}
	slices.SortFunc(all, func(a, b kv) int { return strings.Compare(a.key, b.key) })
	for _, o := range all {
		if err := fn(o.key, o.size); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the blob.
func (d DirBlobs) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return notExist("delete", key, err)
	}
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
