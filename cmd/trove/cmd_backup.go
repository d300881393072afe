package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/backup"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/schedule"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
	"github.com/trove-backup/trove/internal/store/sftp"
	"github.com/trove-backup/trove/internal/targetmeta"
)

// awayTarget is a requested target that could not be attached.
type awayTarget struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "not attached", "refused"
	Reason string `json:"reason"`
}

// waitTarget is a windowed target outside its upload window.
type waitTarget struct {
	Name    string    `json:"name"`
	Window  string    `json:"window"`
	Resumes time.Time `json:"resumes"`
}

func newBackupCmd() *cobra.Command {
	var asJSON, acceptDeletions, now bool
	cmd := &cobra.Command{
		Use:   "backup [TARGET...] [--json] [--accept-deletions]",
		Short: "Bring backup drives up to date with the library, keeping every old version",
		Long: `Scans the library and brings every attached target (default: all of them) up to date.

Unchanged files are recognised by size and date without reading them. New files (exports,
PSDs, files saved into the library directly) are hashed and added to the catalog; edited
files are hashed again. Every copy is read back from the target's device and compared
before it counts.

Nothing is lost on a target: when a file was edited or deleted in the library, the old
copy on each target is moved to .trove/versions/<time>/ there, never overwritten or
deleted. If a large share of the library disappears at once (an unmounted disk, a wrong
folder), nothing is marked deleted and backup fails with a warning; --accept-deletions
confirms that the files were deleted on purpose.

A target that is not attached is skipped with one line (its copies stay in the catalog);
a different drive or an empty folder at its path is refused.

Off-site targets (SFTP, S3 and rclone vaults) are backed up too. A target with an upload
window in the config ([targets.NAME] window = "01:00-06:00") is only written inside it:
outside, backup says when it resumes; inside, no file is started after the window closes
(the file being sent is finished, never left half-copied) and the next run continues with
what is left. --now ignores the window. bwlimit ("4MiB/s", or by time of day) caps the
bytes sent to the target. For each off-site target backup prints, per project, either
"off-site complete HH:MM" or how much is uploaded and when it resumes.

Exit code 0 when every requested target is up to date or waiting for its upload window;
1 when anything failed or was skipped; 2 for usage errors; 4 when a target refused its
passphrase or credentials (the other targets are still backed up).`,
		Example: `  trove backup
  trove backup drive-b nas
  trove backup --json
  trove backup vault --now
  trove backup --accept-deletions`,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			chosen, err := backupTargets(a.cat, args)
			if err != nil {
				return err
			}
			lib, libStore, err := a.attachLibrary()
			if err != nil {
				return fmt.Errorf("%w: refusing to back up (an unmounted or empty library is never read as \"everything deleted\")", err)
			}
			defer libStore.Close()
			opts := backup.Options{Catalog: a.cat, Library: backup.Dest{Target: lib, Store: libStore},
				LibraryDir: libStore.Root(), Now: a.now, AcceptDeletions: acceptDeletions,
				Args: strings.Join(args, " ")}
			if acceptDeletions {
				opts.Args = strings.TrimSpace(opts.Args + " --accept-deletions")
			}
			var away []awayTarget
			var waiting []waitTarget
			windows := map[string]schedule.Window{}
			start := a.now()
			for _, t := range chosen {
				w, _ := schedule.ParseWindow(a.cfg.Targets[t.Name].Window) // validated when the config was loaded
				windows[t.Name] = w
				var until time.Time
				if !now && !w.Always() {
					if !w.Contains(start) {
						waiting = append(waiting, waitTarget{Name: t.Name, Window: w.String(), Resumes: w.NextStart(start)})
						continue
					}
					until = w.End(start)
				}
				at, err := a.open(cmd.Context(), t)
				if err != nil {
					away = append(away, explainAway(t, err))
					continue
				}
				defer at.Close()
				opts.Targets = append(opts.Targets, backup.Dest{Target: at.Target, Store: at.Store, Until: until, Pace: at.Pace})
			}
			switch {
			case asJSON:
				opts.Sink = progress.NewJSON(a.stdout, a.now)
			case progress.IsTerminal(a.stderr):
				opts.Sink = progress.NewTerminal(a.stderr)
			default:
				opts.Sink = progress.NewPlain(a.stderr, a.now)
			}
			limitMemory(a)
			res, runErr := backup.Run(cmd.Context(), opts)
			opts.Sink.Close()
			if res != nil && runErr == nil && scanChanged(res.Scan) {
				// The library carries a manifest and catalog copy too.
				if l, err := a.cat.Library(); err == nil {
					if err := targetmeta.Refresh(cmd.Context(), a.cat, l, libStore, a.now()); err != nil {
						warnf(a.stderr, "could not update the library's manifest: %v", err)
					}
				}
			}
			if res == nil {
				return runErr
			}
			offsite := offsiteProgress(cmd.Context(), a, lib, chosen, windows, start)
			if asJSON {
				printBackupJSON(a.stdout, res, away, waiting, offsite, runErr)
			} else {
				printBackup(a.stdout, res, away, waiting, offsite, len(chosen) == 0, runErr)
			}
			switch {
			case runErr != nil && cmd.Context().Err() != nil:
				return &exitError{code: exitInterrupt, silent: true}
			case runErr != nil || !res.OK() || len(away) > 0:
				return &exitError{code: exitFailure, silent: true}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress events and the result as JSON lines")
	cmd.Flags().BoolVar(&now, "now", false, "upload now, also to targets whose upload window is closed")
	cmd.Flags().BoolVar(&acceptDeletions, "accept-deletions", false,
		"files gone from the library were deleted on purpose: mark them deleted even when many disappeared at once")
	return cmd
}

func scanChanged(s backup.ScanResult) bool {
	return s.New+s.Changed+s.Deleted+s.Restored > 0
}

// backupTargets resolves target names, or every target but the library.
func backupTargets(cat *catalog.Catalog, names []string) ([]catalog.Target, error) {
	if len(names) == 0 {
		all, err := cat.Targets()
		if err != nil {
			return nil, err
		}
		var out []catalog.Target
		for _, t := range all {
			if t.Kind != catalog.KindLibrary {
				out = append(out, t)
			}
		}
		return out, nil
	}
	if slices.Contains(names, catalog.LibraryName) {
		return nil, usageError("the library is what backup copies from; name the targets to back up to (see `trove target list`)")
	}
	return lookupTargets(cat, names)
}

// explainAway turns an attach failure into one plain line.
func explainAway(t catalog.Target, err error) awayTarget {
	if isRemote(t.Kind) {
		if errors.Is(err, store.ErrNotAttached) && !errors.Is(err, sftp.ErrUnknownHost) {
			return awayTarget{Name: t.Name, Status: "not attached", Reason: fmt.Sprintf(
				"not reachable (%v): skipped, nothing written; the catalog keeps its copies", err)}
		}
		var ee *exitError
		if errors.As(err, &ee) && ee.err != nil {
			err = ee.err
		}
		// The line starts with the name already.
		return awayTarget{Name: t.Name, Status: "failed", Reason: strings.TrimPrefix(err.Error(), t.Name+": ")}
	}
	switch {
	case errors.Is(err, store.ErrNotAttached):
		if ents, derr := os.ReadDir(t.Path); derr == nil {
			what := "an empty folder (an empty mount point?)"
			if len(ents) > 0 {
				what = "a folder that is not this Trove drive"
			}
			return awayTarget{Name: t.Name, Status: "refused", Reason: fmt.Sprintf(
				"%s is %s, not the drive %s: refused, nothing written; plug in or mount the drive there", t.Path, what, t.Name)}
		}
		return awayTarget{Name: t.Name, Status: "not attached", Reason: fmt.Sprintf(
			"not attached (expected at %s): skipped, nothing written; the catalog keeps its copies", t.Path)}
	case errors.Is(err, store.ErrWrongTarget):
		return awayTarget{Name: t.Name, Status: "refused", Reason: fmt.Sprintf(
			"a different Trove drive is at %s: refused, nothing written; mount %s there", t.Path, t.Name)}
	case errors.Is(err, local.ErrLocked):
		return awayTarget{Name: t.Name, Status: "busy", Reason: "in use by another trove run: skipped"}
	}
	return awayTarget{Name: t.Name, Status: "failed", Reason: err.Error()}
}

func printBackup(w io.Writer, res *backup.Result, away []awayTarget, waiting []waitTarget, offsite []offsiteLine, noTargets bool, runErr error) {
	s := res.Scan
	fmt.Fprintf(w, "Library: %s files (%s): %d new, %d edited, %d deleted, %d unchanged.\n",
		commas(s.Files), progress.FormatBytes(s.Bytes), s.New, s.Changed, s.Deleted, s.Unchanged+s.Touched)
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	probs := map[string]int{}
	for _, p := range res.Problems {
		probs[p.Dest]++
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(w, "Problems (%d):\n", len(res.Problems))
		for i, p := range res.Problems {
			if i == 50 {
				fmt.Fprintf(w, "  … and %d more (see `trove backup --json`)\n", len(res.Problems)-50)
				break
			}
			where := p.File
			switch {
			case p.Dest != "" && p.File != "":
				where = p.File + " on " + p.Dest
			case p.Dest != "":
				where = p.Dest
			}
			fmt.Fprintf(w, "  %s: %s\n", where, p.Err)
		}
	}
	for _, t := range res.Targets {
		line := fmt.Sprintf("%s: %s copied (%s), %s kept, %s", t.Name, pluralS(t.Copied, "file"),
			progress.FormatBytes(t.Bytes), pluralS(t.Versions, "old version"), pluralS(probs[t.Name], "problem"))
		if t.Adopted > 0 {
			line += fmt.Sprintf(", %d already there (recorded)", t.Adopted)
		}
		switch t.Status {
		case backup.StatusStopped:
			line += fmt.Sprintf(" — STOPPED, %s not backed up", pluralS(t.Pending, "file"))
		case backup.StatusPartial:
			line += fmt.Sprintf(" — INCOMPLETE, %s not backed up", pluralS(t.Pending, "file"))
		case backup.StatusPaused:
			line += fmt.Sprintf(" — PAUSED: the upload window closed; %s wait for the next window", pluralS(t.Pending, "file"))
		}
		fmt.Fprintln(w, line)
	}
	for _, t := range waiting {
		fmt.Fprintf(w, "%s: outside its upload window %s: nothing uploaded now; resumes %s (--now uploads anyway)\n",
			t.Name, t.Window, clockOrDate(t.Resumes, time.Now()))
	}
	for _, t := range away {
		fmt.Fprintf(w, "%s: %s\n", t.Name, t.Reason)
	}
	printOffsite(w, offsite)
	if runErr != nil {
		fmt.Fprintf(w, "trove: %v\n", runErr)
	}
	switch {
	case noTargets:
		fmt.Fprintln(w, "No backup targets: add one with `trove target add NAME DIR --medium hdd --location home`.")
	case runErr == nil && res.OK() && len(away) == 0 && len(waiting) == 0 && !anyPaused(res):
		fmt.Fprintln(w, "Backup complete: every target is up to date.")
	case runErr == nil && res.OK() && len(away) == 0:
		fmt.Fprintln(w, "Backup done for now: every target is up to date or waiting for its upload window.")
	default:
		var why []string
		for _, t := range res.Targets {
			if t.Status != backup.StatusDone {
				why = append(why, t.Name+" "+t.Status)
			}
		}
		for _, t := range away {
			why = append(why, t.Name+" "+t.Status)
		}
		if s.Held {
			why = append(why, "deletions held")
		}
		if len(why) == 0 {
			why = append(why, pluralS(len(res.Problems), "problem"))
		}
		fmt.Fprintf(w, "Backup INCOMPLETE: %s.\n", strings.Join(why, ", "))
	}
}

func printBackupJSON(w io.Writer, res *backup.Result, away []awayTarget, waiting []waitTarget, offsite []offsiteLine, runErr error) {
	out := struct {
		Event string `json:"event"`
		*backup.Result
		Away    []awayTarget  `json:"away"`
		Waiting []waitTarget  `json:"waiting,omitempty"`
		Offsite []offsiteLine `json:"offsite,omitempty"`
		OK      bool          `json:"ok"`
		Error   string        `json:"error,omitempty"`
	}{Event: "result", Result: res, Away: away, Waiting: waiting, Offsite: offsite, OK: runErr == nil && res.OK() && len(away) == 0}
	if out.Away == nil {
		out.Away = []awayTarget{}
	}
	if runErr != nil {
		out.Error = runErr.Error()
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(out)
}

// limitMemory sets a soft limit on Go's memory (unless GOMEMLIMIT is set)
// so that the whole process stays within 32 MiB + 300 bytes per catalogued
// file: the live data of a backup grows with the library, and without a
// limit the garbage collector lets the heap reach twice that. About 20 MiB
// of the process is not Go's (the binary's code, SQLite's page cache), so
// Go gets 12 MiB + 300 bytes per file, and never less than 32 MiB: below
// the live heap (copy buffers of a first backup) a limit only makes the
// collector run all the time.
func limitMemory(a *app) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	n, err := a.cat.FileCount()
	if err != nil {
		return
	}
	debug.SetMemoryLimit(max(32<<20, 12<<20+300*int64(n)))
}

func anyPaused(res *backup.Result) bool {
	for _, t := range res.Targets {
		if t.Status == backup.StatusPaused {
			return true
		}
	}
	return false
}

// offsiteLine is one project's completion on one off-site target.
type offsiteLine struct {
	Target   string    `json:"target"`
	Project  string    `json:"project"`
	Percent  int       `json:"percent"` // of the project's bytes with a verified copy there (rounded down)
	Complete bool      `json:"complete"`
	At       time.Time `json:"complete_at,omitzero"` // when its last copy there was made
	Resumes  time.Time `json:"resumes,omitzero"`     // the next upload window, when incomplete
}

// offsiteProgress reports, for each chosen remote off-site target (SFTP or
// a vault at a location other than the library's), every project that is not complete there and
// every project completed during this run.
func offsiteProgress(ctx context.Context, a *app, lib catalog.Target, chosen []catalog.Target, windows map[string]schedule.Window, start time.Time) []offsiteLine {
	remote := false
	for _, t := range chosen {
		remote = remote || (t.Location != lib.Location && isRemote(t.Kind))
	}
	if !remote {
		return nil // nothing off-site over the network: don't load every file
	}
	var out []offsiteLine
	for _, t := range chosen {
		if t.Location == lib.Location || !isRemote(t.Kind) {
			continue
		}
		progress, err := a.cat.ProgressOnTarget(ctx, t.ID)
		if err != nil {
			continue
		}
		for _, p := range progress {
			l := offsiteLine{Target: t.Name, Project: p.Project, Percent: int(p.Done * 100 / p.Total), Complete: p.Done == p.Total}
			if l.Complete {
				if p.Last.Before(start) {
					continue // complete before this run: nothing new to say
				}
				l.At = p.Last
			} else if w := windows[t.Name]; !w.Always() {
				l.Resumes = w.NextStart(a.now())
			}
			out = append(out, l)
		}
	}
	return out
}

// printOffsite prints "Smith Wedding: off-site complete 06:12" or
// "Smith Wedding: 41% uploaded, resumes 01:00" per project.
func printOffsite(w io.Writer, lines []offsiteLine) {
	targets := map[string]bool{}
	for _, l := range lines {
		targets[l.Target] = true
	}
	now := time.Now()
	for _, l := range lines {
		prefix := ""
		if len(targets) > 1 {
			prefix = l.Target + ": "
		}
		switch {
		case l.Complete:
			fmt.Fprintf(w, "%s%s: off-site complete %s\n", prefix, l.Project, clockOrDate(l.At, now))
		case !l.Resumes.IsZero():
			fmt.Fprintf(w, "%s%s: %d%% uploaded to %s, resumes %s\n", prefix, l.Project, l.Percent, l.Target, clockOrDate(l.Resumes, now))
		default:
			fmt.Fprintf(w, "%s%s: %d%% uploaded to %s; the next backup continues\n", prefix, l.Project, l.Percent, l.Target)
		}
	}
}

// clockOrDate shows t as "06:12" when it is within a day of now, else as
// "2024-06-02 06:12".
func clockOrDate(t, now time.Time) string {
	t = t.Local()
	if d := t.Sub(now); d > -20*time.Hour && d < 20*time.Hour {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}
