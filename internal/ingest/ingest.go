// Package ingest copies a memory card (or any folder) into the library and
// the ingest targets in one read, verifies every copy by reading it back from
// the device, records everything in the catalog, and decides whether the card
// is safe to format.
//
// The pipeline: one reader streams each source file once, hashing it and
// feeding every destination's writer concurrently; finishers fsync, read
// back, publish and record earlier files while the reader goes on. Memory is
// bounded by a fixed pool of buffers, whatever the file sizes.
//
// Rare cases that cannot be settled in that single read (the content turned
// out to be known already but some destination lacks it; a foreign file sits
// at the planned name) are settled in a second pass that reads the source
// again. A file is never overwritten; one bad file never stops the others.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/media"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
)

// Dest is an attached destination: the library or a target.
type Dest struct {
	Target catalog.Target
	Store  store.Store
	Device string // filesystem identity right now
}

// Options configure one ingest run.
type Options struct {
	Sources  []string
	Project  string // already cleaned by media.CleanProject
	Template media.Template
	Library  Dest             // the library; required
	Targets  []Dest           // further destinations, attached
	Away     []catalog.Target // requested targets that are not attached (for the verdict's reasons)
	Catalog  *catalog.Catalog
	Sink     progress.Sink
	Now      func() time.Time
	Args     string // recorded with the run
	// Finishers is how many files may be flushing and reading back at once (default 3).
	Finishers int
	// BufferSize and Buffers bound memory: Buffers × BufferSize bytes (default 16 × 1 MiB).
	BufferSize, Buffers int
}

// Problem is one file (or destination) that did not make it, in plain words.
type Problem struct {
	File string `json:"file,omitempty"`
	Dest string `json:"dest,omitempty"`
	Err  string `json:"error"`
}

// FileResult is what happened to one source file.
type FileResult struct {
	Source  string   `json:"source"`
	Path    string   `json:"path,omitempty"` // library path
	Size    int64    `json:"size"`
	Sum     string   `json:"sha256,omitempty"`
	Status  string   `json:"status"`           // copied, known, failed
	Copies  []string `json:"copies,omitempty"` // targets holding a verified copy
	Devices int      `json:"devices"`          // distinct devices among them
	Date    string   `json:"date,omitempty"`
	DateSrc string   `json:"date_source,omitempty"`
}

// Result is the outcome of a run, including the verdict.
type Result struct {
	RunID    int64        `json:"run"`
	Files    []FileResult `json:"files"`
	Copied   int          `json:"copied"`
	Known    int          `json:"known"`
	Failed   int          `json:"failed"`
	Bytes    int64        `json:"bytes_copied"`
	Problems []Problem    `json:"problems"`
	Notes    []string     `json:"notes"`
	Safe     bool         `json:"safe_to_format"`
	Verdict  string       `json:"verdict"`
}

// Run ingests. It returns an error only when the run could not be carried
// out at all or had to stop (catalog not writable, cancelled); per-file
// failures are in Result.Problems and make the verdict NOT SAFE.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sink == nil {
		o.Sink = progress.Discard()
	}
	if o.Finishers <= 0 {
		o.Finishers = 3
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 1 << 20
	}
	if o.Buffers <= 0 {
		o.Buffers = 16
	}
	dests := append([]Dest{o.Library}, o.Targets...)
	var exclude []string
	for _, d := range dests {
		exclude = append(exclude, filepath.Clean(d.Target.Path))
		for _, s := range o.Sources {
			if abs, err := filepath.Abs(s); err == nil && isUnder(abs, d.Target.Path) {
				return nil, fmt.Errorf("source %s is inside %s (%s): ingest reads cards and folders outside Trove's targets", s, d.Target.Name, d.Target.Path)
			}
		}
	}
	runID, err := o.Catalog.BeginRun("ingest", o.Args, o.Now())
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, dests: dests, res: &Result{RunID: runID}, dead: make(map[string]string)}
	runErr := r.run(ctx)
	if ctx.Err() != nil {
		r.interrupted = true
		if runErr == nil || errors.Is(runErr, context.Canceled) {
			runErr = fmt.Errorf("the run was interrupted: %w", context.Cause(ctx))
		}
	}
	r.finish()
	status := "ok"
	switch {
	case runErr != nil:
		status = "failed"
		if ctx.Err() != nil {
			status = "interrupted"
		}
	case !r.res.Safe:
		status = "not safe"
	}
	var probs []catalog.Problem
	for _, p := range r.res.Problems {
		probs = append(probs, catalog.Problem{Path: p.File, Target: p.Dest, Message: p.Err})
	}
	if err := o.Catalog.EndRun(runID, status, r.res.Verdict, probs, o.Now()); err != nil && runErr == nil {
		runErr = err
	}
	return r.res, runErr
}

type runner struct {
	o     Options
	dests []Dest
	res   *Result

	mu          sync.Mutex
	dead        map[string]string // target name -> why it stopped receiving files
	interrupted bool              // the caller's context was cancelled (Ctrl-C)
	results     map[*item]*FileResult
	items       []*item
	reserved    map[string]bool // folded library paths taken in this run
	groupN      map[string]int  // rename counter per folder+group, so sidecars follow their photo
	again       []*item         // pass-2 work
	fatal       error
}

func (r *runner) run(ctx context.Context) error {
	items, problems, notes := scan(r.o.Sources, r.exclusions())
	for _, p := range problems {
		r.problem(p)
	}
	r.res.Notes = append(r.res.Notes, notes...)
	if len(items) == 0 && len(problems) == 0 {
		r.res.Notes = append(r.res.Notes, "no files found on the source")
	}
	readCaptures(items, r.o.Now())
	r.items = items
	r.results = make(map[*item]*FileResult, len(items))
	var total int64
	for _, it := range items {
		total += it.size
		fr := &FileResult{Source: it.display, Size: it.size, Status: "failed",
			Date: it.capture.Time.Format("2006-01-02T15:04:05"), DateSrc: it.capture.Source}
		r.results[it] = fr
		r.res.Files = append(r.res.Files, *fr) // placeholder, rewritten in finish
	}
	for _, d := range r.dests {
		r.o.Sink.Emit(progress.Event{Kind: progress.Plan, Dest: d.Target.Name, Files: len(items), Bytes: total})
	}
	if err := r.plan(items); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := newPipeline(ctx, r, cancel)
	for _, it := range items {
		it.pass = 1
		if !p.feed(it) {
			break
		}
	}
	p.wait()
	for round := 0; round < 2 && r.fatalErr() == nil && ctx.Err() == nil; round++ {
		r.mu.Lock()
		again := r.again
		r.again = nil
		r.mu.Unlock()
		if len(again) == 0 {
			break
		}
		p = newPipeline(ctx, r, cancel)
		for _, it := range again {
			it.pass = 2
			if !p.feed(it) {
				break
			}
		}
		p.wait()
	}
	if err := r.fatalErr(); err != nil {
		return err
	}
	return ctx.Err()
}

func (r *runner) exclusions() []string {
	var out []string
	for _, d := range r.dests {
		out = append(out, filepath.Clean(d.Target.Path))
	}
	return out
}

// plan chooses each file's library path: known content keeps its path; new
// files get the template's path, made unique (case-insensitively) against the
// catalog and this run, with a photo and its sidecars renamed together.
func (r *runner) plan(items []*item) error {
	r.reserved = make(map[string]bool)
	r.groupN = make(map[string]int)
	reserved := r.reserved
	for _, it := range items {
		sum, ok, err := r.o.Catalog.SourceHint(fingerprint(it))
		if err != nil {
			return err
		}
		if ok {
			files, err := r.o.Catalog.FilesBySum(sum)
			if err != nil {
				return err
			}
			if f, ok := pickKnown(files, filepath.Base(it.src), reserved); ok {
				it.hint, it.hasHint, it.path = sum, true, f.Path
				reserved[catalog.FoldPath(it.path)] = true
				continue
			}
		}
		if err := r.placeNew(it); err != nil {
			return err
		}
	}
	return nil
}

// pickKnown chooses, among the library files holding some content, the one
// this source file most likely is (same original name), skipping paths that
// another file of this run already claimed.
func pickKnown(files []catalog.File, name string, reserved map[string]bool) (catalog.File, bool) {
	var fallback *catalog.File
	for i, f := range files {
		if reserved[catalog.FoldPath(f.Path)] {
			continue
		}
		if f.OriginalName == name {
			return f, true
		}
		if fallback == nil {
			fallback = &files[i]
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return catalog.File{}, false
}

// replan gives a file a fresh library path for the second pass.
func (r *runner) replan(it *item) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.placeNew(it)
}

// everywhere reports whether every destination of this run already holds a
// verified copy of f.
func (r *runner) everywhere(f catalog.File) (bool, error) {
	cps, err := r.o.Catalog.Copies(f.ID)
	if err != nil {
		return false, err
	}
	ok := map[string]bool{}
	for _, cp := range cps {
		if cp.Counts(f) {
			ok[cp.TargetID] = true
		}
	}
	for _, d := range r.dests {
		if !ok[d.Target.ID] && !r.isDead(d.Target.Name) {
			return false, nil
		}
	}
	return true, nil
}

func (r *runner) placeNew(it *item) error {
	reserved, groupN := r.reserved, r.groupN
	name := filepath.Base(it.src)
	base, err := r.o.Template.Expand(media.Fields{Time: it.capture.Time, Project: r.o.Project, Name: name,
		Camera: it.capture.Model, Kind: it.kind})
	if err != nil {
		return fmt.Errorf("place %s: %w", it.display, err)
	}
	dir, file := splitSlash(base)
	key := dir + "\x00" + it.group
	for n := max(groupN[key], 1); ; n++ {
		cand := file
		if n > 1 {
			cand = media.UniqueName(file, n)
		}
		p := joinSlash(dir, cand)
		fold := catalog.FoldPath(p)
		if reserved[fold] || contains(it.avoid, p) {
			continue
		}
		taken, err := r.o.Catalog.PathTaken(p)
		if err != nil {
			return err
		}
		if taken {
			continue
		}
		reserved[fold] = true
		it.path = p
		if it.group != "" && n > groupN[key] {
			groupN[key] = n
		}
		return nil
	}
}

func splitSlash(p string) (string, string) {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func joinSlash(dir, file string) string {
	if dir == "" {
		return file
	}
	return dir + "/" + file
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r *runner) problem(p Problem) {
	r.mu.Lock()
	r.res.Problems = append(r.res.Problems, p)
	r.mu.Unlock()
	r.o.Sink.Emit(progress.Event{Kind: progress.Problem, File: p.File, Dest: p.Dest, Err: p.Err})
}

// kill stops a destination for the rest of the run (full, unplugged, changed).
func (r *runner) kill(name string, err error) {
	r.mu.Lock()
	_, already := r.dead[name]
	if !already {
		r.dead[name] = err.Error()
	}
	r.mu.Unlock()
	if !already {
		r.problem(Problem{Dest: name, Err: fmt.Sprintf("%s stopped receiving files: %v", name, err)})
	}
}

func (r *runner) isDead(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.dead[name]
	return ok
}

func (r *runner) setFatal(err error) {
	r.mu.Lock()
	if r.fatal == nil {
		r.fatal = err
	}
	r.mu.Unlock()
}

func (r *runner) fatalErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

func (r *runner) requeue(it *item) {
	r.mu.Lock()
	r.again = append(r.again, it)
	r.mu.Unlock()
}

// isDestFatal reports errors after which a destination gets no more files.
func isDestFatal(err error) bool {
	return errors.Is(err, store.ErrFull) || errors.Is(err, store.ErrNotAttached) ||
		errors.Is(err, store.ErrDeviceChanged) || errors.Is(err, store.ErrWrongTarget)
}

var _ = digest.Sum{}

// sortedKeys returns a map's keys in order.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
