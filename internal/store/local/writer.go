package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
)

// temp is one object being written to a temporary (a store.Temp, driven
// by store.TempWriter).
type temp struct {
	l      *Local
	name   string // library name
	stored string // final stored name
	tmp    string // temporary's stored name
	f      *os.File
	n      int64
}

// Create starts writing name through a temporary in its final directory.
// It refuses sizes above Caps.MaxFileSize with ErrTooLarge before writing.
func (l *Local) Create(ctx context.Context, name string, size int64) (store.Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stored, err := l.encode(name)
	if err != nil {
		return nil, err
	}
	if l.caps.MaxFileSize > 0 && size > l.caps.MaxFileSize {
		return nil, fmt.Errorf("create %s on %s: %d bytes, the %s filesystem holds at most %d: %w", name, l.label(), size, l.caps.FSType, l.caps.MaxFileSize, store.ErrTooLarge)
	}
	if err := l.checkAttached(); err != nil {
		return nil, err
	}
	dir := path.Dir(stored)
	if err := mkdirDurable(l.root, dir); err != nil {
		return nil, l.classify("create "+name, err)
	}
	tmp := path.Join(dir, tmpBase(path.Base(stored), randomSuffix()))
	if err := l.cleanStale(dir, tmp); err != nil {
		return nil, err
	}
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		l.forget(tmp)
		return nil, l.classify("create "+name, err)
	}
	w := store.NewTempWriter(ctx, name, &temp{l: l, name: name, stored: stored, tmp: tmp, f: f})
	fi, err := f.Stat()
	if err == nil {
		var d uint64
		if d, err = devOf(fi); err == nil && d != l.dev {
			err = fmt.Errorf("create %s: temporary is on %s, target on %s: %w", name, devString(d), devString(l.dev), store.ErrDeviceChanged)
		}
	}
	if err != nil {
		return nil, w.Fail(err)
	}
	return w, nil
}

// cleanStale removes temporaries in dir the first time this Local creates a
// file there, and registers tmp as live. We hold the target's flock, so all
// temporaries but our live ones are stale (on a case-insensitive drive
// "Shoot" and "shoot" are one folder, hence the live set).
func (l *Local) cleanStale(dir, tmp string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cleaned[dir] {
		l.live[tmp] = struct{}{}
		return nil
	}
	d, err := l.root.Open(dir)
	if err != nil {
		return l.classify("clean temporaries in "+dir, err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return l.classify("clean temporaries in "+dir, err)
	}
	live := map[string]bool{}
	for t := range l.live {
		live[path.Base(t)] = true
	}
	for _, e := range ents {
		if isTemp(e.Name()) && e.Type().IsRegular() && !live[e.Name()] {
			if err := l.root.Remove(path.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return l.classify("remove stale temporary "+e.Name(), err)
			}
		}
	}
	l.cleaned[dir] = true
	l.live[tmp] = struct{}{}
	return nil
}

// forget drops tmp from the live set.
func (l *Local) forget(tmp string) {
	l.mu.Lock()
	delete(l.live, tmp)
	l.mu.Unlock()
}

// Write writes to the temporary.
func (w *temp) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		return n, w.l.classify("write "+w.name, err)
	}
	return n, nil
}

// Discard closes and removes the temporary.
func (w *temp) Discard() error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	defer w.l.forget(w.tmp)
	if err := w.l.root.Remove(w.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove temporary: %w", err)
	}
	return nil
}

// Commit fsyncs, reads back from the device, compares with want and
// publishes without replacing. See store.Writer.
func (w *temp) Commit(ctx context.Context, want digest.Sum) (store.Receipt, error) {
	l := w.l
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		return store.Receipt{}, l.classify("flush "+w.name, err)
	}
	if err := l.checkAttached(); err != nil {
		return store.Receipt{}, err
	}
	sum, n, err := l.readBack(ctx, w.tmp)
	if err != nil {
		return store.Receipt{}, l.classify("read back "+w.name, err)
	}
	verified := time.Now()
	if n != w.n || sum != want {
		return store.Receipt{}, fmt.Errorf("commit %s on %s: read back %d bytes with sha256 %s, want %d bytes with %s: %w", w.name, l.label(), n, sum, w.n, want, store.ErrCorrupt)
	}
	// Re-check right before publishing: the drive may have gone meanwhile.
	if err := l.checkAttached(); err != nil {
		return store.Receipt{}, err
	}
	if err := l.publish(w.tmp, w.stored); err != nil {
		if errors.Is(err, os.ErrExist) {
			return store.Receipt{}, fmt.Errorf("commit %s on %s: %w", w.name, l.label(), store.ErrExist)
		}
		return store.Receipt{}, l.classify("publish "+w.name, err)
	}
	if err := syncDir(l.root, path.Dir(w.stored)); err != nil {
		// Published but its directory entry may not be durable; report it
		// so the copy is not counted (a retry will see ErrExist and must
		// verify the existing file).
		return store.Receipt{}, l.classify("commit "+w.name, err)
	}
	l.forget(w.tmp)
	return store.Receipt{Stored: w.stored, Sum: sum, Size: n, VerifiedAt: verified}, nil
}

// readBack opens a stored file fresh, drops its cached pages and hashes it.
func (l *Local) readBack(ctx context.Context, stored string) (digest.Sum, int64, error) {
	f, err := l.root.Open(stored)
	if err != nil {
		return digest.Sum{}, 0, err
	}
	defer f.Close()
	dropCache(f)
	return digest.Reader(ctxReader{ctx, f}, nil)
}

// ctxReader stops a long read when ctx is cancelled.
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
