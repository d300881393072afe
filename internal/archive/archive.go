// Package archive carries a delivered project onto long-term targets and,
// when that is safe, releases it from the library.
//
// A run has two phases.
//
// Copy: every file of the project gets a copy on each archive target,
// streamed from a copy that counts (the library's first) with store.Copy:
// hashed on the way, written durably and read back from the device. A copy
// already recorded there is kept; an unrecorded object already at the name
// (left by an interrupted run) is read back and recorded when it holds the
// right content, or moved into the target's versions area when it does not.
// When every file is on a target, the archive is recorded
// (catalog.RecordArchive).
//
// Release (unless KeepLibrary): the library's copy is deleted only when the
// policy holds without it, and the copies that make it hold are read back
// from their devices and hashed NOW: a copy the catalog merely believes good
// (or one on a target that is not attached) never counts for a release. The
// library file itself is hashed first, so an edit made since the last backup
// is never thrown away. The decision is all or nothing: when any file of
// the project would fall short, nothing is released and Result.NotReleased
// says why. Only then is each library file removed, and its library copy
// forgotten and released_at set in the catalog.
//
// Crash safety: nothing is deleted before the archive copies are verified,
// so an interrupted run leaves at least the library copy and the copies
// already made (two copies, never zero). A crash between removing a library
// file and recording it leaves a library copy row whose file is gone; the
// next run re-verifies the other copies and records the release. Running
// archive again always finishes the job (it is idempotent).
package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/policy"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
)

// Target is an attached target.
type Target struct {
	Target catalog.Target
	Store  store.Store
}

// Options configure a run.
type Options struct {
	Catalog *catalog.Catalog
	Project string
	Files   []catalog.File // the project's files; deleted ones are ignored
	Library Target         // the library, attached (source of copies; released from)
	To      []Target       // the archive targets, attached
	// Sources are other attached targets: they may supply a copy when the
	// library has none, and their copies are re-read and count for the
	// release like the archive targets'.
	Sources []Target
	// Targets is every target the catalog knows (medium, location and
	// device of each copy for the policy; names of the ones not attached).
	Targets     []catalog.Target
	Rule        policy.Rule
	Home        string // the library's location (off-site is anywhere else)
	KeepLibrary bool   // copy and verify, but never release
	Sink        progress.Sink
	Now         func() time.Time
	Args        string // recorded with the run
}

// Problem is one file that could not be archived or checked.
type Problem struct {
	File    string `json:"file,omitempty"`
	Target  string `json:"target,omitempty"`
	Message string `json:"message"`
}

// Result is the outcome of a run.
type Result struct {
	Project    string   `json:"project"`
	Files      int      `json:"files"`
	Bytes      int64    `json:"bytes"`
	Copied     int      `json:"copied"`      // copies written this run
	Present    int      `json:"present"`     // copies that were already on the archive targets
	ArchivedTo []string `json:"archived_to"` // archive targets holding every file now
	Rechecked  int      `json:"rechecked"`   // copies read back from their devices for the release
	Released   int      `json:"released"`    // library files released this run
	// AlreadyReleased counts files the library had released before this run.
	AlreadyReleased int  `json:"already_released"`
	KeptInLibrary   bool `json:"kept_in_library"`
	// NotReleased says why the project stays in the library (empty when it
	// was released or KeepLibrary was asked).
	NotReleased []string `json:"not_released"`
	// Uncounted names targets holding copies that were not attached, so
	// their copies did not count for the release.
	Uncounted []string  `json:"uncounted"`
	Problems  []Problem `json:"problems"`
}

// OK reports whether every file is archived and, unless kept, released.
func (r *Result) OK() bool { return len(r.Problems) == 0 && len(r.NotReleased) == 0 }

// Done reports whether the library no longer holds any file of the project.
func (r *Result) Done() bool {
	return !r.KeptInLibrary && len(r.NotReleased) == 0 && len(r.Problems) == 0 && r.Released+r.AlreadyReleased == r.Files
}

// ErrNoFiles: the project has no files in the catalog.
var ErrNoFiles = errors.New("no files in the catalog for this project")

type runner struct {
	o     Options
	res   *Result
	buf   []byte
	byID  map[string]Target         // attached targets (library, To, Sources)
	known map[string]catalog.Target // every target
	now   time.Time
}

// Run archives o.Project. The error is for what stopped the run as a whole
// (the catalog, cancellation); single files are in Result.Problems.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sink == nil {
		o.Sink = progress.Discard()
	}
	if o.Library.Store == nil {
		return nil, errors.New("archive: the library is not attached")
	}
	if len(o.To) == 0 {
		return nil, errors.New("archive: no archive target given")
	}
	var files []catalog.File
	for _, f := range o.Files {
		if f.DeletedAt.IsZero() {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("archive %s: %w", o.Project, ErrNoFiles)
	}
	runID, err := o.Catalog.BeginRun("archive", o.Args, o.Now())
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, buf: make([]byte, 1<<20), byID: map[string]Target{}, known: map[string]catalog.Target{},
		res: &Result{Project: o.Project, Files: len(files), ArchivedTo: []string{}, NotReleased: []string{},
			Uncounted: []string{}, Problems: []Problem{}, KeptInLibrary: o.KeepLibrary}}
	for _, t := range o.Targets {
		r.known[t.ID] = t
	}
	for _, t := range append(append([]Target{o.Library}, o.To...), o.Sources...) {
		r.byID[t.Target.ID] = t
		r.known[t.Target.ID] = t.Target
	}
	for _, f := range files {
		r.res.Bytes += f.Size
	}
	runErr := r.run(ctx, files)
	status, summary := "ok", r.summary()
	switch {
	case runErr != nil && ctx.Err() != nil:
		status = "interrupted"
	case runErr != nil || !r.res.OK():
		status = "failed"
	}
	var probs []catalog.Problem
	for _, p := range r.res.Problems {
		probs = append(probs, catalog.Problem{Path: p.File, Target: p.Target, Message: p.Message})
	}
	for _, n := range r.res.NotReleased {
		probs = append(probs, catalog.Problem{Message: "not released: " + n})
	}
	if err := o.Catalog.EndRun(runID, status, summary, probs, o.Now()); err != nil && runErr == nil {
		runErr = err
	}
	return r.res, runErr
}

func (r *runner) summary() string {
	s := fmt.Sprintf("%s: %d files, %d copied, %d already there, archived to %s", r.o.Project, r.res.Files,
		r.res.Copied, r.res.Present, strings.Join(r.res.ArchivedTo, ", "))
	switch {
	case r.res.KeptInLibrary:
		s += "; kept in the library"
	case len(r.res.NotReleased) > 0:
		s += "; not released"
	default:
		s += fmt.Sprintf("; %d released from the library", r.res.Released)
	}
	return s
}

func (r *runner) problem(f, target, msg string) {
	r.res.Problems = append(r.res.Problems, Problem{File: f, Target: target, Message: msg})
	r.o.Sink.Emit(progress.Event{Kind: progress.Problem, File: f, Dest: target, Err: msg})
}

func (r *runner) run(ctx context.Context, files []catalog.File) error {
	for _, t := range r.o.To {
		r.o.Sink.Emit(progress.Event{Kind: progress.Plan, Dest: t.Target.Name, Files: len(files), Bytes: r.res.Bytes})
	}
	complete := map[string]bool{}
	for _, t := range r.o.To {
		complete[t.Target.ID] = true
	}
	wrote := map[string]bool{}
	for _, f := range files {
		copies, err := r.o.Catalog.Copies(f.ID)
		if err != nil {
			return err
		}
		for _, t := range r.o.To {
			if err := ctx.Err(); err != nil {
				return err
			}
			written, err := r.ensure(ctx, f, copies, t)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				var fatal catalogError
				if errors.As(err, &fatal) {
					return fatal.err
				}
				complete[t.Target.ID] = false
				r.problem(f.Path, t.Target.Name, err.Error())
				continue
			}
			wrote[t.Target.ID] = wrote[t.Target.ID] || written
		}
	}
	now := r.o.Now()
	for _, t := range r.o.To {
		if wrote[t.Target.ID] {
			if err := r.o.Catalog.MarkTargetWritten(t.Target.ID, now); err != nil {
				return err
			}
		}
		if !complete[t.Target.ID] {
			continue
		}
		if err := r.o.Catalog.RecordArchive(r.o.Project, t.Target.ID, now); err != nil {
			return err
		}
		r.res.ArchivedTo = append(r.res.ArchivedTo, t.Target.Name)
	}
	if len(r.res.Problems) > 0 {
		if !r.o.KeepLibrary {
			r.res.NotReleased = append(r.res.NotReleased, "some files could not be archived (see the problems above); run archive again")
		}
		return nil
	}
	if r.o.KeepLibrary {
		return nil
	}
	return r.release(ctx, files)
}

// catalogError stops the run: the catalog could not be written.
type catalogError struct{ err error }

func (e catalogError) Error() string { return e.err.Error() }

// ensure makes sure t holds a verified copy of f. It reports whether it
// wrote one.
func (r *runner) ensure(ctx context.Context, f catalog.File, copies []catalog.Copy, t Target) (bool, error) {
	for _, cp := range copies {
		if cp.TargetID == t.Target.ID && cp.Counts(f) {
			r.res.Present++
			r.o.Sink.Emit(progress.Event{Kind: progress.Skipped, Dest: t.Target.Name, File: f.Path, Bytes: f.Size,
				Message: "already archived there"})
			return false, nil
		}
	}
	now := r.o.Now()
	if info, err := t.Store.Stat(ctx, f.Path); err == nil {
		// Left by an interrupted run (or put there by hand): trust it only
		// after reading it back.
		sum, n, err := r.hash(ctx, t.Store, f.Path)
		if err != nil {
			return false, fmt.Errorf("read back the file already there: %w", err)
		}
		if sum == f.Sum && n == f.Size {
			cp := catalog.Copy{FileID: f.ID, TargetID: t.Target.ID, Path: info.Stored, Sum: f.Sum, State: catalog.CopyOK,
				VerifiedAt: r.o.Now(), WrittenAt: info.ModTime}
			if err := r.o.Catalog.PutCopy(ctx, cp); err != nil {
				return false, catalogError{err}
			}
			r.res.Present++
			r.o.Sink.Emit(progress.Event{Kind: progress.Skipped, Dest: t.Target.Name, File: f.Path, Bytes: f.Size,
				Message: "already there, read back and recorded"})
			return false, nil
		}
		p, ok := t.Store.(store.Preserver)
		if !ok {
			return false, fmt.Errorf("a different file is already at %s (not overwritten)", info.Stored)
		}
		vp, err := p.Preserve(ctx, f.Path, now)
		if err != nil {
			return false, fmt.Errorf("move the damaged file at %s aside: %w", info.Stored, err)
		}
		if err := r.o.Catalog.KeepVersion(ctx, catalog.Version{FileID: f.ID, TargetID: t.Target.ID, Path: vp, Sum: sum,
			Size: n, Reason: "corrupt", CreatedAt: now}); err != nil {
			return false, catalogError{err}
		}
		r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: t.Target.Name,
			Message: fmt.Sprintf("%s on %s did not match (sha256 %s…): kept as %s, copying again", f.Path, t.Target.Name, sum.String()[:12], vp)})
	} else if !errors.Is(err, store.ErrNotExist) {
		return false, err
	}
	var tried []string
	for _, src := range r.sources(f, copies) {
		rc, err := store.Copy(ctx, src.Store, f.Path, t.Store, f.Path, f.Sum, f.Size, r.buf)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			// A source that rotted or vanished: try the next one. Anything
			// else is about the archive target.
			srcProblem := errors.Is(err, store.ErrNotExist) ||
				(errors.Is(err, store.ErrCorrupt) && strings.Contains(err.Error(), "no longer matches"))
			if !srcProblem {
				return false, err
			}
			tried = append(tried, fmt.Sprintf("%s: %v", src.Target.Name, err))
			continue
		}
		cp := catalog.Copy{FileID: f.ID, TargetID: t.Target.ID, Path: rc.Stored, Sum: f.Sum, State: catalog.CopyOK,
			VerifiedAt: rc.VerifiedAt, WrittenAt: now}
		if err := r.o.Catalog.PutCopy(ctx, cp); err != nil {
			return false, catalogError{err}
		}
		r.res.Copied++
		r.o.Sink.Emit(progress.Event{Kind: progress.Verified, Dest: t.Target.Name, File: f.Path, Bytes: f.Size})
		return true, nil
	}
	if len(tried) == 0 {
		return false, errors.New("no verified copy on an attached target to copy from")
	}
	return false, fmt.Errorf("no copy could be read intact: %s", strings.Join(tried, "; "))
}

// sources lists the attached copies of f that count, the library's first,
// then the most recently verified.
func (r *runner) sources(f catalog.File, copies []catalog.Copy) []Target {
	cps := slices.Clone(copies)
	lib := r.o.Library.Target.ID
	slices.SortStableFunc(cps, func(a, b catalog.Copy) int {
		if (a.TargetID == lib) != (b.TargetID == lib) {
			if a.TargetID == lib {
				return -1
			}
			return 1
		}
		return b.VerifiedAt.Compare(a.VerifiedAt)
	})
	var out []Target
	for _, cp := range cps {
		if t, ok := r.byID[cp.TargetID]; ok && cp.Counts(f) {
			out = append(out, t)
		}
	}
	return out
}

// hash reads name from the device and returns its sha256 and length.
func (r *runner) hash(ctx context.Context, s store.Store, name string) (digest.Sum, int64, error) {
	rc, err := s.Open(ctx, name)
	if err != nil {
		return digest.Sum{}, 0, err
	}
	defer rc.Close()
	h := digest.New()
	n, err := io.CopyBuffer(h, ctxReader{ctx, rc}, r.buf)
	if err != nil {
		return digest.Sum{}, n, err
	}
	return h.Sum(), n, nil
}

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

// pending is a file whose library copy may be released.
type pending struct {
	f       catalog.File
	libGone bool // the library file is already gone (a crash after removing it)
}

// release re-verifies the copies outside the library, evaluates the policy
// without the library copy, and releases the project when every file holds.
func (r *runner) release(ctx context.Context, files []catalog.File) error {
	lib := r.o.Library
	var todo []pending
	var results []policy.FileResult
	blocked := map[string]int{}
	uncounted := map[string]bool{}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		copies, err := r.o.Catalog.Copies(f.ID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(copies, func(cp catalog.Copy) bool { return cp.TargetID == lib.Target.ID }) {
			r.res.AlreadyReleased++ // the library holds no copy (released before)
			continue
		}
		p := pending{f: f}
		libSum, n, err := r.hash(ctx, lib.Store, f.Path)
		switch {
		case errors.Is(err, store.ErrNotExist):
			p.libGone = true
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.problem(f.Path, lib.Target.Name, fmt.Sprintf("cannot read the library file: %v", err))
			blocked["a library file could not be read (see the problems above)"]++
			continue
		case libSum != f.Sum || n != f.Size:
			blocked["the library file changed since it was last backed up (run `trove backup`, then archive again)"]++
			r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: lib.Target.Name,
				Message: fmt.Sprintf("%s changed in the library since the last backup: not released", f.Path)})
			continue
		}
		facts := policy.Facts{Home: r.o.Home}
		for _, cp := range copies {
			if cp.TargetID == lib.Target.ID {
				continue
			}
			pc, ok, err := r.recheck(ctx, f, cp)
			if err != nil {
				return err
			}
			if !ok {
				uncounted[r.known[cp.TargetID].Name] = true
				continue
			}
			facts.Copies = append(facts.Copies, pc)
		}
		results = append(results, policy.FileResult{Path: f.Path, Size: f.Size, Result: policy.Evaluate(r.o.Rule, facts, r.o.Now())})
		todo = append(todo, p)
	}
	for n := range uncounted {
		r.res.Uncounted = append(r.res.Uncounted, n)
	}
	slices.Sort(r.res.Uncounted)
	ps := policy.Summarise(r.o.Project, results)
	if len(results) > 0 && !ps.Protected {
		for _, why := range ps.Reasons {
			r.res.NotReleased = append(r.res.NotReleased, why)
		}
	}
	for why, n := range blocked {
		r.res.NotReleased = append(r.res.NotReleased, fmt.Sprintf("%d of %d files: %s", n, r.res.Files, why))
	}
	if len(r.res.NotReleased) > 0 {
		return nil
	}
	return r.remove(ctx, todo)
}

// recheck reads a copy outside the library back from its device now and
// records what it found. ok is false when the copy's target is not attached
// (it cannot count for a release).
func (r *runner) recheck(ctx context.Context, f catalog.File, cp catalog.Copy) (policy.Copy, bool, error) {
	kt := r.known[cp.TargetID]
	pc := policy.Copy{Target: kt.Name, Medium: kt.Medium, Location: kt.Location, Device: kt.Device}
	t, attached := r.byID[cp.TargetID]
	if !attached {
		return pc, false, nil
	}
	if cp.Sum != f.Sum {
		pc.State = policy.Stale
		return pc, true, nil
	}
	r.res.Rechecked++
	sum, n, err := r.hash(ctx, t.Store, f.Path)
	now := r.o.Now()
	var state, problem string
	switch {
	case err != nil && ctx.Err() != nil:
		return pc, false, ctx.Err()
	case errors.Is(err, store.ErrNotExist):
		state, problem = catalog.CopyMissing, "not found (found by archive)"
	case err != nil:
		// Unreadable now: it does not count; its recorded state stays.
		pc.State = policy.Unverified
		r.res.Problems = append(r.res.Problems, Problem{File: f.Path, Target: t.Target.Name, Message: fmt.Sprintf("cannot read the copy: %v", err)})
		return pc, true, nil
	case sum != f.Sum || n != f.Size:
		state = catalog.CopyCorrupt
		problem = fmt.Sprintf("content differs (found by archive: sha256 %s…, expected %s…)", sum.String()[:12], f.Sum.String()[:12])
	default:
		state = catalog.CopyOK
	}
	if err := r.o.Catalog.SetCopyState(f.ID, cp.TargetID, state, now, problem); err != nil {
		return pc, false, err
	}
	pc.State = policy.CopyState(state)
	if state == catalog.CopyOK {
		pc.VerifiedAt = now
	} else {
		r.o.Sink.Emit(progress.Event{Kind: progress.Problem, Dest: t.Target.Name, File: f.Path, Err: state + ": " + problem})
	}
	return pc, true, nil
}

// releaseBatch is how many releases are recorded per catalog transaction.
const releaseBatch = 64

// remove deletes the library files and records each release.
func (r *runner) remove(ctx context.Context, todo []pending) error {
	lib := r.o.Library
	var ids []int64
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		err := r.o.Catalog.ReleaseFromLibrary(context.WithoutCancel(ctx), ids, lib.Target.ID, r.o.Now())
		if err == nil {
			r.res.Released += len(ids)
		}
		ids = ids[:0]
		return err
	}
	dirs := map[string]bool{}
	for _, p := range todo {
		if ctx.Err() != nil {
			break
		}
		if !p.libGone {
			if err := lib.Store.Remove(ctx, p.f.Path); err != nil && !errors.Is(err, store.ErrNotExist) {
				r.problem(p.f.Path, lib.Target.Name, fmt.Sprintf("cannot remove the library file: %v", err))
				continue
			}
		}
		ids = append(ids, p.f.ID)
		dirs[filepath.Dir(filepath.FromSlash(p.f.Path))] = true
		r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: lib.Target.Name,
			Message: "released " + p.f.Path + " from the library"})
		if len(ids) >= releaseBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	r.pruneDirs(dirs)
	return ctx.Err()
}

// pruneDirs removes the project's folders in the library once they are
// empty (best effort: os.Remove never removes a folder that holds anything).
func (r *runner) pruneDirs(dirs map[string]bool) {
	root := r.o.Library.Target.Path
	if root == "" {
		return
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	slices.Sort(list)
	slices.Reverse(list)
	for _, d := range list {
		for d != "." && d != string(filepath.Separator) && filepath.IsLocal(d) {
			if os.Remove(filepath.Join(root, d)) != nil {
				break
			}
			d = filepath.Dir(d)
		}
	}
}
