package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/archive"
	"github.com/trove-backup/trove/internal/archive/driveindex"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/targetmeta"
)

func newArchiveCmd() *cobra.Command {
	var to []string
	var keep, asJSON bool
	cmd := &cobra.Command{
		Use:   "archive PROJECT --to TARGET... [--keep-library] [--json]",
		Short: "Copy a delivered project onto long-term drives, then release it from the library when that is safe",
		Long: `Copies every file of PROJECT onto each archive target (typically drives labelled by year,
archive-2024-a and archive-2024-b), written durably and read back from the device.

Then it releases the project from the library: only when the policy still holds WITHOUT the
library copy, counting only copies that are read back from their drives and hash-checked
now (drives that are not attached do not count). The library files themselves are hashed
first: a file edited since the last backup is never thrown away. When any file would fall
short, nothing is released and the reasons are printed (exit code 3).

The catalog keeps knowing every file: ` + "`trove status`" + ` shows the project as archived,
` + "`trove where`" + ` lists its copies and ` + "`trove restore`" + ` brings it back. An interrupted archive
leaves the library copy and the copies made so far; running it again finishes the job.
--keep-library copies and verifies but never releases.`,
		Example: `  trove archive "Smith Wedding" --to archive-2024-a --to archive-2024-b
  trove archive "Smith Wedding" --to archive-2024-a,archive-2024-b --keep-library
  trove archive "Smith Wedding" --to archive-2024-a --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			project := args[0]
			if len(to) == 0 {
				return usageError("--to TARGET is required: the archive drive(s) to copy %q onto", project)
			}
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			files, err := a.cat.FilesByProject(project)
			if err != nil {
				return err
			}
			if len(files) == 0 {
				return &exitError{code: exitUsage, err: withHint(fmt.Errorf("no project named %q in the catalog", project),
					"see the project names in `trove status`")}
			}
			for _, n := range to {
				t, err := a.cat.TargetByName(n)
				if errors.Is(err, catalog.ErrNotFound) {
					return &exitError{code: exitUsage, err: withHint(fmt.Errorf("unknown target %q", n), "see `trove target list`")}
				}
				if err != nil {
					return err
				}
				if t.Kind == catalog.KindLibrary {
					return usageError("--to %s: the library cannot be an archive target", n)
				}
			}
			set, err := attachChosen(a, nil)
			if err != nil {
				return err
			}
			defer set.Close()
			lib, ok := set.byName(catalog.LibraryName)
			if !ok {
				return withHint(errors.New("the library is not attached"), "check that the library folder "+a.cfg.Library+" is there")
			}
			o := archive.Options{Catalog: a.cat, Project: project, Files: files, Library: archive.Target{Target: lib.t, Store: lib.l},
				Rule: ruleOf(a.cfg.Policy), Home: a.cfg.Location, KeepLibrary: keep, Now: a.now,
				Args: strings.TrimSpace(quoteArg(project) + " --to " + strings.Join(to, ",") + keepArg(keep))}
			chosen := map[string]bool{}
			for _, n := range to {
				if chosen[n] {
					continue
				}
				chosen[n] = true
				at, ok := set.byName(n)
				if !ok {
					for _, f := range set.failed {
						if f.name == n {
							return f.err
						}
					}
					return withHint(fmt.Errorf("archive target %s is not attached", n), "plug it in and run the archive again")
				}
				o.To = append(o.To, archive.Target{Target: at.t, Store: at.l})
			}
			for _, at := range set.attached {
				if at.t.ID != lib.t.ID && !chosen[at.t.Name] {
					o.Sources = append(o.Sources, archive.Target{Target: at.t, Store: at.l})
				}
			}
			for _, f := range set.failed {
				warnf(a.stderr, "%v: its copies are not used", f.err)
			}
			if o.Targets, err = a.cat.Targets(); err != nil {
				return err
			}
			o.Sink = newSink(a, asJSON, "to archive")
			res, runErr := archive.Run(cmd.Context(), o)
			o.Sink.Close()
			if res == nil {
				if errors.Is(runErr, archive.ErrNoFiles) {
					return usageError("%v", runErr)
				}
				return runErr
			}
			refreshDrives(cmd.Context(), a, set, chosen)
			if asJSON {
				printJSONResult(a.stdout, res, runErr)
			} else {
				printArchive(a.stdout, res, runErr)
			}
			if err := jobExit(cmd, runErr, len(res.Problems) > 0); err != nil {
				return err
			}
			if len(res.NotReleased) > 0 {
				return &exitError{code: exitNotSafe, silent: true}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&to, "to", nil, "archive target (repeat, or separate with commas)")
	cmd.Flags().BoolVar(&keep, "keep-library", false, "copy and verify, but keep the project in the library")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress events and the result as JSON lines")
	return cmd
}

// refreshDrives rewrites the manifest, README and catalog snapshot of the
// archive targets, and INDEX.html on every attached folder target (their
// "other copies" changed). Failures are warnings: the copies are recorded.
func refreshDrives(ctx context.Context, a *app, set *targetSet, written map[string]bool) {
	ctx = context.WithoutCancel(ctx)
	for _, at := range set.attached {
		if at.t.Kind == catalog.KindLibrary {
			continue
		}
		t, err := a.cat.TargetByName(at.t.Name)
		if err == nil && written[at.t.Name] {
			err = targetmeta.Refresh(ctx, a.cat, t, at.l, a.now())
		}
		if err == nil {
			err = driveindex.Write(ctx, a.cat, t, at.l, a.now())
		}
		if err != nil {
			warnf(a.stderr, "could not update the index on %s: %v", at.t.Name, err)
		}
	}
}

func printArchive(w io.Writer, res *archive.Result, runErr error) {
	for _, p := range res.Problems {
		where := p.Target
		if p.File != "" {
			where = p.File + " on " + p.Target
		}
		fmt.Fprintf(w, "problem: %s: %s\n", where, p.Message)
	}
	size := progress.FormatBytes(res.Bytes)
	if len(res.ArchivedTo) > 0 {
		fmt.Fprintf(w, "Archived %s (%s, %s) to %s: %s written and read back, %s already there.\n", res.Project,
			plural(res.Files, "file", "files"), size, strings.Join(res.ArchivedTo, ", "),
			plural(res.Copied, "copy", "copies"), commas(res.Present))
	}
	if res.Rechecked > 0 {
		fmt.Fprintf(w, "Read back %s from their drives for the release.\n", plural(res.Rechecked, "copy", "copies"))
	}
	switch {
	case res.KeptInLibrary:
		fmt.Fprintf(w, "Kept %s in the library (--keep-library).\n", res.Project)
	case len(res.NotReleased) > 0:
		first := res.NotReleased[0]
		fmt.Fprintf(w, "not released: without the library copy %s; add another archive target or keep it\n", wouldHave(res.Project, first))
		for _, why := range res.NotReleased[1:] {
			fmt.Fprintf(w, "  - %s\n", why)
		}
		fmt.Fprintln(w, "Nothing was deleted: the library still holds the project.")
	case res.Released > 0:
		fmt.Fprintf(w, "Released %s from the library: %s (%s) deleted there, each with verified copies elsewhere.\n",
			res.Project, plural(res.Released, "file", "files"), size)
		fmt.Fprintf(w, "Bring it back any time: trove restore %s --to DIR\n", quoteArg(res.Project))
	case res.AlreadyReleased == res.Files:
		fmt.Fprintf(w, "%s was already released from the library.\n", res.Project)
	}
	for _, n := range res.Uncounted {
		fmt.Fprintf(w, "note: %s is not attached: its copies were not counted (only copies read back now count for a release)\n", n)
	}
	if runErr != nil {
		fmt.Fprintf(w, "trove: %v\n", runErr)
	}
}

// wouldHave words the main reason a release was refused:
// "Smith Wedding would have 2 copies, policy wants 3".
func wouldHave(project, why string) string {
	subject := project
	if n, rest, ok := strings.Cut(why, " files: "); ok && strings.Contains(n, " of ") {
		subject, why = n+" files of "+project, rest
	}
	if why != "" && (unicode.IsDigit(rune(why[0])) || strings.HasPrefix(why, "only ") ||
		strings.HasPrefix(why, "none ") || strings.HasPrefix(why, "no ") || strings.HasPrefix(why, "kind ")) {
		return subject + " would have " + why
	}
	return subject + " would fall short: " + why
}

func quoteArg(s string) string {
	if strings.ContainsAny(s, " \t'\"$\\") {
		return "\"" + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`).Replace(s) + "\""
	}
	return s
}

func keepArg(keep bool) string {
	if keep {
		return " --keep-library"
	}
	return ""
}
