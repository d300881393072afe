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
	"github.com/trove-backup/trove/internal/store/vault"
)

// Blobs is a vault.Blobs on an SFTP server: each key is a file below
// Config.Path ("data/ab/ab12…" → PATH/data/ab/ab12…), so an encrypted vault
// can live on a NAS. The server only ever sees what the vault gives it:
// ciphertext under HMAC names, plus the plaintext vault.json.
//
// It shares the Store's connection handling: host key check against
// known_hosts, keys/agent login, keepalives, and every call after a lost
// connection fails with store.ErrNotAttached (no reconnect; open a new
// Blobs for the next run). A missing key wraps store.ErrNotExist.
//
// Put is whole-or-nothing: the bytes go to ".<base>.trove-tmp-<random>" in
// the key's folder, are flushed with fsync@openssh.com when the server
// offers it (Caps.Fsync), and the temporary is then renamed over the key
// with posix-rename@openssh.com (atomic replace, as vault.Blobs requires).
// On a server without posix-rename, a taken key is removed first and the
// rename repeated: a crash in that window leaves the key absent (never
// partial) and the new bytes in a temporary. Temporaries are hidden from
// List; those of interrupted Puts are removed as a Store's are (first Put
// into the folder once older than Config.StaleAfter, or CleanTemporaries).
//
// Blobs is a vault.Resumable: objects of at least ResumeMin bytes go up
// through a temporary in .trove/uploads that survives an interruption (a
// cut connection, a closed upload window) and is continued from its
// current size by the next attempt (see PutResumable). Those temporaries
// are not touched by CleanTemporaries or Config.StaleAfter, since a
// resumed upload may come a night later: the vault's Attach removes the
// ones no pending upload needs (Uploads, AbortUpload).
//
// Methods are safe for concurrent use.
type Blobs struct {
	s         *Store
	resumeMin int64 // 0: DefaultResumeMin (tests lower it)
}

var _ vault.Blobs = (*Blobs)(nil)

// OpenBlobs connects to cfg and returns the Blobs below cfg.Path, which
// must exist as a folder on the server: a missing one is
// store.ErrNotAttached (NAS volume not mounted, wrong path), never an empty
// vault. PrepareBlobs creates it. Close the Blobs when done.
func OpenBlobs(ctx context.Context, cfg Config) (*Blobs, error) {
	s, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	fi, err := s.c.Stat(s.abs("."))
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.Close()
		return nil, fmt.Errorf("%s: the folder does not exist on the server (NAS volume not mounted? wrong path?): %w", cfg.URL(), store.ErrNotAttached)
	case err != nil:
		err = s.classify("open vault folder", err)
		s.Close()
		return nil, err
	case !fi.IsDir():
		s.Close()
		return nil, fmt.Errorf("%s: not a folder on the server", cfg.URL())
	}
	return &Blobs{s: s}, nil
}

// PrepareBlobs creates cfg.Path (and its parents) on the server for a new
// encrypted target (trove target add … --encrypt), idempotently, and returns
// what the server offers. It writes nothing else: vault.Init does.
func PrepareBlobs(ctx context.Context, cfg Config) (Caps, error) {
	s, err := connect(ctx, cfg)
	if err != nil {
		return Caps{}, err
	}
	defer s.Close()
	if err := s.c.MkdirAll(s.abs(".")); err != nil {
		if fi, serr := s.c.Stat(s.abs(".")); serr != nil || !fi.IsDir() {
			return Caps{}, s.classify("create vault folder", err)
		}
	}
	return s.caps, nil
}

// Close ends the connection. Safe to call twice.
func (b *Blobs) Close() error { return b.s.Close() }

// Caps returns what the server offers.
func (b *Blobs) Caps() Caps { return b.s.caps }

// URL returns the folder's sftp:// URL.
func (b *Blobs) URL() string { return b.s.cfg.URL() }

// CleanTemporaries removes temporaries of interrupted Puts older than
// olderThan everywhere below the folder and returns how many it removed.
func (b *Blobs) CleanTemporaries(ctx context.Context, olderThan time.Duration) (int, error) {
	return b.s.CleanTemporaries(ctx, olderThan)
}

// validBlobKey accepts the keys a vault makes: relative, slash-separated,
// printable ASCII without backslashes, no empty segments and no segment
// starting with "." (which rules out ".", "..", temporaries and hidden
// files).
func validBlobKey(key string) error {
	ok := key != "" && !strings.HasPrefix(key, "/")
	for _, c := range key {
		if c <= ' ' || c >= 0x7f || c == '\\' {
			ok = false
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || strings.HasPrefix(seg, ".") {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("blob key %q: %w", key, store.ErrBadName)
	}
	return nil
}

// begin checks ctx, the key and the connection.
func (b *Blobs) begin(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validBlobKey(key); err != nil {
		return err
	}
	return b.s.alive()
}

// Put stores exactly size bytes from r under key, replacing an existing
// object atomically (see the type's doc). Reading more or fewer than size
// bytes from r fails and leaves the key as it was.
func (b *Blobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := b.begin(ctx, key); err != nil {
		return err
	}
	s := b.s
	if free, ok := s.freeSpace(); ok && size > 0 && uint64(size) > free {
		return fmt.Errorf("put %s on %s: %d bytes, %d free: %w", key, s.label(), size, free, store.ErrFull)
	}
	dir := path.Dir(key)
	if err := s.mkdirAll(dir); err != nil {
		return s.classify("put "+key, err)
	}
	tmp := path.Join(dir, tmpBase(path.Base(key)))
	if err := s.cleanStale(dir, tmp); err != nil {
		return err
	}
	defer s.forget(tmp)
	f, err := s.c.OpenFile(s.abs(tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return s.classify("put "+key, err)
	}
	// Several writes in flight (io.Copy would send one 32 KiB write per
	// round trip: ctxReader hides the size pkg/sftp looks for).
	n, err := f.ReadFromWithConcurrency(ctxReader{ctx, io.LimitReader(r, size+1)}, 0)
	if err == nil && n != size {
		err = fmt.Errorf("got %d bytes, want %d", n, size)
	}
	if err == nil && s.caps.Fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = b.replace(tmp, key)
	}
	if err != nil {
		if !s.isGone() {
			s.c.Remove(s.abs(tmp))
		}
		return s.classify("put "+key, err)
	}
	return nil
}

// replace renames tmp to key, replacing key if it exists.
func (b *Blobs) replace(tmp, key string) error {
	s := b.s
	if s.caps.PosixRename {
		return s.c.PosixRename(s.abs(tmp), s.abs(key))
	}
	err := s.publish(tmp, key)
	if !errors.Is(err, store.ErrExist) {
		return err
	}
	if fi, serr := s.c.Lstat(s.abs(key)); serr == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s on %s is not a regular file", key, s.label())
	}
	if err := s.c.Remove(s.abs(key)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", key, err)
	}
	return s.publish(tmp, key)
}

// Get streams the object from the server (see the package doc on what the
// server's page cache means for read-back). A lost connection while
// reading fails with store.ErrNotAttached.
func (b *Blobs) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := b.begin(ctx, key); err != nil {
		return nil, err
	}
	return b.s.openFile(key)
}

// Stat returns the object's size; a missing key (or a non-regular file)
// wraps store.ErrNotExist.
func (b *Blobs) Stat(ctx context.Context, key string) (int64, error) {
	if err := b.begin(ctx, key); err != nil {
		return 0, err
	}
	fi, err := b.s.statRegular(key)
	if err != nil {
		return 0, err
	}
	return fi.Size, nil
}

// List calls fn for every object whose key starts with prefix, in byte
// order of keys, reading only the folders the prefix can reach. It skips
// temporaries, symlinks and other non-regular files. An error from fn stops
// the listing and is returned as is.
func (b *Blobs) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	if strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "\x00\\") {
		return fmt.Errorf("list prefix %q: %w", prefix, store.ErrBadName)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.s.alive(); err != nil {
		return err
	}
	start := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i]
		if validBlobKey(start) != nil {
			return fmt.Errorf("list prefix %q: %w", prefix, store.ErrBadName)
		}
	}
	return b.s.walkDir(ctx, start, prefix, func(fi store.Info) error {
		return fn(fi.Name, fi.Size)
	})
}

// Delete removes one object; a missing key wraps store.ErrNotExist.
// Emptied folders stay.
func (b *Blobs) Delete(ctx context.Context, key string) error {
	if err := b.begin(ctx, key); err != nil {
		return err
	}
	s := b.s
	if _, err := s.statRegular(key); err != nil {
		return err
	}
	if err := s.c.Remove(s.abs(key)); err != nil {
		return s.classify("delete "+key, err)
	}
	return nil
}
