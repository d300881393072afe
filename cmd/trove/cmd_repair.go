package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/repair"
)

func newRepairCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "repair [TARGET...] [--json]",
		Short: "Replace missing and corrupt copies from a copy that verifies now",
		Long: `Replaces every copy that ` + "`trove verify`" + ` found missing or corrupt on the given targets
(default: every attached target, the library included). The replacement comes from
another attached target and is read from the device and hash-checked first: Trove never
repairs from a copy merely believed good. The bad copy is not deleted: it is moved into
the target's .trove/versions folder. The new copy is written durably and read back.

A file with no good copy on any attached target is reported as unrecoverable (with the
drives that are away and may hold one); nothing is moved. Exit code 1 when anything
could not be repaired; 4 when a target refused its passphrase or credentials. Running it again after an interruption finishes the job.`,
		Example: `  trove verify && trove repair
  trove repair drive-a
  trove repair library     # heal rotted library files from a backup`,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			// Every target is attached: the ones not named are sources.
			set, err := openChosen(cmd.Context(), a, nil)
			if err != nil {
				return err
			}
			defer set.Close()
			o := repair.Options{Catalog: a.cat, Away: set.away, Sink: newSink(a, asJSON, "to repair"), Now: a.now,
				Args: strings.Join(args, " ")}
			for _, at := range set.attached {
				o.Sources = append(o.Sources, repair.Target{Target: at.t, Store: at.store()})
			}
			var awayNamed []string
			if len(args) > 0 {
				o.Repair = []string{}
				for _, n := range args {
					if _, err := a.cat.TargetByName(n); err != nil {
						o.Sink.Close()
						return &exitError{code: exitUsage, err: withHint(fmt.Errorf("unknown target %q", n), "see `trove target list`")}
					}
					if _, ok := set.byName(n); ok {
						o.Repair = append(o.Repair, n)
					} else {
						awayNamed = append(awayNamed, n)
					}
				}
			}
			res, runErr := repair.Run(cmd.Context(), o)
			o.Sink.Close()
			if res == nil {
				return runErr
			}
			for _, n := range awayNamed {
				res.Problems = append(res.Problems, repair.Problem{Target: n, Message: "not attached: nothing repaired there"})
			}
			for _, f := range set.failed {
				res.Problems = append(res.Problems, repair.Problem{Target: f.name, Message: f.err.Error()})
			}
			if asJSON {
				printJSONResult(a.stdout, res, runErr)
			} else {
				printRepair(a.stdout, res, runErr)
			}
			return jobExit(cmd, runErr, !res.OK())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress events and the result as JSON lines")
	return cmd
}

func printRepair(w io.Writer, res *repair.Result, runErr error) {
	for _, n := range res.Away {
		fmt.Fprintf(w, "%s: not attached (its copies were neither used nor repaired)\n", n)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, f := range res.Repaired {
		switch {
		case f.From == "":
			fmt.Fprintf(w, "repaired %s on %s: it reads back good now (was %s)\n", f.File, f.Target, f.Was)
		case f.Version != "":
			fmt.Fprintf(w, "repaired %s on %s from %s (was %s; bad copy kept as %s)\n", f.File, f.Target, f.From, f.Was, f.Version)
		default:
			fmt.Fprintf(w, "repaired %s on %s from %s (was %s)\n", f.File, f.Target, f.From, f.Was)
		}
	}
	for _, p := range res.Unrecoverable {
		fmt.Fprintf(w, "%s\n", p.Message)
	}
	for _, list := range [][]repair.Problem{res.Problems, res.Skipped} {
		for _, p := range list {
			where := p.Target
			if p.File != "" {
				where = p.File + " on " + p.Target
			}
			fmt.Fprintf(w, "problem: %s: %s\n", where, p.Message)
		}
	}
	bad := len(res.Unrecoverable) + len(res.Problems) + len(res.Skipped)
	switch {
	case len(res.Repaired) == 0 && bad == 0:
		fmt.Fprintln(w, "Nothing to repair: no copy is known to be missing or corrupt (run `trove verify` to check).")
	case bad == 0:
		fmt.Fprintf(w, "Repaired %s (%s), all read back and verified.\n", plural(len(res.Repaired), "copy", "copies"), progress.FormatBytes(res.Bytes))
	default:
		fmt.Fprintf(w, "Repaired %s (%s); %d unrecoverable, %d other problems. Nothing was deleted.\n",
			plural(len(res.Repaired), "copy", "copies"), progress.FormatBytes(res.Bytes), len(res.Unrecoverable), bad-len(res.Unrecoverable))
		if slices.ContainsFunc(res.Unrecoverable, func(p repair.Problem) bool { return strings.Contains(p.Message, "not attached)") }) {
			fmt.Fprintln(w, "hint: attach the drives named above and run `trove repair` again")
		}
	}
	if runErr != nil {
		fmt.Fprintf(w, "trove: %v\n", runErr)
	}
}
