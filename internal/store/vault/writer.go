package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
)

// Create starts a new object. Its bytes are encrypted as they arrive into
// an unlinked temporary file (ciphertext only on the local disk); nothing
// is uploaded before Commit.
func (v *Vault) Create(ctx context.Context, name string, size int64) (store.Writer, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A large object is encrypted into the upload spool, so that an
	// interrupted upload can continue with the same ciphertext.
	spool := false
	if r, ok := v.spooling(); ok && paddedLen(size) >= r.ResumeMin() {
		spool = true
	}
	var f *os.File
	var err error
	if spool {
		f, err = v.spoolTemp()
	} else {
		f, err = v.tempFile()
	}
	if err != nil {
		return nil, err
	}
	s, err := newSealer(f, v.k.recipient)
	if err != nil {
		v.dropTemp(f)
		return nil, err
	}
	return &writer{v: v, ctx: ctx, name: name, f: f, s: s, spool: spool}, nil
}

type writer struct {
	v    *Vault
	ctx  context.Context
	name string

	mu        sync.Mutex
	f         *os.File
	s         *sealer
	err       error // sticky write error
	done      bool  // aborted or committed
	committed bool
	sealed    bool // encryption finished: sum and n are known
	sum       digest.Sum
	n         int64
	spool     bool // f is in the upload spool (a large object)
	claimed   bool // f became the content's spool file: Abort keeps it
	rec       spoolRec
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, fmt.Errorf("write %s: writer closed", w.name)
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = err
		return 0, err
	}
	n, err := w.s.Write(p)
	if err != nil {
		w.err = fmt.Errorf("encrypt %s: %w", w.name, err)
		return n, w.err
	}
	return n, nil
}

// Commit finishes the encryption, checks the content's digest against
// want, uploads the object unless the same content is already in the vault
// (dedup), reads it back from the backend (GET, decrypt, hash), and only
// then records the name in the index, with the content object's size and
// the backend's fingerprint of it (Fingerprinter; taken just before the
// read-back) for ServerCheck. The read-back costs one download of the
// object (cloud egress); a dedup hit is read back too.
//
// Commit returns success only once the name's record is stored in an
// index log object and applied in memory; on an error nothing is
// recorded. The records of concurrent commits share one log object
// (group commit, see commitRecord): a commit may wait for the index write
// in flight, and fails with the others of its batch when their shared
// write fails. A commit whose ctx is cancelled while its record waits
// fails with ctx's error if its batch was not taken yet; once taken, it
// waits for the batch's write (bounded by the context of the batch's
// first live commit) and returns its outcome, which may be success.
func (w *writer) Commit(ctx context.Context, want digest.Sum) (store.Receipt, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		if w.committed {
			return store.Receipt{}, fmt.Errorf("commit %s: already committed", w.name)
		}
		return store.Receipt{}, fmt.Errorf("commit %s: writer was aborted", w.name)
	}
	if w.err != nil {
		return store.Receipt{}, w.err
	}
	if err := errors.Join(ctx.Err(), w.ctx.Err()); err != nil {
		return store.Receipt{}, fmt.Errorf("commit %s: %w", w.name, err)
	}
	if !w.sealed {
		sum, n, err := w.s.Close()
		if err != nil {
			w.err = fmt.Errorf("commit %s: %w", w.name, err)
			return store.Receipt{}, w.err
		}
		w.sealed, w.sum, w.n = true, sum, n
	}
	sum, n := w.sum, w.n
	if sum != want {
		return store.Receipt{}, fmt.Errorf("commit %s: written bytes have sha256 %s…, expected %s…: %w",
			w.name, sum.String()[:12], want.String()[:12], store.ErrCorrupt)
	}
	v := w.v
	v.mu.Lock()
	_, taken := v.names[w.name]
	taken = taken || v.pending[w.name]
	if !taken {
		v.pending[w.name] = true
	}
	v.mu.Unlock()
	if taken {
		return store.Receipt{}, fmt.Errorf("commit %s: %w", w.name, store.ErrExist)
	}
	defer func() {
		v.mu.Lock()
		delete(v.pending, w.name)
		v.mu.Unlock()
	}()

	key := v.k.contentKey(sum)
	// From before the upload (or dedup check) until the record is in the
	// index, the content object is in use: RemoveVersion must not delete it.
	v.mu.Lock()
	v.committing[key]++
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		if v.committing[key]--; v.committing[key] <= 0 {
			delete(v.committing, key)
		}
		v.mu.Unlock()
	}()
	o, err := w.upload(ctx, key, n, sum)
	if err != nil {
		return store.Receipt{}, fmt.Errorf("commit %s: %w", w.name, err)
	}
	at := v.opt.Now()
	err = v.commitRecord(ctx, record{Op: "put", Name: w.name, Key: key, Size: n, SHA256: sum.String(), Time: at, CSize: o.csize, FP: o.fp})
	if err != nil {
		return store.Receipt{}, fmt.Errorf("commit %s: %w", w.name, err)
	}
	w.done, w.committed = true, true
	w.close()
	return store.Receipt{Stored: key, Sum: sum, Size: n, VerifiedAt: v.opt.Now()}, nil
}

// upload makes sure the content object key holds this writer's content,
// read back from the backend: a present object that reads back is reused
// (dedup), else the ciphertext is uploaded (resumably for a spooled
// object) and read back. It returns the object's size and fingerprint
// (see probe), taken before the read-back so that they describe the
// bytes it proved or older ones: never bytes that no read-back saw.
func (w *writer) upload(ctx context.Context, key string, n int64, sum digest.Sum) (object, error) {
	v := w.v
	unlock, err := v.lockKey(ctx, key)
	if err != nil {
		return object{}, err
	}
	defer unlock()
	if o, err := v.probe(ctx, key); err == nil {
		// Dedup: the content is there; it counts once it reads back.
		if v.readBack(ctx, key, n, sum) == nil {
			if w.spool {
				// An earlier attempt finished (its answer lost) or
				// another name holds the content: its spool is done.
				v.dropSpool(ctx, key)
			}
			return o, nil
		}
	} else if !errors.Is(err, store.ErrNotExist) {
		return object{}, fmt.Errorf("look up content: %w", err)
	}
	size, err := w.f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = w.f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return object{}, err
	}
	if r, ok := v.spooling(); ok && w.spool {
		if !w.claimed {
			f, rec, err := v.claimSpool(key, w.f, size)
			if err != nil {
				return object{}, err
			}
			w.f, w.claimed, w.rec = f, true, rec
		}
		if err := v.putSpooled(ctx, r, key, w.f, &w.rec); err != nil {
			return object{}, fmt.Errorf("upload (the next attempt continues it): %w", err)
		}
		// Finished either way: ciphertext that does not read back must
		// not be resumed.
		dp, rp := v.spoolPaths(key)
		os.Remove(rp)
		os.Remove(dp)
	} else if err := v.b.Put(ctx, key, w.f, size); err != nil {
		return object{}, fmt.Errorf("upload: %w", err)
	}
	o, err := v.probe(ctx, key)
	if err != nil {
		return object{}, fmt.Errorf("look up the uploaded content: %w", err)
	}
	return o, v.readBack(ctx, key, n, sum)
}

// close releases the writer's file; a claimed spool file stays on disk.
func (w *writer) close() {
	if w.claimed {
		w.f.Close()
	} else {
		w.v.dropTemp(w.f)
	}
}

// readBack downloads the object and checks it decrypts to n bytes with
// digest sum.
func (v *Vault) readBack(ctx context.Context, key string, n int64, sum digest.Sum) error {
	body, err := v.b.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read back %s: %w", key, err)
	}
	u, err := newUnsealer(key, body, v.k.identity, n, sum)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	defer u.Close()
	if _, err := io.Copy(io.Discard, ctxReader{ctx, u}); err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	return nil
}

// Abort drops the temporary file. Safe to call more than once and after
// Commit (the committed object stays).
func (w *writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.done = true
		w.close()
	}
	return nil
}
