package storetest

import (
	"context"
	"fmt"
	"sync"

	"github.com/trove-backup/trove/internal/store"
)

// wrap forwards everything but Create to the wrapped store.
type wrap struct {
	store.Store
	create func(ctx context.Context, name string, size int64) (store.Writer, error)
}

func (w *wrap) Create(ctx context.Context, name string, size int64) (store.Writer, error) {
	return w.create(ctx, name, size)
}

// writerFunc replaces a Writer's Write.
type writerFunc struct {
	store.Writer
	write func(p []byte) (int, error)
}

func (w *writerFunc) Write(p []byte) (int, error) { return w.write(p) }

// FailAfter returns s whose nth Write call (counting from 1 across all
// writers of the returned store) fails with err without writing. Callers
// are expected to Abort the writer, as on any write error.
func FailAfter(s store.Store, n int, err error) store.Store {
	var mu sync.Mutex
	calls := 0
	return &wrap{Store: s, create: func(ctx context.Context, name string, size int64) (store.Writer, error) {
		w, cerr := s.Create(ctx, name, size)
		if cerr != nil {
			return nil, cerr
		}
		return &writerFunc{Writer: w, write: func(p []byte) (int, error) {
			mu.Lock()
			calls++
			fail := calls == n
			mu.Unlock()
			if fail {
				return 0, fmt.Errorf("injected failure on write %d of %s: %w", n, name, err)
			}
			return w.Write(p)
		}}, nil
	}}
}

// FlipByte returns s that corrupts every object it writes by flipping the
// low bit of the byte at offset (when the object is that long), as a bad
// cable or RAM would. The caller's expected digest is of the original
// bytes, so Commit's read-back must catch it (ErrCorrupt).
func FlipByte(s store.Store, offset int64) store.Store {
	return &wrap{Store: s, create: func(ctx context.Context, name string, size int64) (store.Writer, error) {
		w, err := s.Create(ctx, name, size)
		if err != nil {
			return nil, err
		}
		var pos int64
		return &writerFunc{Writer: w, write: func(p []byte) (int, error) {
			if offset >= pos && offset < pos+int64(len(p)) {
				q := append([]byte(nil), p...)
				q[offset-pos] ^= 1
				p = q
			}
			n, err := w.Write(p)
			pos += int64(n)
			return n, err
		}}, nil
	}}
}

// Full returns s that behaves like a disk with capacity bytes free for the
// objects written through it: a write crossing the limit fails with
// store.ErrFull (the bytes of aborted objects are not given back).
func Full(s store.Store, capacity int64) store.Store {
	var mu sync.Mutex
	used := int64(0)
	return &wrap{Store: s, create: func(ctx context.Context, name string, size int64) (store.Writer, error) {
		w, err := s.Create(ctx, name, size)
		if err != nil {
			return nil, err
		}
		return &writerFunc{Writer: w, write: func(p []byte) (int, error) {
			mu.Lock()
			room := capacity - used
			if int64(len(p)) > room {
				used = capacity
				mu.Unlock()
				n, _ := w.Write(p[:max(room, 0)])
				return n, fmt.Errorf("write %s: injected: %w", name, store.ErrFull)
			}
			used += int64(len(p))
			mu.Unlock()
			return w.Write(p)
		}}, nil
	}}
}
