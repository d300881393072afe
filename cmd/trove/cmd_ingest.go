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

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/ingest"
	"github.com/trove-backup/trove/internal/media"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/targetmeta"
)

func newIngestCmd() *cobra.Command {
	var project string
	var to []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ingest SOURCE... --project NAME [--to TARGET...] [--json]",
		Short: "Copy a card (or folder) into the library and backup drives in one read, verified",
		Long: `Reads every photo, video and sidecar on SOURCE once, writes the library and every ingest
target at the same time, reads each copy back from the device and compares hashes, and
records it all in the catalog. Files already in the catalog are recognised by content
and not copied again; two different files with the same name never overwrite each other.

The last line is the verdict: "SAFE TO FORMAT: ..." only when every file on the source
has verified copies on at least 2 separate devices (copies on the same disk count once),
otherwise "NOT SAFE TO FORMAT: ..." with the reason. The exit code is 0 only when safe:
1 when something failed, 3 when nothing failed but the copies are not enough.

Targets default to those added with --ingest; --to picks others (repeatable).
A target that is not attached is reported and skipped. Re-running an interrupted
ingest finishes it.`,
		Example: `  trove ingest /media/ann/EOS_DIGITAL --project "Smith Wedding"
  trove ingest /media/ann/CARD1 /media/ann/CARD2 --project "Jones Portraits" --to drive-a --to drive-b
  trove ingest ./card --project Test --json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := media.CleanProject(project)
			if err != nil {
				return usageError("--project: %v", err)
			}
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			tmpl, err := media.ParseTemplate(a.cfg.Template)
			if err != nil {
				return usageError("config template: %v", err)
			}
			chosen, err := ingestTargets(a.cat, to)
			if err != nil {
				return err
			}
			lib, libStore, err := a.attachLibrary()
			if err != nil {
				return err
			}
			defer libStore.Close()
			opts := ingest.Options{Sources: args, Project: name, Template: tmpl, Catalog: a.cat, Now: a.now,
				Library: ingest.Dest{Target: lib, Store: libStore, Device: libStore.Device()},
				Args:    strings.Join(args, " ") + " --project " + name}
			for _, t := range chosen {
				l, err := a.attach(t)
				if err != nil {
					warnf(a.stderr, "%v: skipped", err)
					if h := (*hinted)(nil); errors.As(err, &h) && h.hint != "" {
						fmt.Fprintf(a.stderr, "hint: %s\n", h.hint)
					}
					opts.Away = append(opts.Away, t)
					continue
				}
				defer l.Close()
				opts.Targets = append(opts.Targets, ingest.Dest{Target: t, Store: l, Device: l.Device()})
			}
			opts.Sink = newSink(a, asJSON, "to copy")
			if os.Getenv("GOMEMLIMIT") == "" {
				// Ingest's live heap is small and fixed (a pool of buffers); a soft
				// limit keeps the garbage collector from letting it grow to twice that.
				debug.SetMemoryLimit(40 << 20)
			}
			res, runErr := ingest.Run(cmd.Context(), opts)
			opts.Sink.Close()
			markWritten(a, opts, res)
			if res != nil && runErr == nil {
				refreshTargets(cmd.Context(), a, append([]ingest.Dest{opts.Library}, opts.Targets...))
			}
			if res == nil {
				return runErr
			}
			if asJSON {
				printIngestJSON(a.stdout, res, runErr)
			} else {
				printIngest(a.stdout, res, opts, runErr)
			}
			switch {
			case runErr != nil && cmd.Context().Err() != nil:
				return &exitError{code: exitInterrupt, silent: true}
			case runErr != nil || len(res.Problems) > 0:
				return &exitError{code: exitFailure, silent: true}
			case !res.Safe:
				return &exitError{code: exitNotSafe, silent: true}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&project, "project", "p", "", "the shoot's name, e.g. \"Smith Wedding\" (required)")
	cmd.Flags().StringArrayVar(&to, "to", nil, "target to write besides the library (repeatable; default: the --ingest targets)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress events and the result as JSON lines")
	cmd.MarkFlagRequired("project")
	return cmd
}

// ingestTargets resolves --to names, or the targets marked for ingest.
func ingestTargets(cat *catalog.Catalog, names []string) ([]catalog.Target, error) {
	if len(names) == 0 {
		all, err := cat.Targets()
		if err != nil {
			return nil, err
		}
		var out []catalog.Target
		for _, t := range all {
			if t.Ingest && t.Kind != catalog.KindLibrary {
				out = append(out, t)
			}
		}
		return out, nil
	}
	// The library is always written; naming it with --to changes nothing.
	return lookupTargets(cat, slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == catalog.LibraryName }))
}

// refreshTargets rewrites each destination's manifest, README and catalog
// snapshot; a failure is a warning (the copies themselves are recorded).
func refreshTargets(ctx context.Context, a *app, dests []ingest.Dest) {
	for _, d := range dests {
		ms, ok := d.Store.(store.MetaStore)
		if !ok {
			continue
		}
		t, err := a.cat.TargetByName(d.Target.Name)
		if err == nil {
			err = targetmeta.Refresh(ctx, a.cat, t, ms, a.now())
		}
		if err != nil {
			warnf(a.stderr, "could not update the manifest on %s: %v", d.Target.Name, err)
		}
	}
}

// markWritten records when each destination last received files.
func markWritten(a *app, o ingest.Options, res *ingest.Result) {
	if res == nil || res.Copied == 0 {
		return
	}
	for _, d := range append([]ingest.Dest{o.Library}, o.Targets...) {
		t := d.Target
		t.LastWriteAt = a.now()
		t.LastSeenAt = a.now()
		t.Device = d.Device
		if cur, err := a.cat.TargetByName(t.Name); err == nil {
			cur.LastWriteAt, cur.LastSeenAt = t.LastWriteAt, t.LastSeenAt
			a.cat.UpdateTarget(cur)
		}
	}
}

func printIngest(w io.Writer, res *ingest.Result, o ingest.Options, runErr error) {
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, t := range o.Away {
		fmt.Fprintf(w, "note: %s was not attached: it received nothing\n", t.Name)
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(w, "Problems (%d):\n", len(res.Problems))
		for _, p := range res.Problems {
			where := p.File
			if p.Dest != "" && p.File != "" {
				where = p.File + " on " + p.Dest
			} else if p.Dest != "" {
				where = p.Dest
			}
			fmt.Fprintf(w, "  %s: %s\n", where, p.Err)
		}
	}
	var lacking []ingest.FileResult
	for _, f := range res.Files {
		if f.Devices < 2 {
			lacking = append(lacking, f)
		}
	}
	if len(lacking) > 0 && len(lacking) <= 50 {
		fmt.Fprintln(w, "Files without verified copies on 2 separate devices:")
		for _, f := range lacking {
			fmt.Fprintf(w, "  %s: %s\n", f.Source, copiesText(f))
		}
	} else if len(lacking) > 50 {
		fmt.Fprintf(w, "%d files lack verified copies on 2 separate devices (see `trove ingest --json` for the list)\n", len(lacking))
	}
	fmt.Fprintf(w, "Ingested %d new files (%s), %d already in the library, %d failed.\n",
		res.Copied, progress.FormatBytes(res.Bytes), res.Known, res.Failed)
	if runErr != nil {
		fmt.Fprintf(w, "trove: %v\n", runErr)
	}
	fmt.Fprintln(w, res.Verdict)
}

func copiesText(f ingest.FileResult) string {
	if len(f.Copies) == 0 {
		return "no verified copy (" + f.Status + ")"
	}
	return fmt.Sprintf("verified on %s (%d device)", strings.Join(f.Copies, ", "), f.Devices)
}

func printIngestJSON(w io.Writer, res *ingest.Result, runErr error) {
	out := struct {
		Event string `json:"event"`
		*ingest.Result
		Error string `json:"error,omitempty"`
	}{Event: "result", Result: res}
	if runErr != nil {
		out.Error = runErr.Error()
	}
	json.NewEncoder(w).Encode(out)
}
