package ingest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
)

// finish settles one file after its single read: it decides whether the
// content is new, adopts or refuses files already at the path, commits every
// destination (fsync, read-back from the device, publish), and records the
// verified copies in the catalog.
func (p *pipeline) finish(j *job) {
	it := j.it
	for _, dw := range j.writes {
		<-dw.c.done
	}
	<-j.hc.done
	if j.readErr != nil {
		p.abortWrites(j)
		if !p.stopping(j.readErr) {
			p.r.problem(Problem{File: it.display, Err: j.readErr.Error()})
		}
		return
	}
	sum := j.hasher.Sum()
	for _, dw := range j.writes {
		if dw.c.err != nil {
			p.destError(it, dw.d, fmt.Errorf("write %s: %w", it.path, dw.c.err))
			dw.w.Abort()
		}
	}
	if it.hasHint && sum != it.hint {
		// Same name, size and time as a known file, different content.
		p.abortWrites(j)
		p.again(it, func() error { it.hasHint = false; return p.r.replan(it) }, "content differs from the file it resembles")
		return
	}
	if !it.hasHint {
		known, err := p.r.o.Catalog.FilesBySum(sum)
		if err != nil {
			p.abortWrites(j)
			p.r.setFatal(err)
			return
		}
		if len(known) > 0 {
			// The content is in the library already (another card, a copy of a folder).
			p.abortWrites(j)
			p.r.mu.Lock()
			k, _ := pickKnown(known, filepath.Base(it.src), nil)
			p.r.mu.Unlock()
			it.hint, it.hasHint, it.path = sum, true, k.Path
			complete, err := p.r.everywhere(k)
			if err != nil {
				p.r.setFatal(err)
				return
			}
			if complete {
				for _, d := range p.r.dests {
					p.r.o.Sink.Emit(progress.Event{Kind: progress.Skipped, Dest: d.Target.Name, File: it.path, Bytes: it.size})
				}
				if err := p.record(it, sum, nil); err != nil {
					p.r.setFatal(err)
					p.cancel()
				}
				return
			}
			p.again(it, func() error { return nil }, "")
			return
		}
	}
	var copies []catalog.Copy
	now := p.r.o.Now()
	for _, d := range j.strays {
		ok, stored, err := p.sameContent(d, it.path, sum)
		if err != nil {
			p.destError(it, d, fmt.Errorf("check existing %s: %w", it.path, err))
			continue
		}
		if !ok {
			// A foreign file sits where this one would go: choose another name everywhere.
			p.abortWrites(j)
			p.again(it, func() error {
				it.avoid = append(it.avoid, it.path)
				it.hasHint = false
				return p.r.replan(it)
			}, fmt.Sprintf("%s already holds a different file at %s", d.Target.Name, it.path))
			return
		}
		copies = append(copies, catalog.Copy{TargetID: d.Target.ID, Path: stored, State: catalog.CopyOK,
			VerifiedAt: now, WrittenAt: now})
		p.r.o.Sink.Emit(progress.Event{Kind: progress.Verified, Dest: d.Target.Name, File: it.path, Bytes: it.size})
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var retry bool
	for _, dw := range j.writes {
		if dw.c.err != nil {
			continue
		}
		wg.Add(1)
		go func(dw *destWrite) {
			defer wg.Done()
			rc, err := dw.w.Commit(p.ctx, sum)
			if err != nil {
				dw.w.Abort()
				if errors.Is(err, store.ErrExist) {
					mu.Lock()
					retry = true
					mu.Unlock()
					return
				}
				p.destError(it, dw.d, fmt.Errorf("%s: %w", it.path, err))
				return
			}
			mu.Lock()
			copies = append(copies, catalog.Copy{TargetID: dw.d.Target.ID, Path: rc.Stored, State: catalog.CopyOK,
				VerifiedAt: rc.VerifiedAt, WrittenAt: rc.VerifiedAt})
			mu.Unlock()
			p.r.o.Sink.Emit(progress.Event{Kind: progress.Verified, Dest: dw.d.Target.Name, File: it.path, Bytes: rc.Size})
		}(dw)
	}
	wg.Wait()
	if len(copies) > 0 || len(j.have) > 0 {
		if err := p.record(it, sum, copies); err != nil {
			p.r.setFatal(err)
			p.cancel()
			return
		}
	}
	if retry {
		// Something appeared at the path between planning and publishing: the
		// next pass adopts it if it is this content, or picks another name.
		p.again(it, func() error { it.hint, it.hasHint = sum, len(copies) > 0; return nil },
			"a file appeared at "+it.path+" during the run")
	}
}

// again queues a file for the second pass, or reports it when it is already
// in the second pass (no endless loops).
func (p *pipeline) again(it *item, prepare func() error, why string) {
	if it.pass >= 2 {
		if why == "" {
			why = "could not be settled"
		}
		p.r.problem(Problem{File: it.display, Err: why + ": not copied"})
		return
	}
	if err := prepare(); err != nil {
		p.r.setFatal(err)
		return
	}
	p.r.requeue(it)
}

func (p *pipeline) abortWrites(j *job) {
	for _, dw := range j.writes {
		dw.w.Abort()
	}
}

// sameContent reads the file at name on d from the device and compares it
// with sum; it returns the stored name when it matches.
func (p *pipeline) sameContent(d Dest, name string, sum digest.Sum) (bool, string, error) {
	info, err := d.Store.Stat(p.ctx, name)
	if err != nil {
		return false, "", err
	}
	rc, err := d.Store.Open(p.ctx, name)
	if err != nil {
		return false, "", err
	}
	defer rc.Close()
	got, _, err := digest.Reader(rc, nil)
	if err != nil {
		return false, "", err
	}
	stored := info.Stored
	if stored == "" {
		stored = name
	}
	return got == sum, stored, nil
}

// record writes the file and its new verified copies to the catalog and
// remembers the source fingerprint. A catalog that cannot be written stops
// the run (fail closed): unrecorded copies are adopted by the next run.
func (p *pipeline) record(it *item, sum digest.Sum, copies []catalog.Copy) error {
	f := catalog.File{Path: it.path, Project: p.r.o.Project, Sum: sum, Size: it.size, Kind: string(it.kind),
		CapturedAt: captureString(it), DateSource: it.capture.Source, Camera: it.capture.Model,
		OriginalName: filepath.Base(it.src), Source: it.src, AddedAt: p.r.o.Now(), RunID: p.r.res.RunID}
	isNew := true
	if existing, err := p.r.o.Catalog.FileByPath(it.path); err == nil {
		f, isNew = existing, false
	}
	var lib *catalog.LibStat
	for _, cp := range copies {
		if cp.TargetID != p.r.o.Library.Target.ID {
			continue
		}
		// Remember the library file's size and mtime, so backup knows it unchanged without reading it.
		if info, err := p.r.o.Library.Store.Stat(p.ctx, it.path); err == nil {
			lib = &catalog.LibStat{Size: info.Size, MtimeNs: info.ModTime.UnixNano()}
		}
	}
	// Verified copies are recorded even when the run is being interrupted:
	// the fact is cheap to keep and saves re-reading them next time. One
	// transaction per file: the copies, the library stat and the card hint.
	if _, err := p.r.o.Catalog.RecordIngest(context.WithoutCancel(p.ctx), f, copies, lib, fingerprint(it)); err != nil {
		return fmt.Errorf("record %s in the catalog: %w", it.path, err)
	}
	p.r.mu.Lock()
	fr := p.r.results[it]
	fr.Path, fr.Sum = it.path, sum.String()
	fr.Status = "known"
	if isNew {
		fr.Status = "copied"
		p.r.res.Copied++
		p.r.res.Bytes += it.size
	} else {
		p.r.res.Known++
		p.r.o.Sink.Emit(progress.Event{Kind: progress.Skipped, File: it.display,
			Message: fmt.Sprintf("already in the library as %s (project %s)", f.Path, f.Project)})
	}
	p.r.mu.Unlock()
	return nil
}

func captureString(it *item) string {
	if it.capture.HasOffset {
		return it.capture.Time.Format("2006-01-02T15:04:05Z07:00")
	}
	return it.capture.Time.Format("2006-01-02T15:04:05")
}
