package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	pkgsftp "github.com/pkg/sftp"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
)

// temp is one object being written to a temporary on the server (a
// store.Temp, driven by store.TempWriter).
type temp struct {
	s    *Store
	name string // final name
	tmp  string // temporary's name below the root
	f    *pkgsftp.File
	n    int64
}

// Create starts writing name through a temporary in its final directory.
// When the server reports free space, a size that cannot fit is refused
// with ErrFull before anything is written.
func (s *Store) Create(ctx context.Context, name string, size int64) (store.Writer, error) {
	if err := s.begin(ctx, name); err != nil {
		return nil, err
	}
	if free, ok := s.freeSpace(); ok && uint64(size) > free {
		return nil, fmt.Errorf("create %s on %s: %d bytes, %d free: %w", name, s.label(), size, free, store.ErrFull)
	}
	dir := path.Dir(name)
	if err := s.mkdirAll(dir); err != nil {
		return nil, s.classify("create "+name, err)
	}
	tmp := path.Join(dir, tmpBase(path.Base(name)))
	if err := s.cleanStale(dir, tmp); err != nil {
		return nil, err
	}
	f, err := s.c.OpenFile(s.abs(tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		s.forget(tmp)
		return nil, s.classify("create "+name, err)
	}
	return store.NewTempWriter(ctx, name, &temp{s: s, name: name, tmp: tmp, f: f}), nil
}

// freeSpace returns the server's free bytes, asked at most every few
// seconds (one round trip less per small file); ok is false when unknown.
func (s *Store) freeSpace() (free uint64, ok bool) {
	if !s.caps.StatVFS {
		return 0, false
	}
	s.mu.Lock()
	if time.Since(s.freeAt) < 5*time.Second {
		free = s.free
		s.mu.Unlock()
		return free, true
	}
	s.mu.Unlock()
	free, _, err := s.Usage()
	if err != nil {
		return 0, false
	}
	s.mu.Lock()
	s.free, s.freeAt = free, time.Now()
	s.mu.Unlock()
	return free, true
}

// cleanStale removes, the first time this Store creates a file in dir,
// temporaries there untouched for StaleAfter, and registers tmp as live.
func (s *Store) cleanStale(dir, tmp string) error {
	s.mu.Lock()
	done := s.cleaned[dir]
	s.cleaned[dir] = true
	s.live[tmp] = struct{}{}
	s.mu.Unlock()
	if done {
		return nil
	}
	if _, err := s.removeStale(dir, time.Now().Add(-s.cfg.StaleAfter)); err != nil {
		s.forget(tmp)
		return err
	}
	return nil
}

// removeStale removes temporaries in dir last modified before cutoff that
// are not ours, and returns how many it removed.
func (s *Store) removeStale(dir string, cutoff time.Time) (int, error) {
	ents, err := s.c.ReadDir(s.abs(dir))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, s.classify("clean temporaries in "+dir, err)
	}
	s.mu.Lock()
	live := map[string]bool{}
	for t := range s.live {
		live[t] = true
	}
	s.mu.Unlock()
	n := 0
	for _, fi := range ents {
		p := path.Join(dir, fi.Name())
		if !isTemp(fi.Name()) || !fi.Mode().IsRegular() || live[p] || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := s.c.Remove(s.abs(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, s.classify("remove stale temporary "+p, err)
		}
		n++
	}
	return n, nil
}

// CleanTemporaries walks the whole target and removes temporaries older
// than olderThan (left by interrupted runs; see the package doc). It
// returns how many it removed.
func (s *Store) CleanTemporaries(ctx context.Context, olderThan time.Duration) (int, error) {
	if err := s.alive(); err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-olderThan)
	var walk func(dir string) (int, error)
	walk = func(dir string) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, err := s.removeStale(dir, cutoff)
		if err != nil {
			return n, err
		}
		ents, err := s.c.ReadDir(s.abs(dir))
		if err != nil {
			return n, s.classify("clean temporaries in "+dir, err)
		}
		for _, fi := range ents {
			if !fi.IsDir() || fi.Name() == "." || fi.Name() == ".." {
				continue
			}
			m, err := walk(path.Join(dir, fi.Name()))
			n += m
			if err != nil {
				return n, err
			}
		}
		return n, nil
	}
	return walk(".")
}

func (s *Store) forget(tmp string) {
	s.mu.Lock()
	delete(s.live, tmp)
	s.mu.Unlock()
}

// Write sends bytes to the temporary.
func (w *temp) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		return n, w.s.classify("write "+w.name, err)
	}
	return n, nil
}

// Discard closes and removes the temporary; on a lost connection it stays,
// and a later run removes it.
func (w *temp) Discard() error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	defer w.s.forget(w.tmp)
	if w.s.alive() != nil {
		return nil
	}
	if err := w.s.c.Remove(w.s.abs(w.tmp)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return w.s.classify("remove temporary", err)
	}
	return nil
}

// Commit fsyncs (when the server offers it), reads the temporary back over
// the connection, compares with want and publishes without replacing. See
// store.Writer and the package doc for what the read-back proves.
func (w *temp) Commit(ctx context.Context, want digest.Sum) (store.Receipt, error) {
	s := w.s
	var err error
	if s.caps.Fsync {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		return store.Receipt{}, s.classify("flush "+w.name, err)
	}
	sum, n, err := s.readBack(ctx, w.tmp)
	if err != nil {
		return store.Receipt{}, s.classify("read back "+w.name, err)
	}
	verified := time.Now()
	if n != w.n || sum != want {
		return store.Receipt{}, fmt.Errorf("commit %s on %s: read back %d bytes with sha256 %s, want %d bytes with %s: %w", w.name, s.label(), n, sum, w.n, want, store.ErrCorrupt)
	}
	if err := s.publish(w.tmp, w.name); err != nil {
		if errors.Is(err, store.ErrExist) {
			return store.Receipt{}, fmt.Errorf("commit %s on %s: %w", w.name, s.label(), store.ErrExist)
		}
		return store.Receipt{}, s.classify("publish "+w.name, err)
	}
	s.forget(w.tmp)
	return store.Receipt{Stored: w.name, Sum: sum, Size: n, VerifiedAt: verified}, nil
}

// readBack opens a file fresh and hashes it as the server sends it.
func (s *Store) readBack(ctx context.Context, name string) (digest.Sum, int64, error) {
	f, err := s.c.Open(s.abs(name))
	if err != nil {
		return digest.Sum{}, 0, err
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	h := digest.New()
	n, err := f.WriteTo(h)
	if err != nil {
		if ctx.Err() != nil {
			return digest.Sum{}, n, ctx.Err()
		}
		return digest.Sum{}, n, err
	}
	return h.Sum(), n, nil
}

// ctxReader stops a long copy when ctx is cancelled.
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
