package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/archive/driveindex"
	"github.com/trove-backup/trove/internal/catalog"
)

func newLabelCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "label TARGET [--json]",
		Short: "Print a short label for a sticker on a drive: name, medium, location, projects or years, date",
		Long: `Prints a few lines to write or print on a sticker for the drive: its name, medium and
location, the projects it holds (or the years, when there are many), when it was written
and verified, and how to check it without Trove. It reads the catalog only: the drive need
not be attached. (The drive itself carries README.txt and INDEX.html with the full story.)`,
		Example: "  trove label archive-2024-a\n  trove label drive-b | lp",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			t, err := a.cat.TargetByName(args[0])
			if errors.Is(err, catalog.ErrNotFound) {
				return &exitError{code: exitUsage, err: withHint(fmt.Errorf("unknown target %q", args[0]), "see `trove target list`")}
			}
			if err != nil {
				return err
			}
			d, err := driveindex.Build(a.cat, t, a.now())
			if err != nil {
				return err
			}
			if asJSON {
				projects := []string{}
				for _, p := range d.Projects {
					projects = append(projects, p.Name)
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"target": t.Name, "medium": t.Medium, "location": t.Location,
					"projects": projects, "years": d.Years(), "files": d.Files, "bytes": d.Bytes,
					"label": driveindex.Label(d)})
			}
			fmt.Fprint(a.stdout, driveindex.Label(d))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
