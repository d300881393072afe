package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/trove-backup/trove/internal/digest"
)

// Temp is one object being written to a temporary by a store that
// publishes through temporaries (folder drives, SFTP). A TempWriter drives
// it; its methods are never called concurrently or after Commit succeeded
// or Discard was called.
type Temp interface {
	// Write appends to the temporary; errors are the store's, classified
	// (ErrFull, ErrNotAttached…).
	Write(p []byte) (int, error)
	// Commit does the store's part of Writer.Commit: makes the temporary
	// durable, reads it back, compares with want and publishes it without
	// replacing anything. It closes the temporary whatever happens.
	Commit(ctx context.Context, want digest.Sum) (Receipt, error)
	// Discard closes the temporary if still open and removes it (a store
	// that cannot reach it any more may leave it for a later cleanup and
	// return nil).
	Discard() error
}

// TempWriter is the Writer lifecycle such stores share: the first error
// sticks and discards the temporary; a write after the context given to
// NewTempWriter is cancelled fails and discards it; Commit and Abort happen
// once (Abort after Commit or a failure does nothing).
type TempWriter struct {
	ctx  context.Context
	name string // library name, for messages
	t    Temp

	mu   sync.Mutex
	err  error // first failure; the temporary was discarded then
	done bool  // committed or aborted
}

var _ Writer = (*TempWriter)(nil)

// NewTempWriter returns the Writer for t; ctx bounds its writes.
func NewTempWriter(ctx context.Context, name string, t Temp) *TempWriter {
	return &TempWriter{ctx: ctx, name: name, t: t}
}

// Temp returns the store's temporary (tests look inside it).
func (w *TempWriter) Temp() Temp { return w.t }

// Fail records err as the writer's failure and discards the temporary
// (best effort); it returns the first failure. A store's Create uses it
// when a check after opening the temporary fails.
func (w *TempWriter) Fail(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail(err)
	return w.err
}

func (w *TempWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
	w.t.Discard() // best effort: a later run removes what stays
}

// Write writes to the temporary. The first error discards it.
func (w *TempWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, fmt.Errorf("write %s: writer already finished", w.name)
	}
	if err := w.ctx.Err(); err != nil {
		w.fail(fmt.Errorf("write %s: %w", w.name, err))
		return 0, w.err
	}
	n, err := w.t.Write(p)
	if err != nil {
		w.fail(err)
		return n, w.err
	}
	return n, nil
}

// Commit publishes the temporary after the store's read-back (see
// Writer.Commit); on any failure the temporary is discarded.
func (w *TempWriter) Commit(ctx context.Context, want digest.Sum) (Receipt, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return Receipt{}, w.err
	}
	if w.done {
		return Receipt{}, fmt.Errorf("commit %s: writer already finished", w.name)
	}
	w.done = true
	if err := ctx.Err(); err != nil {
		w.fail(fmt.Errorf("commit %s: %w", w.name, err))
		return Receipt{}, w.err
	}
	r, err := w.t.Commit(ctx, want)
	if err != nil {
		w.fail(err)
		return Receipt{}, err
	}
	return r, nil
}

// Abort discards the temporary. Safe after Commit, and twice.
func (w *TempWriter) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.err != nil {
		return nil
	}
	w.done = true
	if err := w.t.Discard(); err != nil {
		return fmt.Errorf("abort %s: %w", w.name, err)
	}
	return nil
}
