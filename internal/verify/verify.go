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
// Two optional store abilities change how a target is checked (server.go):
//
//   - store.ServerChecker (an encrypted vault whose service keeps checksums):
//     before any download, every copy on the target is compared with the
//     service's checksum of its object, from a listing, at no egress. An
//     unchanged object only records the time of the check
//     (catalog.MarkServerChecked; verified_at stays: nothing was re-read);
//     a missing or changed object is recorded missing or corrupt at once and
//     is not downloaded again in this run; an object the service cannot
//     vouch for ("unknown") is left to the sampled downloads. After the
//     downloads, the names whose download matched are passed to
//     RecordProven, so their current server checksums become the reference.
//   - store.RemoteHasher (an SFTP server that runs sha256sum): the chosen
//     copies are hashed by the server instead of downloaded; that counts as
//     a re-read (verified_at is set). Their bytes are reported apart from
//     downloaded bytes, and Options.Budget, which caps downloads, does not
//     apply to them (Options.Sample does). When the server cannot hash, the
//     rest of the run downloads, within the budget.
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
	// Budget, when > 0, caps the bytes downloaded from each target (a
	// cloud target bills every download): copies are taken least recently
	// verified first while their sizes fit, at least one per target. With
	// Sample, the smaller selection wins. Repeated runs rotate through
	// every copy, as with Sample. Copies hashed by the server
	// (store.RemoteHasher) are not downloads: only Sample limits them.
	// Server checks (store.ServerChecker) download nothing and always cover
	// every copy.
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
	Target  string `json:"target"`
	Copies  int    `json:"copies"`  // copies the catalog places on the target (checkable ones)
	Checked int    `json:"checked"` // copies re-read this run: downloaded, or hashed on the server
	OK      int    `json:"ok"`      // of Checked
	// Missing and Corrupt count every copy recorded bad this run, by the
	// server check or by a re-read.
	Missing int   `json:"missing"`
	Corrupt int   `json:"corrupt"`
	Bytes   int64 `json:"bytes"` // bytes read (downloaded, for a remote target)
	// Hashed of Checked were hashed by the server (store.RemoteHasher):
	// HashedBytes were read there, nothing crossed the network.
	Hashed      int   `json:"hashed_on_server"`
	HashedBytes int64 `json:"hashed_on_server_bytes"`
	// Coverage is by re-read (download or server hash) only.
	Coverage []Coverage `json:"coverage"`
	// Server is the server check (store.ServerChecker targets only).
	Server *ServerCheck `json:"server_check,omitempty"`
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
	Targets     []TargetResult `json:"targets"`
	Away        []string       `json:"not_attached"`
	Problems    []Problem      `json:"problems"`
	Checked     int            `json:"checked"`                // copies re-read
	Bytes       int64          `json:"bytes"`                  // bytes read or downloaded
	HashedBytes int64          `json:"hashed_on_server_bytes"` // bytes hashed by servers (not downloaded)
	Server      ServerCounts   `json:"server_check"`           // summed over the targets
	Notes       []string       `json:"notes"`
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
		res.HashedBytes += results[i].HashedBytes
		if sc := results[i].Server; sc != nil {
			res.Server.add(sc.ServerCounts)
		}
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
	if n := res.Server.OK + res.Server.Changed + res.Server.Missing + res.Server.Unknown; n > 0 {
		summary += fmt.Sprintf("; server check of %s: %s unchanged, %s changed, %s missing, %s unknown",
			count(n, "copy", "copies"), Commas(int64(res.Server.OK)), Commas(int64(res.Server.Changed)),
			Commas(int64(res.Server.Missing)), Commas(int64(res.Server.Unknown)))
	}
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

// run checks the manifest, then (on a ServerChecker) every copy against
// the service's checksums, then re-reads the chosen copies, then rewrites the
// manifest. It returns an error only when the catalog cannot be written or
// the run was cancelled; a target that fails mid-way is a Problem.
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
	var bad map[int64]bool
	stopped := false
	if sc, ok := v.t.Store.(store.ServerChecker); ok {
		if bad, stopped, err = v.serverCheck(ctx, sc, list); err != nil {
			return err
		}
	}
	if !stopped {
		if stopped, err = v.reread(ctx, list, bad); err != nil {
			return err
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
	if sc := v.res.Server; sc != nil && sc.Skipped == "" {
		y, m, d := now.Date()
		if sc.CheckedToday, sc.Total, err = v.o.Catalog.ServerCoverage(t.ID, time.Date(y, m, d, 0, 0, 0, 0, now.Location())); err != nil {
			return err
		}
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

// reread is the download stage: it re-reads the chosen copies of list
// (least recently verified first, within Sample and Budget), leaving out
// the copies in skip (found bad by the server check). On a RemoteHasher the
// server hashes them instead. Names whose download matched go to
// RecordProven on a ServerChecker. stopped reports that the target failed
// as a whole (recorded as a Problem); err is for catalog failures and
// cancellation.
func (v *targetRun) reread(ctx context.Context, list []catalog.TargetCopy, skip map[int64]bool) (stopped bool, err error) {
	t := v.t.Target
	cands := list
	if len(skip) > 0 {
		cands = slices.DeleteFunc(slices.Clone(list), func(tc catalog.TargetCopy) bool { return skip[tc.FileID] })
	}
	n := len(cands)
	if v.o.Sample > 0 && v.o.Sample < 100 {
		n = min(len(cands), int(math.Ceil(float64(len(list))*v.o.Sample/100)))
	}
	chosen := cands[:n]
	hasher, hashing := v.t.Store.(store.RemoteHasher)
	if !hashing && v.o.Budget > 0 {
		chosen = chosen[:withinBudget(chosen, v.o.Budget)]
	}
	var planBytes int64
	for _, tc := range chosen {
		planBytes += tc.File.Size
	}
	v.o.Sink.Emit(progress.Event{Kind: progress.Plan, Dest: t.Name, Files: len(chosen), Bytes: planBytes})
	var proven []string
	for i := 0; i < len(chosen); i++ {
		tc := chosen[i]
		if err := ctx.Err(); err != nil {
			return false, err
		}
		var f Finding
		var err error
		hashed := false
		if hashing {
			f, err = v.remoteSum(ctx, hasher, tc)
			switch {
			case errors.Is(err, errors.ErrUnsupported):
				hashing = false
				v.notes = append(v.notes, fmt.Sprintf("%s: the server cannot hash files (%v): copies are downloaded instead", t.Name, err))
				if v.o.Budget > 0 {
					chosen = chosen[:i+withinBudget(chosen[i:], v.o.Budget)]
				}
				i-- // this copy again, by download
				continue
			case err == nil && f.State != "":
				hashed = true
			case err == nil:
				// The server could not hash this one copy: download it.
				f, err = v.download(ctx, tc)
			}
		} else {
			f, err = v.download(ctx, tc)
		}
		if err == nil {
			err = v.record(tc, f, hashed)
		}
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			var fatal catalogError
			if errors.As(err, &fatal) {
				return false, fatal.err
			}
			// The target itself failed (unplugged, replaced): stop here and
			// leave the remaining copies as they were.
			v.stop(err)
			stopped = true
			break
		}
		if !hashed && f.State == catalog.CopyOK {
			proven = append(proven, tc.File.Path)
		}
	}
	if sc, ok := v.t.Store.(store.ServerChecker); ok && len(proven) > 0 && ctx.Err() == nil {
		if err := sc.RecordProven(ctx, proven); err != nil {
			v.notes = append(v.notes, fmt.Sprintf("%s: could not record the checksums of the %s just downloaded (the next server check may call them unknown): %v",
				t.Name, count(len(proven), "copy", "copies"), err))
		}
	}
	return stopped, nil
}

// stop records that the target failed as a whole.
func (v *targetRun) stop(err error) {
	v.res.Error = err.Error()
	v.problem("", "", fmt.Sprintf("verification stopped: %v", err))
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

// download reads one copy from the target (CheckCopy).
func (v *targetRun) download(ctx context.Context, tc catalog.TargetCopy) (Finding, error) {
	return CheckCopy(ctx, v.t.Store, tc.File.Path, tc.Sum, wantSize(tc), v.buf)
}

// wantSize is the length a copy must have, or -1 when unknown (a copy of
// older content than the file's current one).
func wantSize(tc catalog.TargetCopy) int64 {
	if tc.Sum == tc.File.Sum {
		return tc.File.Size
	}
	return -1
}

// record stores what re-reading one copy found (hashed: by the server). It
// returns a catalogError when the catalog cannot be written, another error
// when the target failed as a whole.
func (v *targetRun) record(tc catalog.TargetCopy, f Finding, hashed bool) error {
	t := v.t.Target
	v.res.Checked++
	if hashed {
		v.res.Hashed++
		v.res.HashedBytes += f.Size
	} else {
		v.res.Bytes += f.Size
	}
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
		if known[i.Name] || known[i.Stored] || i.Name == targetmeta.ReadmeName || i.Name == targetmeta.IndexName {
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
