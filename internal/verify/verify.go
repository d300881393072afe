// Package verify re-reads copies from their targets and tells the catalog
// what it found.
//
// For every attached target it checks the copies the catalog places there
// (all of them, or a rotating sample): each copy is read from the device
// (store.Open drops the page cache) and hashed, and the hash is compared with
// the sha256 the catalog says the copy holds. The outcome is recorded per
// copy with catalog.SetCopyState:
//
//   - ok: the content matches; verified_at becomes the time of this check;
//   - missing: no file at the copy's path;
//   - corrupt: "truncated: 1,234 of 25,165,824 bytes", "longer than expected:
//     …", "content differs", or "unreadable: …" (an I/O error).
//
// Missing and corrupt copies stop counting for the 3-2-1 rule; the catalog
// keeps their last good verification time. Identity is content only: size
// and mtime are never trusted, so a copy truncated with its mtime put back
// is found.
//
// Sampling takes the head of catalog.CopiesOnTarget (least recently verified
// first), so repeated sampled runs rotate through every copy.
//
// Absent is not missing: targets that are not attached are never touched
// (the caller passes them in Options.Away and they are reported once).
// Before a copy is recorded missing, the target's Attached check (when set)
// must still pass, so a drive pulled mid-run does not turn into thousands of
// missing copies.
//
// Each target's manifest is checked against the hash recorded when Trove
// wrote it (targetmeta.CheckManifest): a manifest edited by hand is a
// problem ("not trusted"), a missing one a note; both are rewritten from the
// catalog, as is the manifest of every target after its copies were checked
// (targetmeta.Refresh, so it lists only copies that are good now).
package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/targetmeta"
)

// Target is one attached target to verify.
type Target struct {
	Target catalog.Target
	Store  store.Store
	// Attached, when not nil, checks that the target is still the one
	// attached at its path (not unplugged, not replaced). It is called
	// before any copy is recorded missing.
	Attached func() error
}

// Options configure a run.
type Options struct {
	Catalog *catalog.Catalog
	Targets []Target         // attached targets to verify, in report order
	Away    []catalog.Target // chosen targets that are not attached: reported, never touched
	// Sample is the percentage (0 < Sample <= 100) of each target's copies to
	// check, least recently verified first. 0 means all.
	Sample float64
	// Budget, when > 0, caps the bytes read from each target (a cloud
	// target bills every download): copies are taken least recently
	// verified first while their sizes fit, at least one per target. With
	// Sample, the smaller selection wins. Repeated runs rotate through
	// every copy, as with Sample.
	Budget int64
	// Windows are the ages for the coverage report (e.g. 90 and 30 days).
	Windows []time.Duration
	Sink    progress.Sink
	Now     func() time.Time
	Args    string // recorded with the run
}

// Problem is one bad copy, or a target-level failure (File empty).
type Problem struct {
	File    string `json:"file,omitempty"`
	Target  string `json:"target"`
	State   string `json:"state,omitempty"` // missing or corrupt; empty for target problems
	Message string `json:"message"`
}

// Coverage is the share of a target's copies verified within a window,
// measured after the run.
type Coverage struct {
	Days     int `json:"days"`
	Verified int `json:"verified"`
	Total    int `json:"total"`
}

// TargetResult is what verify found on one target.
type TargetResult struct {
	Target   string     `json:"target"`
	Copies   int        `json:"copies"`  // copies the catalog places on the target (checkable ones)
	Checked  int        `json:"checked"` // copies read this run
	OK       int        `json:"ok"`
	Missing  int        `json:"missing"`
	Corrupt  int        `json:"corrupt"`
	Bytes    int64      `json:"bytes"` // bytes read
	Coverage []Coverage `json:"coverage"`
	// Manifest: "ok", "missing (rewritten)", "edited outside Trove: not trusted (rewritten)",
	// or "not checked" (a store without metadata files).
	Manifest string `json:"manifest"`
	// Unknown lists files on the target that the catalog has no copy for
	// (first 20) and UnknownCount how many there are: a note, not an error.
	Unknown      []string `json:"unknown,omitempty"`
	UnknownCount int      `json:"unknown_count"`
	Error        string   `json:"error,omitempty"` // the target could not be verified to the end
}

// Result is the outcome of a run.
type Result struct {
	Targets  []TargetResult `json:"targets"`
	Away     []string       `json:"not_attached"`
	Problems []Problem      `json:"problems"`
	Checked  int            `json:"checked"`
	Bytes    int64          `json:"bytes"`
	Notes    []string       `json:"notes"`
}

// OK reports whether the run found no problem at all.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

// Run verifies every target in o.Targets (in parallel, one reader per
// target) and records the outcome in the catalog. Problems with copies are
// in the Result; the error is only for what stopped the run as a whole
// (the catalog could not be written, the context was cancelled).
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sink == nil {
		o.Sink = progress.Discard()
	}
	if o.Sample < 0 || o.Sample > 100 {
		return nil, fmt.Errorf("verify: sample %v%% is not between 0 and 100", o.Sample)
	}
	runID, err := o.Catalog.BeginRun("verify", o.Args, o.Now())
	if err != nil {
		return nil, err
	}
	res := &Result{Away: []string{}, Problems: []Problem{}, Notes: []string{}}
	for _, t := range o.Away {
		res.Away = append(res.Away, t.Name)
		o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: t.Name,
			Message: "not attached: skipped (its copies keep their state)"})
	}
	results := make([]TargetResult, len(o.Targets))
	problems := make([][]Problem, len(o.Targets))
	notes := make([][]string, len(o.Targets))
	fatal := make([]error, len(o.Targets))
	var wg sync.WaitGroup
	for i, t := range o.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &targetRun{o: &o, t: t, buf: make([]byte, 1<<20)}
			fatal[i] = v.run(ctx)
			results[i], problems[i], notes[i] = v.res, v.problems, v.notes
		}()
	}
	wg.Wait()
	var runErr error
	for i := range o.Targets {
		res.Targets = append(res.Targets, results[i])
		res.Problems = append(res.Problems, problems[i]...)
		res.Notes = append(res.Notes, notes[i]...)
		res.Checked += results[i].Checked
		res.Bytes += results[i].Bytes
		if fatal[i] != nil && runErr == nil {
			runErr = fatal[i]
		}
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	status := "ok"
	switch {
	case runErr != nil && ctx.Err() != nil:
		status = "interrupted"
	case runErr != nil || len(res.Problems) > 0:
		status = "failed"
	case len(res.Away) > 0:
		status = "incomplete" // some chosen targets were not attached: not checked
	}
	var cps []catalog.Problem
	for _, p := range res.Problems {
		cps = append(cps, catalog.Problem{Path: p.File, Target: p.Target, Message: p.Message})
	}
	for _, name := range res.Away {
		cps = append(cps, catalog.Problem{Target: name, Message: "not attached: not verified"})
	}
	summary := fmt.Sprintf("checked %s, %s", count(res.Checked, "copy", "copies"), count(len(res.Problems), "problem", "problems"))
	if len(res.Away) > 0 {
		summary += fmt.Sprintf("; not attached: %s", strings.Join(res.Away, ", "))
	}
	if err := o.Catalog.EndRun(runID, status, summary, cps, o.Now()); err != nil && runErr == nil {
		runErr = err
	}
	return res, runErr
}

// targetRun verifies one target.
type targetRun struct {
	o        *Options
	t        Target
	buf      []byte
	res      TargetResult
	problems []Problem
	notes    []string
}

func (v *targetRun) problem(file, state, msg string) {
	v.problems = append(v.problems, Problem{File: file, Target: v.t.Target.Name, State: state, Message: msg})
	v.o.Sink.Emit(progress.Event{Kind: progress.Problem, Dest: v.t.Target.Name, File: file, Err: msg})
}

// run checks the manifest, the chosen copies, then rewrites the manifest.
// It returns an error only when the catalog cannot be written or the run
// was cancelled; a target that fails mid-way is a Problem.
func (v *targetRun) run(ctx context.Context) error {
	t := v.t.Target
	v.res = TargetResult{Target: t.Name, Coverage: []Coverage{}, Manifest: "not checked"}
	ms, hasMeta := v.t.Store.(store.MetaStore)
	if hasMeta {
		v.checkManifest(ctx, ms)
	}
	all, err := v.o.Catalog.CopiesOnTarget(t.ID)
	if err != nil {
		return err
	}
	// A file removed from the library on purpose has no library copy to check.
	list := slices.DeleteFunc(slices.Clone(all), func(tc catalog.TargetCopy) bool {
		return t.Kind == catalog.KindLibrary && !tc.File.DeletedAt.IsZero()
	})
	v.res.Copies = len(list)
	n := len(list)
	if v.o.Sample > 0 && v.o.Sample < 100 {
		n = min(len(list), int(math.Ceil(float64(len(list))*v.o.Sample/100)))
	}
	if v.o.Budget > 0 {
		n = withinBudget(list[:n], v.o.Budget)
	}
	chosen := list[:n]
	var planBytes int64
	for _, tc := range chosen {
		planBytes += tc.File.Size
	}
	v.o.Sink.Emit(progress.Event{Kind: progress.Plan, Dest: t.Name, Files: len(chosen), Bytes: planBytes})
	stopped := false
	for _, tc := range chosen {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := v.check(ctx, tc); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var fatal catalogError
			if errors.As(err, &fatal) {
				return fatal.err
			}
			// The target itself failed (unplugged, replaced): stop here and
			// leave the remaining copies as they were.
			v.res.Error = err.Error()
			v.problem("", "", fmt.Sprintf("verification stopped: %v", err))
			stopped = true
			break
		}
	}
	now := v.o.Now()
	if !stopped {
		if err := v.o.Catalog.MarkTargetVerified(t.ID, now); err != nil {
			return err
		}
		v.unknownFiles(ctx, all)
	}
	for _, w := range v.o.Windows {
		ver, total, err := v.o.Catalog.Coverage(t.ID, now.Add(-w))
		if err != nil {
			return err
		}
		v.res.Coverage = append(v.res.Coverage, Coverage{Days: int(w / (24 * time.Hour)), Verified: ver, Total: total})
	}
	if hasMeta && !stopped {
		cur, err := v.o.Catalog.TargetByName(t.Name)
		if err == nil {
			err = targetmeta.Refresh(ctx, v.o.Catalog, cur, ms, now)
		}
		if err != nil {
			v.problem("", "", fmt.Sprintf("could not rewrite the manifest: %v", err))
		}
	}
	return nil
}

// withinBudget returns how many copies from the head of list fit in budget
// bytes (at least one, so a copy larger than the budget is not skipped
// forever).
func withinBudget(list []catalog.TargetCopy, budget int64) int {
	var sum int64
	for i, tc := range list {
		sum += tc.File.Size
		if sum > budget {
			return max(i, 1)
		}
	}
	return len(list)
}

// catalogError marks a failure to record a result: it stops the whole run.
type catalogError struct{ err error }

func (e catalogError) Error() string { return e.err.Error() }

// checkManifest compares the manifest with the hash Trove recorded.
func (v *targetRun) checkManifest(ctx context.Context, ms store.MetaStore) {
	t := v.t.Target
	if cur, err := v.o.Catalog.TargetByName(t.Name); err == nil {
		t = cur
	}
	err := targetmeta.CheckManifest(ctx, t, ms)
	switch {
	case err == nil:
		v.res.Manifest = "ok"
	case errors.Is(err, targetmeta.ErrManifestEdited):
		v.res.Manifest = "edited outside Trove: not trusted (rewritten)"
		v.problem(targetmeta.ManifestName, "",
			"the manifest was changed outside Trove: not trusted; rewritten from the catalog")
	case errors.Is(err, store.ErrNotExist):
		v.res.Manifest = "missing (rewritten)"
		v.notes = append(v.notes, fmt.Sprintf("%s had no manifest: rewritten from the catalog", t.Name))
	default:
		v.res.Manifest = "unreadable (rewritten)"
		v.problem(targetmeta.ManifestName, "", fmt.Sprintf("could not read the manifest: %v", err))
	}
}

// check reads one copy and records what it found. It returns a
// catalogError when the catalog cannot be written, another error when the
// target failed as a whole.
func (v *targetRun) check(ctx context.Context, tc catalog.TargetCopy) error {
	t := v.t.Target
	wantSize := int64(-1)
	if tc.Sum == tc.File.Sum {
		wantSize = tc.File.Size
	}
	f, err := CheckCopy(ctx, v.t.Store, tc.File.Path, tc.Sum, wantSize, v.buf)
	if err != nil {
		return err
	}
	v.res.Checked++
	v.res.Bytes += f.Size
	if f.State == catalog.CopyMissing && v.t.Attached != nil {
		if err := v.t.Attached(); err != nil {
			return fmt.Errorf("%s is no longer attached: %w", t.Name, err)
		}
	}
	now := v.o.Now()
	if f.State != catalog.CopyOK && t.Kind == catalog.KindLibrary && f.State == catalog.CopyCorrupt &&
		tc.Sum == tc.File.Sum && tc.File.LibSize >= 0 && !f.ModTime.IsZero() && f.ModTime.UnixNano() != tc.File.LibMtimeNs {
		f.Problem += fmt.Sprintf(" (modified %s, after Trove last read it: if you edited it, run `trove backup`)",
			f.ModTime.Local().Format("2006-01-02 15:04"))
	}
	if err := v.o.Catalog.SetCopyState(tc.FileID, tc.TargetID, f.State, now, f.Problem); err != nil {
		return catalogError{err}
	}
	switch f.State {
	case catalog.CopyOK:
		v.res.OK++
		v.o.Sink.Emit(progress.Event{Kind: progress.Verified, Dest: t.Name, File: tc.File.Path, Bytes: f.Size})
	case catalog.CopyMissing:
		v.res.Missing++
		v.problem(tc.File.Path, f.State, f.Problem)
	default:
		v.res.Corrupt++
		v.problem(tc.File.Path, f.State, f.Problem)
	}
	return nil
}

// unknownFiles lists files on the target that no copy in the catalog
// accounts for (a note only: exports not yet backed up, stray files).
func (v *targetRun) unknownFiles(ctx context.Context, all []catalog.TargetCopy) {
	known := make(map[string]bool, 2*len(all))
	for _, tc := range all {
		known[tc.Path] = true
		known[tc.File.Path] = true
	}
	var unknown []string
	count := 0
	err := v.t.Store.Walk(ctx, "", func(i store.Info) error {
		if known[i.Name] || known[i.Stored] || i.Name == targetmeta.ReadmeName {
			return nil
		}
		count++
		if len(unknown) < 20 {
			unknown = append(unknown, i.Name)
		}
		return nil
	})
	if err != nil {
		v.notes = append(v.notes, fmt.Sprintf("%s: could not list its files: %v", v.t.Target.Name, err))
		return
	}
	v.res.Unknown, v.res.UnknownCount = unknown, count
	if count > 0 {
		v.notes = append(v.notes, fmt.Sprintf("%s holds %s the catalog does not know (e.g. %s)",
			v.t.Target.Name, plural(count, "file", "files"), strings.Join(unknown[:min(3, len(unknown))], ", ")))
	}
}

// Finding is the outcome of reading one copy.
type Finding struct {
	State   string     // catalog.CopyOK, CopyMissing or CopyCorrupt
	Problem string     // empty when OK
	Size    int64      // bytes read
	Sum     digest.Sum // hash of what was read (zero when missing)
	ModTime time.Time  // as the target reports it (zero when missing)
}

// CheckCopy reads name from st (from the device) and compares it with want.
// wantSize is the expected length, or -1 when unknown. Problems with the
// copy itself are a Finding; the error is for failures of the target as a
// whole (not attached any more, device changed, cancelled).
func CheckCopy(ctx context.Context, st store.Store, name string, want digest.Sum, wantSize int64, buf []byte) (Finding, error) {
	info, err := st.Stat(ctx, name)
	if errors.Is(err, store.ErrNotExist) {
		return Finding{State: catalog.CopyMissing, Problem: "not found on the target"}, nil
	}
	if err != nil {
		return targetOr(ctx, err, "unreadable")
	}
	rc, err := st.Open(ctx, name)
	if errors.Is(err, store.ErrNotExist) {
		return Finding{State: catalog.CopyMissing, Problem: "not found on the target"}, nil
	}
	if err != nil {
		return targetOr(ctx, err, "unreadable")
	}
	sum, n, err := digest.Reader(rc, buf)
	rc.Close()
	if err != nil {
		return targetOr(ctx, err, fmt.Sprintf("unreadable after %s bytes", Commas(n)))
	}
	f := Finding{State: catalog.CopyOK, Size: n, Sum: sum, ModTime: info.ModTime}
	switch {
	case sum == want:
	case wantSize >= 0 && n < wantSize:
		f.State, f.Problem = catalog.CopyCorrupt, fmt.Sprintf("truncated: %s of %s bytes", Commas(n), Commas(wantSize))
	case wantSize >= 0 && n > wantSize:
		f.State, f.Problem = catalog.CopyCorrupt, fmt.Sprintf("longer than it should be: %s bytes, expected %s", Commas(n), Commas(wantSize))
	default:
		f.State, f.Problem = catalog.CopyCorrupt, "content differs"
	}
	return f, nil
}

// targetOr turns err into a Finding (corrupt, "what: err") unless it is a
// failure of the whole target or a cancellation.
func targetOr(ctx context.Context, err error, what string) (Finding, error) {
	if ctx.Err() != nil || errors.Is(err, store.ErrNotAttached) || errors.Is(err, store.ErrDeviceChanged) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Finding{}, err
	}
	return Finding{State: catalog.CopyCorrupt, Problem: fmt.Sprintf("%s: %v", what, err)}, nil
}

// Commas renders n with thousands separators: 25165824 -> "25,165,824".
func Commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// count says "1 copy", "3 copies".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return Commas(int64(n)) + " " + many
}
