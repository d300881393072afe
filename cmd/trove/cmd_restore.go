package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/restore"
)

func newRestoreCmd() *cobra.Command {
	var to, from string
	var overwrite, asJSON bool
	cmd := &cobra.Command{
		Use:   "restore PATH|PROJECT --to DIR [--from TARGET] [--overwrite] [--json]",
		Short: "Bring files back from the best verified copy into a folder, hash-checked",
		Long: `Restores a project, a folder or a file of the library into DIR, keeping the library's
folder tree (DIR/2024/2024-06-01 Smith Wedding/IMG_0001.CR3). Each file comes from its
most recently verified copy on an attached target (--from picks one target); every byte
is hashed on the way and a copy that does not match is skipped for the next one.

Existing files are never overwritten: they are skipped, or with --overwrite renamed to
"<name>.trove-old-<time>" beside the restored file. Nothing is written outside DIR:
paths are checked and symbolic links inside DIR are refused, not followed.
Exit code 1 when any file could not be restored; 4 when a target refused its passphrase
or credentials.`,
		Example: `  trove restore "Smith Wedding" --to ~/Restored
  trove restore "2024/2024-06-01 Smith Wedding/IMG_0001.CR3" --to /tmp/r --from drive-b
  trove restore 2024 --to /mnt/new-disk/Pictures --overwrite`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError("--to DIR is required: the folder to restore into")
			}
			dir, err := filepath.Abs(to)
			if err != nil {
				return usageError("--to %s: %v", to, err)
			}
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			files, err := resolveFiles(a, args[0])
			if err != nil {
				return err
			}
			var names []string
			if from != "" {
				names = []string{from}
			}
			set, err := openChosen(cmd.Context(), a, names)
			if err != nil {
				return err
			}
			defer set.Close()
			if from != "" && len(set.attached) == 0 {
				if len(set.failed) > 0 {
					return set.failed[0].err
				}
				return withHint(fmt.Errorf("%s is not attached", from), "plug it in, or leave out --from to use any attached copy")
			}
			for _, f := range set.failed {
				warnf(a.stderr, "%v: not used", f.err)
			}
			o := restore.Options{Catalog: a.cat, Files: files, Away: set.away, Dir: dir, Overwrite: overwrite,
				Sink: newSink(a, asJSON, "to restore"), Now: a.now}
			for _, at := range set.attached {
				o.Sources = append(o.Sources, restore.Source{Target: at.t, Store: at.store()})
			}
			res, runErr := restore.Run(cmd.Context(), o)
			o.Sink.Close()
			if res == nil {
				return runErr
			}
			if asJSON {
				printJSONResult(a.stdout, res, runErr)
			} else {
				printRestore(a.stdout, res, runErr)
			}
			return jobExit(cmd, runErr, !res.OK())
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "folder to restore into (created when missing)")
	cmd.Flags().StringVar(&from, "from", "", "read only from this target")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace existing files, keeping each old one as <name>.trove-old-<time>")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress events and the result as JSON lines")
	return cmd
}

func printRestore(w io.Writer, res *restore.Result, runErr error) {
	for _, it := range res.Fallbacks {
		fmt.Fprintf(w, "note: %s: %s; used another copy\n", it.File, it.Message)
	}
	for _, it := range res.KeptAside {
		fmt.Fprintf(w, "kept the existing %s as %s\n", it.File, it.Message)
	}
	if len(res.Skipped) > 0 && len(res.Skipped) <= 20 {
		for _, it := range res.Skipped {
			fmt.Fprintf(w, "skipped %s: %s\n", it.File, it.Message)
		}
	}
	if len(res.Failed) > 0 {
		fmt.Fprintf(w, "Not restored (%d):\n", len(res.Failed))
		for _, it := range res.Failed {
			fmt.Fprintf(w, "  %s: %s\n", it.File, it.Message)
		}
	}
	parts := []string{fmt.Sprintf("Restored %s (%s) to %s, all hash-checked", plural(res.Restored, "file", "files"),
		progress.FormatBytes(res.Bytes), res.Dir)}
	if n := len(res.Unchanged); n > 0 {
		parts = append(parts, fmt.Sprintf("%s already there with the same content", commas(n)))
	}
	if n := len(res.Skipped); n > 0 {
		parts = append(parts, fmt.Sprintf("%s skipped (exist; use --overwrite)", commas(n)))
	}
	if n := len(res.Failed); n > 0 {
		parts = append(parts, fmt.Sprintf("%s not restored", commas(n)))
	}
	fmt.Fprintln(w, strings.Join(parts, "; "))
	if runErr != nil {
		fmt.Fprintf(w, "trove: %v\n", runErr)
	}
}
