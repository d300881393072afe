// Package backup brings backup targets up to date with the library without
// ever losing a version.
//
// A run has two phases.
//
// The library scan walks the library and compares it with the catalog. A
// file whose size and mtime equal what the catalog recorded when it last
// hashed it is unchanged and is not read. New files (exports, edits saved
// as new files, files put into the library by hand) are hashed and added
// to the catalog; changed files are hashed, and when their content differs
// the catalog records the new content, so their copies on targets become
// stale (they stop counting until replaced). Files gone from the library
// are marked deleted, unless so many disappeared at once that it looks
// like an accident (an unmounted disk, a wrong folder): then nothing is
// marked deleted, the run says so loudly and fails, and --accept-deletions
// (Options.AcceptDeletions) confirms. A deleted file that reappears is
// un-deleted.
//
// Then every attached target is brought up to date, all targets at once,
// each with a few files in flight: copies of deleted files are moved into
// the target's versions area (never deleted); every current file without a
// copy that counts is copied from the library, hashing the source bytes on
// the way (they must equal the catalog's hash: a library file that changed
// or rotted since the scan is reported by name and not copied), made
// durable and read back from the device before the copy is recorded.
// Whatever sits at the file's path on the target first is either adopted
// (it already holds the content, e.g. after a crash between publish and
// record) or moved into the versions area; nothing is overwritten. A full
// or unplugged target stops with a clear reason; the others go on.
package backup

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
)

// Dest is an attached target.
type Dest struct {
	Target catalog.Target
	Store  store.Store // must also be a store.Preserver to keep old versions
	// Until, when not zero, is when the target's upload window closes: no
	// file is started at or after it, a file still being copied when it
	// closes is stopped (its copy's context has a deadline at Until) and
	// not counted (a vault keeps its spool and the server its parts, so
	// the upload resumes; a folder or SFTP target drops its temporary),
	// and the target ends StatusPaused with the files still to do in
	// Pending. The next run continues with them.
	Until time.Time
	// Pace, when not nil, wraps the reader of each library file sent to
	// the target (a bandwidth limit).
	Pace func(ctx context.Context, r io.Reader) io.Reader
}

// Options configure one backup run.
type Options struct {
	Catalog *catalog.Catalog
	// Library is the attached library (its Store walks and reads it).
	Library Dest
	// LibraryDir is the library's root folder: new files' capture times
	// are read from it.
	LibraryDir string
	Targets    []Dest
	Sink       progress.Sink
	Now        func() time.Time
	Args       string // recorded with the run
	// AcceptDeletions marks every file gone from the library deleted, even
	// when the mass-deletion brake would hold them.
	AcceptDeletions bool
	// MaxGoneShare and MinGoneFiles set the mass-deletion brake: more than
	// MaxGoneShare of the library's files and more than MinGoneFiles gone
	// at once (defaults 0.2 and 50), or a library that looks empty.
	MaxGoneShare float64
	MinGoneFiles int
	// InFlight is how many files each target has in flight (default 4);
	// Hashers how many new or changed library files are hashed at once
	// (default 4). Memory is bounded by (targets × InFlight + Hashers) ×
	// BufferSize (default 1 MiB).
	InFlight, Hashers, BufferSize int
}

// Problem is one thing that went wrong, by file and target, in plain words.
type Problem struct {
	File string `json:"file,omitempty"`
	Dest string `json:"dest,omitempty"`
	Err  string `json:"error"`
}

// ScanResult is what the library scan found.
type ScanResult struct {
	Files     int   `json:"files"`     // files in the library now
	Bytes     int64 `json:"bytes"`     // their size
	Unchanged int   `json:"unchanged"` // recognised by size and mtime, not read
	New       int   `json:"new"`       // added to the catalog
	Changed   int   `json:"changed"`   // new content recorded (old versions kept on targets)
	Touched   int   `json:"touched"`   // mtime changed, content the same
	Deleted   int   `json:"deleted"`   // marked deleted this run
	Restored  int   `json:"restored"`  // deleted earlier, back now
	// Gone is how many files the catalog has that are missing from the
	// library; Held is true when the mass-deletion brake kept them from
	// being marked deleted.
	Gone int  `json:"gone"`
	Held bool `json:"held"`
}

// Target statuses.
const (
	StatusDone    = "done"    // every current file has a verified copy there
	StatusPartial = "partial" // finished, but some files failed
	StatusStopped = "stopped" // stopped early: full, unplugged, cancelled
	// StatusPaused: the target's upload window closed (Dest.Until) before
	// every file was copied; nothing failed, the next run continues.
	StatusPaused = "paused"
)

// TargetResult is what happened on one target.
type TargetResult struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"` // why it stopped
	Copied   int    `json:"copied"`
	Bytes    int64  `json:"bytes_copied"`
	Adopted  int    `json:"adopted"`  // already there with the right content (recorded now)
	Versions int    `json:"versions"` // old versions kept (replaced or deleted files)
	Failed   int    `json:"failed"`
	Pending  int    `json:"pending"` // current files still without a verified copy there
	Changed  bool   `json:"-"`       // anything on the target or in its catalog rows changed
}

// Result is the outcome of a run.
type Result struct {
	RunID    int64          `json:"run"`
	Scan     ScanResult     `json:"scan"`
	Targets  []TargetResult `json:"targets"`
	Problems []Problem      `json:"problems"`
	Warnings []string       `json:"warnings"`
}

// OK reports whether the run did everything it was asked to (a target
// paused by its upload window did what it was allowed to).
func (r *Result) OK() bool {
	if len(r.Problems) > 0 || r.Scan.Held {
		return false
	}
	for _, t := range r.Targets {
		if t.Status != StatusDone && t.Status != StatusPaused {
			return false
		}
	}
	return true
}

// Run backs up. It returns an error only when the run could not be carried
// out at all (the library cannot be read, the catalog cannot be written,
// cancelled); per-file and per-target failures are in the Result.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sink == nil {
		o.Sink = progress.Discard()
	}
	if o.InFlight <= 0 {
		o.InFlight = 4
	}
	if o.Hashers <= 0 {
		o.Hashers = 4
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 1 << 20
	}
	if o.MaxGoneShare <= 0 {
		o.MaxGoneShare = 0.2
	}
	if o.MinGoneFiles <= 0 {
		o.MinGoneFiles = 50
	}
	if len(o.Targets) > maxTargets {
		return nil, fmt.Errorf("backup: at most %d targets per run", maxTargets)
	}
	res := &Result{Problems: []Problem{}, Warnings: []string{}, Targets: []TargetResult{}}
	runID, err := o.Catalog.BeginRun("backup", o.Args, o.Now())
	if err != nil {
		return nil, err
	}
	res.RunID = runID
	r := &runner{o: o, res: res}
	err = r.run(ctx)
	status := "ok"
	switch {
	case ctx.Err() != nil:
		status = "interrupted"
	case err != nil || !res.OK():
		status = "failed"
	}
	var probs []catalog.Problem
	for _, p := range res.Problems {
		probs = append(probs, catalog.Problem{Path: p.File, Target: p.Dest, Message: p.Err})
	}
	if endErr := o.Catalog.EndRun(runID, status, summary(res), probs, o.Now()); endErr != nil && err == nil {
		err = endErr
	}
	return res, err
}

// summary is the one-line record of a run.
func summary(res *Result) string {
	s := fmt.Sprintf("library: %d files, %d new, %d changed, %d deleted", res.Scan.Files, res.Scan.New,
		res.Scan.Changed, res.Scan.Deleted)
	if res.Scan.Held {
		s += fmt.Sprintf(", %d gone (held)", res.Scan.Gone)
	}
	for _, t := range res.Targets {
		s += fmt.Sprintf("; %s: %s, %d copied, %d versions kept", t.Name, t.Status, t.Copied, t.Versions)
	}
	return s
}

func (r *runner) run(ctx context.Context) error {
	if err := r.scan(ctx); err != nil {
		return err
	}
	r.res.Targets = make([]TargetResult, len(r.o.Targets))
	done := make(chan struct{}, len(r.o.Targets))
	for i := range r.o.Targets {
		go func(i int) {
			defer func() { done <- struct{}{} }()
			r.res.Targets[i] = r.backupTarget(ctx, i)
		}(i)
	}
	for range r.o.Targets {
		<-done
	}
	return ctx.Err()
}
