// Package prune applies the retention rule to the old versions kept on
// targets (.trove/versions: replaced, deleted and corrupt copies). These are
// the only deletions Trove makes on a backup target, so each one is logged
// (in the result, on the target's .trove/prune.log and in the catalog's run
// record), and a dry run shows exactly what would go.
//
// # The rule
//
// Per file and target, newest first: every version younger than KeepAllDays
// is kept; of the older ones created within the last KeepMonthlyMonths
// months, the newest of each calendar month (UTC) is kept; the rest may go.
//
// # What is never deleted
//
// Retention only proposes. A proposed version is still kept when:
//
//   - its content is the current content of a file in the library tree (not
//     deleted; released files included): it is a real copy of a current
//     file, whatever the catalog's copy rows say;
//   - deleting it would leave its content nowhere: the content's holders are
//     the verified copies (state ok, read back at least once) of any file
//     holding it and every kept version of it on any target, attached or
//     not. So a deleted or replaced photo shrinks to one kept version, never
//     to none.
//
// Versions never count as copies for the policy, so pruning them never
// takes a file below the policy.
package prune

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
)

// Rule is the retention rule (config [retention]).
type Rule struct {
	KeepAllDays       int // keep every version this many days
	KeepMonthlyMonths int // then the newest per calendar month for this many months
}

// DefaultRule keeps everything 30 days, then one version per month for a year.
func DefaultRule() Rule { return Rule{KeepAllDays: 30, KeepMonthlyMonths: 12} }

// Verdict is the retention rule's word on one version.
type Verdict struct {
	Keep bool
	Why  string // "younger than 30 days", "newest of 2024-03", "older than 12 months", ...
}

// Apply runs the rule (alone, without the safety checks) over versions and
// returns a verdict per version ID. It is pure.
func Apply(r Rule, versions []catalog.Version, now time.Time) map[int64]Verdict {
	type key struct {
		file   int64
		target string
	}
	groups := map[key][]catalog.Version{}
	for _, v := range versions {
		k := key{v.FileID, v.TargetID}
		groups[k] = append(groups[k], v)
	}
	allUntil := now.AddDate(0, 0, -r.KeepAllDays)
	monthlyUntil := now.AddDate(0, -r.KeepMonthlyMonths, 0)
	out := make(map[int64]Verdict, len(versions))
	for _, g := range groups {
		slices.SortFunc(g, func(a, b catalog.Version) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return int(b.ID - a.ID)
		})
		months := map[string]bool{}
		for _, v := range g {
			month := v.CreatedAt.UTC().Format("2006-01")
			switch {
			case !v.CreatedAt.Before(allUntil):
				out[v.ID] = Verdict{Keep: true, Why: fmt.Sprintf("younger than %d days", r.KeepAllDays)}
			case r.KeepMonthlyMonths > 0 && !v.CreatedAt.Before(monthlyUntil) && !months[month]:
				months[month] = true
				out[v.ID] = Verdict{Keep: true, Why: "newest of " + month}
			case !v.CreatedAt.Before(monthlyUntil):
				out[v.ID] = Verdict{Why: "a newer version of " + month + " is kept"}
			default:
				out[v.ID] = Verdict{Why: fmt.Sprintf("older than %d days and %d months", r.KeepAllDays, r.KeepMonthlyMonths)}
			}
		}
	}
	return out
}

// VersionRemover deletes a kept version from a target. store.Store has no
// such method (its Remove takes library names only); FolderRemover provides
// it for folder targets.
type VersionRemover interface {
	RemoveVersion(ctx context.Context, versionPath string) error
}

// Target is an attached target to prune.
type Target struct {
	Target  catalog.Target
	Remover VersionRemover
	Meta    store.MetaStore // where .trove/prune.log is kept (nil: no log on the target)
}

// Options configure a run.
type Options struct {
	Catalog *catalog.Catalog
	Targets []Target // attached targets to prune; versions elsewhere are only counted
	Rule    Rule
	DryRun  bool
	Sink    progress.Sink
	Now     func() time.Time
	Args    string
}

// Item is one version that goes (or would go), or that retention would
// drop but safety keeps.
type Item struct {
	Target    string    `json:"target"`
	Path      string    `json:"path"` // on the target, inside .trove/versions
	File      string    `json:"file"` // the library path it was a version of
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Why       string    `json:"why"`
}

// Problem is a version that could not be deleted.
type Problem struct {
	Target  string `json:"target"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Result is the outcome of a run.
type Result struct {
	DryRun    bool      `json:"dry_run"`
	Deleted   []Item    `json:"deleted"`   // deleted (or, in a dry run, to delete)
	Protected []Item    `json:"protected"` // out of retention but kept: the last copy, or current content
	Kept      int       `json:"kept"`      // kept by the rule
	Bytes     int64     `json:"bytes"`     // freed (or to free)
	Problems  []Problem `json:"problems"`
}

// OK reports whether every deletion that was due succeeded.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

// Run prunes the versions on o.Targets. The error is for what stopped the
// run as a whole; single failures are in Result.Problems.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sink == nil {
		o.Sink = progress.Discard()
	}
	res := &Result{DryRun: o.DryRun, Deleted: []Item{}, Protected: []Item{}, Problems: []Problem{}}
	now := o.Now()
	var runID int64
	if !o.DryRun {
		id, err := o.Catalog.BeginRun("prune", o.Args, now)
		if err != nil {
			return nil, err
		}
		runID = id
	}
	err := run(ctx, o, res, now)
	if !o.DryRun {
		status := "ok"
		switch {
		case err != nil && ctx.Err() != nil:
			status = "interrupted"
		case err != nil || !res.OK():
			status = "failed"
		}
		var probs []catalog.Problem
		for _, p := range res.Problems {
			probs = append(probs, catalog.Problem{Path: p.Path, Target: p.Target, Message: p.Message})
		}
		summary := fmt.Sprintf("deleted %d old versions (%d bytes); %d kept by the rule, %d kept as the last copy or current content",
			len(res.Deleted), res.Bytes, res.Kept, len(res.Protected))
		if e := o.Catalog.EndRun(runID, status, summary, probs, o.Now()); e != nil && err == nil {
			err = e
		}
	}
	return res, err
}

func run(ctx context.Context, o Options, res *Result, now time.Time) error {
	all, err := o.Catalog.AllVersions()
	if err != nil {
		return err
	}
	current, err := o.Catalog.CurrentSums(ctx)
	if err != nil {
		return err
	}
	holders, err := o.Catalog.VerifiedSums(ctx)
	if err != nil {
		return err
	}
	for _, v := range all {
		holders[v.Sum]++
	}
	files, err := o.Catalog.AllFiles()
	if err != nil {
		return err
	}
	pathOf := make(map[int64]string, len(files))
	for _, f := range files {
		pathOf[f.ID] = f.Path
	}
	verdicts := Apply(o.Rule, all, now)
	for _, t := range o.Targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		var log bytes.Buffer
		for _, v := range all { // oldest first
			if v.TargetID != t.Target.ID {
				continue
			}
			vd := verdicts[v.ID]
			it := Item{Target: t.Target.Name, Path: v.Path, File: pathOf[v.FileID], Reason: v.Reason, CreatedAt: v.CreatedAt,
				Size: v.Size, SHA256: v.Sum.String(), Why: vd.Why}
			switch {
			case vd.Keep:
				res.Kept++
				continue
			case current[v.Sum]:
				it.Why = "holds the current content of a file"
				res.Protected = append(res.Protected, it)
				continue
			case holders[v.Sum] <= 1:
				it.Why = "the last copy of this content anywhere"
				res.Protected = append(res.Protected, it)
				continue
			}
			if !o.DryRun {
				if err := remove(ctx, o, t, v); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					res.Problems = append(res.Problems, Problem{Target: t.Target.Name, Path: v.Path, Message: err.Error()})
					o.Sink.Emit(progress.Event{Kind: progress.Problem, Dest: t.Target.Name, File: v.Path, Err: err.Error()})
					continue
				}
				fmt.Fprintf(&log, "%s deleted %s (%s version of %s from %s, %d bytes, sha256 %s): %s\n",
					now.UTC().Format(time.RFC3339), v.Path, v.Reason, it.File, v.CreatedAt.UTC().Format("2006-01-02"),
					v.Size, v.Sum, vd.Why)
			}
			holders[v.Sum]--
			res.Deleted = append(res.Deleted, it)
			res.Bytes += v.Size
			verb := "deleted"
			if o.DryRun {
				verb = "would delete"
			}
			o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: t.Target.Name,
				Message: fmt.Sprintf("%s %s (%s)", verb, v.Path, vd.Why)})
		}
		if log.Len() > 0 && t.Meta != nil {
			if err := appendLog(ctx, t.Meta, log.Bytes()); err != nil {
				res.Problems = append(res.Problems, Problem{Target: t.Target.Name, Path: LogName,
					Message: fmt.Sprintf("could not write the deletion log: %v", err)})
			}
		}
	}
	return nil
}

// remove deletes one version's file, then forgets it in the catalog (a
// crash in between leaves a row whose file is gone: the next run forgets it).
func remove(ctx context.Context, o Options, t Target, v catalog.Version) error {
	if t.Remover == nil {
		return errors.New("this target cannot delete versions")
	}
	if err := t.Remover.RemoveVersion(ctx, v.Path); err != nil && !errors.Is(err, store.ErrNotExist) {
		return err
	}
	return o.Catalog.RemoveVersion(v.ID)
}

// LogName is the deletion log kept on each pruned target.
const LogName = ".trove/prune.log"

// appendLog adds lines to the target's deletion log (rewritten durably).
func appendLog(ctx context.Context, ms store.MetaStore, lines []byte) error {
	var old []byte
	rc, err := ms.ReadMeta(ctx, LogName)
	switch {
	case err == nil:
		old, err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
	case !errors.Is(err, store.ErrNotExist):
		return err
	}
	return ms.WriteMeta(ctx, LogName, bytes.NewReader(append(old, lines...)))
}

// versionsDir is where folder targets keep versions (internal/store/local).
const versionsDir = ".trove/versions"

// FolderRemover deletes versions below a folder target's root. The caller
// holds the target attached (its lock) while using it.
func FolderRemover(root string) VersionRemover { return folderRemover{root} }

type folderRemover struct{ root string }

// ValidVersionPath reports whether p is a clean relative path inside
// .trove/versions (catalog paths are untrusted).
func ValidVersionPath(p string) bool {
	if !strings.HasPrefix(p, versionsDir+"/") || strings.ContainsRune(p, 0) || path.Clean(p) != p {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func (f folderRemover) RemoveVersion(ctx context.Context, p string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ValidVersionPath(p) {
		return fmt.Errorf("version path %q: %w", p, store.ErrBadName)
	}
	root, err := os.OpenRoot(f.root)
	if err != nil {
		return fmt.Errorf("open %s: %w", f.root, err)
	}
	defer root.Close()
	fi, err := root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", p, store.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("delete %s: not a regular file (left alone)", p)
	}
	if err := root.Remove(p); err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	dir := path.Dir(p)
	if d, err := root.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("delete %s: sync folder: %w", p, err)
		}
	}
	// Remove the folders left empty, up to .trove/versions (Remove never
	// removes a folder that holds anything).
	for dir != versionsDir && strings.HasPrefix(dir, versionsDir+"/") {
		if root.Remove(dir) != nil {
			break
		}
		dir = path.Dir(dir)
	}
	return nil
}
