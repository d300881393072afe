// Package repair replaces bad copies (found missing or corrupt by verify)
// from a copy that verifies now.
//
// For each bad copy of a file on a target being repaired:
//
//  1. The bad copy is read again: if it now holds the file's content (a
//     previous repair was interrupted after its write), it is simply
//     recorded as good.
//  2. A source is chosen among the file's copies on the other attached
//     targets (copies recorded ok first, most recently verified first) and
//     read from the device and hashed now: a copy merely believed good is
//     never used. A source that fails this check is itself recorded
//     corrupt or missing.
//  3. Only then is the bad copy set aside with store.Preserver.Preserve
//     (into the target's versions area, recorded as a version with reason
//     "corrupt"); it is never deleted.
//  4. The good copy is streamed with store.Copy, which hashes the source
//     bytes again on the way and publishes the new copy only after a
//     durable write and a device read-back; the copy is then recorded ok.
//
// A file with no good copy on any attached target is "unrecoverable": it
// is reported with the targets that are away and might hold one, and
// nothing is moved. Repair never lowers the number of good copies: it only
// moves copies that failed a check, and only once a good source is proven.
//
// Interrupted runs converge: a copy set aside but not yet replaced is
// simply missing on the next run; a new copy published but not yet
// recorded is found good at step 1.
//
// The library is a target like the others, so a rotted library file is
// healed from a backup — except when the library file was modified after
// Trove last read it (its mtime moved): that may be an edit, so it is left
// alone with a hint (run `trove backup` to record the edit).
//
// Copies that hold an older version of an edited file (stale copies) are
// backup's business and are not touched.
package repair

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/targetmeta"
)

// Target is an attached target.
type Target struct {
	Target catalog.Target
	Store  store.Store
}

// Options configure a run.
type Options struct {
	Catalog *catalog.Catalog
	// Sources are every attached target: the targets repaired and the places
	// good copies are read from.
	Sources []Target
	// Repair names the targets whose bad copies are replaced (nil: all of
	// Sources). Each must be in Sources.
	Repair []string
	// Away are the known targets that are not attached (named when a file
	// cannot be repaired without them).
	Away []catalog.Target
	Sink progress.Sink
	Now  func() time.Time
	Args string
}

// Fixed is one repaired copy.
type Fixed struct {
	File    string `json:"file"`
	Target  string `json:"target"`
	From    string `json:"from,omitempty"`    // target the good copy came from (empty: the copy was good already)
	Was     string `json:"was"`               // what was wrong: "missing", "corrupt: content differs"...
	Version string `json:"version,omitempty"` // where the bad copy was set aside on the target
}

// Problem is a copy that was not repaired, and why.
type Problem struct {
	File    string `json:"file,omitempty"`
	Target  string `json:"target,omitempty"`
	Message string `json:"message"`
}

// Result is the outcome of a run.
type Result struct {
	Repaired      []Fixed   `json:"repaired"`
	Unrecoverable []Problem `json:"unrecoverable"` // no good copy on any attached target
	Problems      []Problem `json:"problems"`      // other failures (a target full, a write error...)
	Skipped       []Problem `json:"skipped"`       // left alone on purpose (a library file edited since)
	Notes         []string  `json:"notes"`
	Away          []string  `json:"not_attached"`
	Bytes         int64     `json:"bytes"`
}

// OK reports whether every bad copy was repaired.
func (r *Result) OK() bool {
	return len(r.Unrecoverable) == 0 && len(r.Problems) == 0 && len(r.Skipped) == 0
}

type runner struct {
	o       Options
	byID    map[string]Target
	awayByI map[string]catalog.Target
	res     *Result
	buf     []byte
	lost    map[int64]bool // files found unrecoverable (reported once)
}

// Run repairs the bad copies on the chosen targets. The error is for what
// stopped the run as a whole (catalog not writable, cancelled); everything
// else is in the Result.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sink == nil {
		o.Sink = progress.Discard()
	}
	r := &runner{o: o, byID: map[string]Target{}, awayByI: map[string]catalog.Target{}, buf: make([]byte, 1<<20), lost: map[int64]bool{},
		res: &Result{Repaired: []Fixed{}, Unrecoverable: []Problem{}, Problems: []Problem{}, Skipped: []Problem{},
			Notes: []string{}, Away: []string{}}}
	for _, s := range o.Sources {
		r.byID[s.Target.ID] = s
	}
	for _, t := range o.Away {
		r.awayByI[t.ID] = t
		r.res.Away = append(r.res.Away, t.Name)
	}
	var chosen []Target
	if o.Repair == nil {
		chosen = o.Sources
	} else {
		for _, name := range o.Repair {
			i := slices.IndexFunc(o.Sources, func(s Target) bool { return s.Target.Name == name })
			if i < 0 {
				return nil, fmt.Errorf("repair: target %s is not attached", name)
			}
			chosen = append(chosen, o.Sources[i])
		}
	}
	runID, err := o.Catalog.BeginRun("repair", o.Args, o.Now())
	if err != nil {
		return nil, err
	}
	var runErr error
	for _, t := range chosen {
		if runErr = r.target(ctx, t); runErr != nil {
			break
		}
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	status := "ok"
	switch {
	case runErr != nil && ctx.Err() != nil:
		status = "interrupted"
	case runErr != nil || !r.res.OK():
		status = "failed"
	}
	var cps []catalog.Problem
	for _, list := range [][]Problem{r.res.Unrecoverable, r.res.Problems, r.res.Skipped} {
		for _, p := range list {
			cps = append(cps, catalog.Problem{Path: p.File, Target: p.Target, Message: p.Message})
		}
	}
	summary := fmt.Sprintf("repaired %d of %d bad copies (%d unrecoverable, %d other problems)", len(r.res.Repaired),
		len(r.res.Repaired)+len(r.res.Unrecoverable), len(r.res.Unrecoverable), len(r.res.Problems))
	if err := o.Catalog.EndRun(runID, status, summary, cps, o.Now()); err != nil && runErr == nil {
		runErr = err
	}
	return r.res, runErr
}

// fatal marks an error that stops the run (the catalog cannot be written).
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }

// target repairs the bad copies on one target.
func (r *runner) target(ctx context.Context, t Target) error {
	all, err := r.o.Catalog.CopiesOnTarget(t.Target.ID)
	if err != nil {
		return err
	}
	var bad []catalog.TargetCopy
	var planBytes int64
	stale := 0
	for _, tc := range all {
		if t.Target.Kind == catalog.KindLibrary && !tc.File.DeletedAt.IsZero() {
			continue // removed from the library on purpose: never bring it back
		}
		switch {
		case tc.State == catalog.CopyMissing || tc.State == catalog.CopyCorrupt:
			bad = append(bad, tc)
			planBytes += tc.File.Size
		case tc.Sum != tc.File.Sum:
			stale++
		}
	}
	if stale > 0 {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s holds %d older versions of edited files: `trove backup` updates them",
			t.Target.Name, stale))
	}
	if len(bad) == 0 {
		return nil
	}
	r.o.Sink.Emit(progress.Event{Kind: progress.Plan, Dest: t.Target.Name, Files: len(bad), Bytes: planBytes})
	wrote := false
	for _, tc := range bad {
		if err := ctx.Err(); err != nil {
			return err
		}
		w, err := r.one(ctx, t, tc)
		if err != nil {
			var f fatal
			if errors.As(err, &f) {
				return f.err
			}
			return err
		}
		wrote = wrote || w
	}
	if !wrote {
		return nil
	}
	now := r.o.Now()
	if err := r.o.Catalog.MarkTargetWritten(t.Target.ID, now); err != nil {
		return err
	}
	if ms, ok := t.Store.(store.MetaStore); ok {
		cur, err := r.o.Catalog.TargetByName(t.Target.Name)
		if err == nil {
			err = targetmeta.Refresh(ctx, r.o.Catalog, cur, ms, now)
		}
		if err != nil {
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("could not update the manifest on %s: %v", t.Target.Name, err))
		}
	}
	return nil
}

func (r *runner) problem(list *[]Problem, file, target, msg string) {
	*list = append(*list, Problem{File: file, Target: target, Message: msg})
	r.o.Sink.Emit(progress.Event{Kind: progress.Problem, Dest: target, File: file, Err: msg})
}

// readNow hashes name on st from the device. missing is true when there is
// no such object.
func (r *runner) readNow(ctx context.Context, st store.Store, name string) (sum digest.Sum, n int64, missing bool, err error) {
	rc, err := st.Open(ctx, name)
	if errors.Is(err, store.ErrNotExist) {
		return sum, 0, true, nil
	}
	if err != nil {
		return sum, 0, false, err
	}
	defer rc.Close()
	sum, n, err = digest.Reader(rc, r.buf)
	return sum, n, false, err
}

// one repairs one bad copy. It reports whether it wrote to the target.
func (r *runner) one(ctx context.Context, t Target, tc catalog.TargetCopy) (bool, error) {
	f, tname := tc.File, t.Target.Name
	was := tc.State
	if tc.Problem != "" {
		was += ": " + tc.Problem
	}
	// 1. Is the copy good now?
	badSum, badSize, missing, err := r.readNow(ctx, t.Store, f.Path)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		// Unreadable: it will be set aside like a corrupt copy.
		missing = false
		badSum = digest.Sum{}
	}
	if !missing && err == nil && badSum == f.Sum {
		if err := r.o.Catalog.PutCopy(ctx, catalog.Copy{FileID: f.ID, TargetID: t.Target.ID, Path: tc.Path,
			Sum: f.Sum, State: catalog.CopyOK, VerifiedAt: r.o.Now(), WrittenAt: tc.WrittenAt}); err != nil {
			return false, fatal{err}
		}
		r.res.Repaired = append(r.res.Repaired, Fixed{File: f.Path, Target: tname, Was: was})
		r.o.Sink.Emit(progress.Event{Kind: progress.Verified, Dest: tname, File: f.Path, Bytes: badSize})
		return false, nil
	}
	// A library file changed after Trove read it may be an edit: leave it.
	if t.Target.Kind == catalog.KindLibrary && !missing && f.LibSize >= 0 {
		if info, err := t.Store.Stat(ctx, f.Path); err == nil && info.ModTime.UnixNano() != f.LibMtimeNs {
			r.problem(&r.res.Skipped, f.Path, tname, fmt.Sprintf(
				"not repaired: the library file was modified on %s, after Trove last read it; if you edited it, run `trove backup`; "+
					"to get Trove's version back, move the file away and run `trove repair` again",
				info.ModTime.Local().Format("2006-01-02 15:04")))
			return false, nil
		}
	}
	if r.lost[f.ID] {
		return false, nil // no good copy anywhere: already reported
	}
	// 2. Find a source that verifies now.
	cands, err := r.candidates(f, t.Target.ID)
	if err != nil {
		return false, fatal{err}
	}
	for _, src := range cands {
		ok, err := r.proveSource(ctx, src, f)
		if err != nil {
			return false, err
		}
		if !ok {
			continue
		}
		// 3. Set the bad copy aside (never deleted).
		version := ""
		if !missing {
			p, ok := t.Store.(store.Preserver)
			if !ok {
				r.problem(&r.res.Problems, f.Path, tname, "not repaired: this target cannot keep the bad copy aside")
				return false, nil
			}
			at := r.o.Now()
			version, err = p.Preserve(ctx, f.Path, at)
			if errors.Is(err, store.ErrNotExist) {
				version, err = "", nil // gone since we read it: nothing to keep
			}
			if err != nil {
				r.problem(&r.res.Problems, f.Path, tname, fmt.Sprintf("not repaired: could not set the bad copy aside: %v", err))
				return false, nil
			}
			if version != "" {
				if err := r.o.Catalog.AddVersion(catalog.Version{FileID: f.ID, TargetID: t.Target.ID, Path: version,
					Sum: badSum, Size: badSize, Reason: "corrupt", CreatedAt: at}); err != nil {
					return true, fatal{err}
				}
			}
			missing = true
		}
		// 4. Copy with hashing on the way and a device read-back.
		rc, err := store.Copy(ctx, src.st.Store, f.Path, t.Store, f.Path, f.Sum, f.Size, r.buf)
		if errors.Is(err, store.ErrCorrupt) && ctx.Err() == nil {
			// The source changed between the check and the copy: try the next one.
			r.markBad(src, f, catalog.CopyCorrupt, "content differs (found by repair)")
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			r.problem(&r.res.Problems, f.Path, tname, fmt.Sprintf("not repaired (the bad copy is kept in %s): %v", orNone(version), err))
			return true, nil
		}
		now := r.o.Now()
		if err := r.o.Catalog.PutCopy(ctx, catalog.Copy{FileID: f.ID, TargetID: t.Target.ID, Path: rc.Stored,
			Sum: f.Sum, State: catalog.CopyOK, VerifiedAt: rc.VerifiedAt, WrittenAt: now}); err != nil {
			return true, fatal{err}
		}
		if t.Target.Kind == catalog.KindLibrary {
			if info, err := t.Store.Stat(ctx, f.Path); err == nil {
				if err := r.o.Catalog.SetLibraryStat(f.ID, info.Size, info.ModTime.UnixNano()); err != nil {
					return true, fatal{err}
				}
			}
		}
		r.res.Repaired = append(r.res.Repaired, Fixed{File: f.Path, Target: tname, From: src.st.Target.Name, Was: was, Version: version})
		r.res.Bytes += rc.Size
		r.o.Sink.Emit(progress.Event{Kind: progress.Verified, Dest: tname, File: f.Path, Bytes: rc.Size})
		return true, nil
	}
	if !r.lost[f.ID] {
		r.lost[f.ID] = true
		r.problem(&r.res.Unrecoverable, f.Path, tname, r.unrecoverable(f, t.Target.ID))
	}
	return false, nil
}

func orNone(v string) string {
	if v == "" {
		return "no version (there was nothing to keep)"
	}
	return v
}

// source is a copy of the file on an attached target.
type source struct {
	st Target
	cp catalog.Copy
}

// candidates lists the file's copies on other attached targets that should
// hold its content: recorded ok first, then most recently verified first.
func (r *runner) candidates(f catalog.File, except string) ([]source, error) {
	cps, err := r.o.Catalog.Copies(f.ID)
	if err != nil {
		return nil, err
	}
	var out []source
	for _, cp := range cps {
		st, ok := r.byID[cp.TargetID]
		if !ok || cp.TargetID == except || cp.Sum != f.Sum {
			continue
		}
		if st.Target.Kind == catalog.KindLibrary && !f.DeletedAt.IsZero() {
			continue
		}
		out = append(out, source{st: st, cp: cp})
	}
	slices.SortStableFunc(out, func(a, b source) int {
		ao, bo := a.cp.State == catalog.CopyOK, b.cp.State == catalog.CopyOK
		if ao != bo {
			if ao {
				return -1
			}
			return 1
		}
		return b.cp.VerifiedAt.Compare(a.cp.VerifiedAt)
	})
	return out, nil
}

// proveSource reads a candidate from the device and hashes it. A candidate
// that fails is recorded as it is found (corrupt or missing).
func (r *runner) proveSource(ctx context.Context, s source, f catalog.File) (bool, error) {
	sum, _, missing, err := r.readNow(ctx, s.st.Store, f.Path)
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case missing:
		r.markBad(s, f, catalog.CopyMissing, "not found on the target (found by repair)")
		return false, nil
	case err != nil:
		r.markBad(s, f, catalog.CopyCorrupt, fmt.Sprintf("unreadable (found by repair): %v", err))
		return false, nil
	case sum != f.Sum:
		r.markBad(s, f, catalog.CopyCorrupt, "content differs (found by repair)")
		return false, nil
	}
	if err := r.o.Catalog.SetCopyState(f.ID, s.cp.TargetID, catalog.CopyOK, r.o.Now(), ""); err != nil {
		return false, fatal{err}
	}
	return true, nil
}

// markBad records what a check of a source copy found and reports it.
func (r *runner) markBad(s source, f catalog.File, state, msg string) {
	if err := r.o.Catalog.SetCopyState(f.ID, s.cp.TargetID, state, r.o.Now(), msg); err != nil {
		msg += fmt.Sprintf(" (could not record it: %v)", err)
	}
	if s.cp.State == catalog.CopyOK {
		r.problem(&r.res.Problems, f.Path, s.st.Target.Name, fmt.Sprintf("%s: %s", state, msg))
	}
}

// unrecoverable explains why no good copy was found.
func (r *runner) unrecoverable(f catalog.File, target string) string {
	var away []string
	if cps, err := r.o.Catalog.Copies(f.ID); err == nil {
		for _, cp := range cps {
			// Name only away copies not already known to be bad.
			if t, ok := r.awayByI[cp.TargetID]; ok && cp.Sum == f.Sum && cp.State == catalog.CopyOK && cp.TargetID != target {
				away = append(away, t.Name)
			}
		}
	}
	slices.SortFunc(away, cmp.Compare)
	msg := fmt.Sprintf("unrecoverable: %s (no good copy on any attached target", f.Path)
	if len(away) > 0 {
		msg += fmt.Sprintf("; %s not attached", strings.Join(away, ", "))
	}
	return msg + ")"
}
