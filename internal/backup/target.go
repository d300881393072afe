package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/targetmeta"
)

// targetRun is the backup of one target.
type targetRun struct {
	r   *runner
	d   Dest
	bit uint64
	ctx context.Context

	mu       sync.Mutex
	tr       TargetResult
	stopErr  error // why the target stopped (full, unplugged); nil while it goes on
	versions int   // version messages shown (the rest are counted)
	paused   bool  // the upload window closed (guarded by mu)

	rec *copyRecorder
}

// isFatal reports errors after which a target cannot take more files.
func isFatal(err error) bool {
	return errors.Is(err, store.ErrFull) || errors.Is(err, store.ErrNotAttached) ||
		errors.Is(err, store.ErrDeviceChanged) || errors.Is(err, store.ErrWrongTarget)
}

func (t *targetRun) stopped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stopErr != nil || t.ctx.Err() != nil || t.rec.failed.Load() || t.windowClosed()
}

// windowClosed reports whether the target's upload window has closed; it
// is remembered, so the target ends paused.
func (t *targetRun) windowClosed() bool {
	if t.paused {
		return true
	}
	if !t.d.Until.IsZero() && !t.r.o.Now().Before(t.d.Until) {
		t.paused = true
	}
	return t.paused
}

// stop records why the target cannot go on (the first reason wins).
func (t *targetRun) stop(err error) {
	t.mu.Lock()
	first := t.stopErr == nil
	if first {
		t.stopErr = err
	}
	t.mu.Unlock()
	if first {
		t.r.problem(Problem{Dest: t.d.Target.Name, Err: stopReason(t.d.Target.Name, err)})
	}
}

// stopReason says in plain words why a target stopped.
func stopReason(name string, err error) string {
	switch {
	case errors.Is(err, store.ErrFull):
		return fmt.Sprintf("%s is full: stopped; free some space or use a bigger drive, then run backup again (%v)", name, err)
	case errors.Is(err, store.ErrNotAttached), errors.Is(err, store.ErrDeviceChanged):
		return fmt.Sprintf("%s was unplugged or went away during the backup: stopped; copies made before are recorded, plug it in and run backup again (%v)", name, err)
	case errors.Is(err, store.ErrWrongTarget):
		return fmt.Sprintf("a different drive is now at %s's path: stopped (%v)", name, err)
	}
	return fmt.Sprintf("%s: stopped: %v", name, err)
}

// fail reports one file that did not make it to this target.
func (t *targetRun) fail(file string, err error) {
	if isFatal(err) {
		t.stop(err)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	t.mu.Lock()
	t.tr.Failed++
	t.mu.Unlock()
	t.r.problem(Problem{File: file, Dest: t.d.Target.Name, Err: err.Error()})
}

// backupTarget brings target i up to date.
func (r *runner) backupTarget(ctx context.Context, i int) TargetResult {
	d := r.o.Targets[i]
	t := &targetRun{r: r, d: d, bit: uint64(1) << i, ctx: ctx, tr: TargetResult{Name: d.Target.Name}}
	t.rec = newCopyRecorder(ctx, r.o.Catalog)
	t.moveDeleted()
	t.copyAll()
	if err := t.rec.close(); err != nil {
		t.stop(fmt.Errorf("the catalog cannot be written: %w", err))
	}
	t.finish()
	return t.tr
}

// moveDeleted moves copies of files deleted from the library into the
// target's versions area.
func (t *targetRun) moveDeleted() {
	dels, err := t.r.o.Catalog.CopiesOfDeleted(t.ctx, t.d.Target.ID, t.r.deleted)
	if err != nil {
		t.stop(err)
		return
	}
	for _, dc := range dels {
		if t.stopped() {
			return
		}
		info, err := t.d.Store.Stat(t.ctx, dc.FilePath)
		if errors.Is(err, store.ErrNotExist) {
			continue // not at its path (verify reports it missing; nothing to move)
		}
		if err != nil {
			t.fail(dc.FilePath, err)
			continue
		}
		if err := t.keep(dc.FileID, dc.FilePath, info, dc.Sum, "deleted"); err != nil {
			t.fail(dc.FilePath, err)
		}
	}
}

// keep moves whatever is at name on the target into its versions area and
// records it as a version of file fileID holding sum.
func (t *targetRun) keep(fileID int64, name string, info store.Info, sum digest.Sum, reason string) error {
	p, ok := t.d.Store.(store.Preserver)
	if !ok {
		return fmt.Errorf("%s cannot keep old versions: %s left as it is, not replaced", t.d.Target.Name, name)
	}
	now := t.r.o.Now()
	vpath, err := p.Preserve(t.ctx, name, now)
	if err != nil {
		return fmt.Errorf("keep the old version of %s: %w", name, err)
	}
	if err := t.r.o.Catalog.KeepVersion(t.ctx, catalog.Version{FileID: fileID, TargetID: t.d.Target.ID, Path: vpath,
		Sum: sum, Size: info.Size, Reason: reason, CreatedAt: now}); err != nil {
		return err
	}
	t.mu.Lock()
	t.tr.Versions++
	t.tr.Changed = true
	show := t.versions < 20
	t.versions++
	t.mu.Unlock()
	if show {
		t.r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: t.d.Target.Name,
			Message: fmt.Sprintf("kept the %s version of %s as %s", reason, name, vpath)})
	}
	return nil
}

// copyAll copies every current file that has no counting copy on the
// target, several at a time.
func (t *targetRun) copyAll() {
	var jobs []int32
	var bytes int64
	for i := range t.r.entries {
		e := &t.r.entries[i]
		if e.flags&fReady != 0 && e.has&t.bit == 0 {
			jobs = append(jobs, int32(i))
			bytes += e.libSize
		}
	}
	name := t.d.Target.Name
	t.r.o.Sink.Emit(progress.Event{Kind: progress.Plan, Dest: name, Files: len(jobs), Bytes: bytes})
	t.tr.Pending = len(jobs)
	if len(jobs) == 0 || t.stopped() {
		return
	}
	ch := make(chan int32)
	var wg sync.WaitGroup
	for range min(t.r.o.InFlight, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, t.r.o.BufferSize)
			for k := range ch {
				if !t.stopped() {
					t.one(&t.r.entries[k], buf)
				}
			}
		}()
	}
	for _, k := range jobs {
		if t.stopped() {
			break
		}
		ch <- k
	}
	close(ch)
	wg.Wait()
}

// one brings one file to the target: settles what sits at its path, then
// copies it from the library and records the verified copy.
func (t *targetRun) one(e *entry, buf []byte) {
	info, err := t.d.Store.Stat(t.ctx, e.path)
	switch {
	case err == nil:
		done, err := t.settle(e, info, buf)
		if err != nil {
			t.fail(e.path, err)
			return
		}
		if done {
			return
		}
	case errors.Is(err, store.ErrNotExist):
	default:
		t.fail(e.path, err)
		return
	}
	rc, err := t.copy(e, buf)
	if err != nil {
		if errors.Is(err, errWindowClosed) {
			t.windowCut(e.path)
			return
		}
		if errors.Is(err, store.ErrExist) {
			err = fmt.Errorf("a file appeared at %s on %s during the backup; nothing was overwritten; run backup again: %w",
				e.path, t.d.Target.Name, err)
		}
		t.fail(e.path, err)
		return
	}
	t.record(e, rc)
	t.mu.Lock()
	t.tr.Copied++
	t.tr.Bytes += rc.Size
	t.mu.Unlock()
}

// settle deals with a file already at e's path on the target: when it holds
// e's content (a copy published but not recorded before a crash) it is
// adopted as a verified copy (done); otherwise it is moved into the versions
// area so the path is free.
func (t *targetRun) settle(e *entry, info store.Info, buf []byte) (done bool, err error) {
	var got digest.Sum
	rc, err := t.d.Store.Open(t.ctx, e.path)
	if err != nil {
		return false, err
	}
	got, n, err := digest.Reader(rc, buf)
	rc.Close()
	if err != nil {
		return false, fmt.Errorf("read the file already at %s: %w", e.path, err)
	}
	if got == e.sum && n == e.libSize {
		t.record(e, store.Receipt{Stored: info.Stored, Sum: got, Size: n, VerifiedAt: t.r.o.Now()})
		t.mu.Lock()
		t.tr.Adopted++
		t.mu.Unlock()
		return true, nil
	}
	reason := "replaced"
	if cp, err := t.r.o.Catalog.CopyOf(e.id, t.d.Target.ID); err == nil && cp.Sum != got {
		reason = "corrupt" // it does not hold what was written there
	}
	return false, t.keep(e.id, e.path, info, got, reason)
}

// errWindowClosed: the target's upload window closed while a file was
// being copied.
var errWindowClosed = errors.New("the upload window closed")

// windowCut records that the upload window closed in the middle of file:
// not a failure; the target ends paused and the next run copies it.
func (t *targetRun) windowCut(file string) {
	t.mu.Lock()
	first := !t.paused
	t.paused = true
	t.mu.Unlock()
	if first {
		t.r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: t.d.Target.Name,
			Message: fmt.Sprintf("the upload window closed during %s: stopped; the next backup continues", file)})
	}
}

// copyContext is the context of one file's copy: with an upload window,
// it ends when the window closes (Until, read on the run's clock), so a
// large file stops mid-way instead of running past the window.
func (t *targetRun) copyContext() (context.Context, context.CancelFunc) {
	if t.d.Until.IsZero() {
		return context.WithCancel(t.ctx)
	}
	return context.WithTimeout(t.ctx, t.d.Until.Sub(t.r.o.Now()))
}

// copy streams e from the library to the target, hashing the source bytes,
// and commits with a device read-back. When the upload window closes
// during the copy, the writer is aborted (a folder or SFTP target removes
// its temporary; a vault keeps its upload spool and the server its parts
// for the next run) and the error wraps errWindowClosed.
func (t *targetRun) copy(e *entry, buf []byte) (store.Receipt, error) {
	ctx, cancel := t.copyContext()
	defer cancel()
	rc, err := t.copyIn(ctx, e, buf)
	if err != nil && ctx.Err() != nil && t.ctx.Err() == nil {
		return store.Receipt{}, fmt.Errorf("%w (%v)", errWindowClosed, err)
	}
	return rc, err
}

func (t *targetRun) copyIn(ctx context.Context, e *entry, buf []byte) (store.Receipt, error) {
	f, err := t.r.libRoot.Open(t.r.storedName(e))
	if err != nil {
		return store.Receipt{}, fmt.Errorf("cannot read it from the library: %w", unwrapPath(err))
	}
	defer f.Close()
	w, err := t.d.Store.Create(ctx, e.path, e.libSize)
	if err != nil {
		return store.Receipt{}, err
	}
	var src io.Reader = f
	if t.d.Pace != nil {
		src = t.d.Pace(ctx, f)
	}
	h := digest.New()
	name := t.d.Target.Name
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			w.Abort()
			return store.Receipt{}, err
		}
		k, rerr := src.Read(buf)
		if k > 0 {
			h.Write(buf[:k])
			if _, werr := w.Write(buf[:k]); werr != nil {
				w.Abort()
				return store.Receipt{}, werr
			}
			n += int64(k)
			t.r.o.Sink.Emit(progress.Event{Kind: progress.Written, Dest: name, Bytes: int64(k)})
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			w.Abort()
			return store.Receipt{}, fmt.Errorf("read error in the library: %w", unwrapPath(rerr))
		}
	}
	if got := h.Sum(); got != e.sum || n != e.libSize {
		w.Abort()
		fi, err := f.Stat()
		if err == nil && (fi.Size() != e.libSize || fi.ModTime().UnixNano() != e.libMtime) {
			return store.Receipt{}, errors.New("the library file changed during the backup: not copied; the next backup picks it up")
		}
		return store.Receipt{}, fmt.Errorf("the library file no longer matches the catalog (sha256 %s…, expected %s…) although its size and date did not change: it may be damaged; not copied — check it with `trove verify library`",
			got.String()[:12], e.sum.String()[:12])
	}
	rc, err := w.Commit(ctx, e.sum)
	if err != nil {
		w.Abort()
		return store.Receipt{}, err
	}
	return rc, nil
}

// record queues a verified copy for the catalog and reports it.
func (t *targetRun) record(e *entry, rc store.Receipt) {
	t.rec.put(catalog.Copy{FileID: e.id, TargetID: t.d.Target.ID, Path: rc.Stored, Sum: rc.Sum, State: catalog.CopyOK,
		VerifiedAt: rc.VerifiedAt, WrittenAt: rc.VerifiedAt})
	t.mu.Lock()
	t.tr.Changed = true
	t.tr.Pending--
	t.mu.Unlock()
	t.r.o.Sink.Emit(progress.Event{Kind: progress.Verified, Dest: t.d.Target.Name, File: e.path, Bytes: rc.Size})
}

// finish settles the target's status and, when anything changed, rewrites
// its manifest, README and catalog snapshot.
func (t *targetRun) finish() {
	tr := &t.tr
	switch {
	case t.stopErr != nil:
		tr.Status, tr.Reason = StatusStopped, stopReason(tr.Name, t.stopErr)
	case t.ctx.Err() != nil:
		tr.Status, tr.Reason = StatusStopped, "interrupted"
	case tr.Failed > 0:
		tr.Status = StatusPartial
	case t.paused && tr.Pending > 0:
		tr.Status, tr.Reason = StatusPaused, "the upload window closed"
	case tr.Pending > 0:
		tr.Status = StatusPartial
	default:
		tr.Status = StatusDone
	}
	gone := t.stopErr != nil && (errors.Is(t.stopErr, store.ErrNotAttached) || errors.Is(t.stopErr, store.ErrDeviceChanged) ||
		errors.Is(t.stopErr, store.ErrWrongTarget))
	if gone || t.ctx.Err() != nil {
		return
	}
	cur, err := t.r.o.Catalog.TargetByName(tr.Name)
	if err != nil {
		t.r.problem(Problem{Dest: tr.Name, Err: err.Error()})
		return
	}
	now := t.r.o.Now()
	if tr.Changed { // LastSeenAt was set when the target was attached
		cur.LastSeenAt, cur.LastWriteAt = now, now
		if err := t.r.o.Catalog.UpdateTarget(cur); err != nil {
			t.r.problem(Problem{Dest: tr.Name, Err: err.Error()})
			return
		}
	}
	ms, ok := t.d.Store.(store.MetaStore)
	// A changed config travels even when no file did.
	if !ok || !(tr.Changed || t.r.scanChanged || targetmeta.ConfigStale(t.r.o.Catalog, cur) || metaMissing(t.ctx, ms, cur)) {
		return
	}
	if err := targetmeta.Refresh(t.ctx, t.r.o.Catalog, cur, ms, now); err != nil {
		t.r.problem(Problem{Dest: tr.Name, Err: fmt.Sprintf("could not update the manifest and catalog copy: %v", err)})
	}
}

// metaMissing reports whether the target lacks a manifest Trove recorded.
func metaMissing(ctx context.Context, ms store.MetaStore, t catalog.Target) bool {
	if t.ManifestSum == "" {
		return true
	}
	rc, err := ms.ReadMeta(ctx, targetmeta.ManifestName)
	if err != nil {
		return true
	}
	rc.Close()
	return false
}

// copyRecorder writes verified copies to the catalog in small batches (one
// transaction each), so thousands of small files do not cost a catalog
// fsync each. A copy published but not yet recorded when the process dies
// is adopted by the next run (it hashes right).
type copyRecorder struct {
	cat  *catalog.Catalog
	ch   chan catalog.Copy
	done chan struct{}
	err  error // read after done is closed
	// failed is set when a write failed: the target stops taking files.
	failed atomic.Bool
}

const (
	copyBatch = 64
	copyDelay = 200 * time.Millisecond
)

func newCopyRecorder(ctx context.Context, cat *catalog.Catalog) *copyRecorder {
	c := &copyRecorder{cat: cat, ch: make(chan catalog.Copy, copyBatch), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		var batch []catalog.Copy
		tick := time.NewTicker(copyDelay)
		defer tick.Stop()
		flush := func() {
			if len(batch) == 0 || c.err != nil {
				return
			}
			// Recorded even when the run is being cancelled: the copies are on the device.
			c.err = cat.PutCopies(context.WithoutCancel(ctx), batch)
			if c.err != nil {
				c.failed.Store(true)
			}
			batch = batch[:0]
		}
		for {
			select {
			case cp, ok := <-c.ch:
				if !ok {
					flush()
					return
				}
				batch = append(batch, cp)
				if len(batch) >= copyBatch {
					flush()
				}
			case <-tick.C:
				flush()
			}
		}
	}()
	return c
}

func (c *copyRecorder) put(cp catalog.Copy) { c.ch <- cp }

// close records what is queued and reports the first catalog error.
func (c *copyRecorder) close() error {
	close(c.ch)
	<-c.done
	return c.err
}
