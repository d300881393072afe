package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
)

func newTargetMoveCmd() *cobra.Command {
	var location string
	cmd := &cobra.Command{
		Use:   "move NAME --location PLACE",
		Short: "Record that a drive was carried to another place (drive rotation)",
		Long: `Records where a target is kept now, e.g. after carrying a drive to the bank or back
home. Copies on a drive kept away from the library's location count as off-site. The
time of the move is recorded; ` + "`trove status`" + ` warns when an off-site drive was last synced
longer ago than [freshness] offsite_max_days (bring it home and swap it).`,
		Example: "  trove target move drive-b --location bank\n  trove target move drive-b --location home",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc := strings.TrimSpace(location)
			if loc == "" {
				return usageError("--location is required: where the drive is kept now (home, studio, bank, ...)")
			}
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
			if t.Kind == catalog.KindLibrary {
				return usageError("the library moves with this computer: set location in %s instead", a.paths.Config)
			}
			if strings.EqualFold(t.Location, loc) {
				fmt.Fprintf(a.stdout, "%s is already kept at %s: nothing changed.\n", t.Name, t.Location)
				return nil
			}
			if err := a.cat.MoveTarget(t.ID, loc, a.now()); err != nil {
				return err
			}
			was := t.Location
			t.Location = loc
			fmt.Fprintf(a.stdout, "%s is now kept at %s (was %s).\n", t.Name, loc, orUnknown(was))
			if isOffsite(a.cfg.Location, loc) {
				fmt.Fprintf(a.stdout, "Its copies count as off-site (away from %s). Last synced %s.\n", a.cfg.Location, when(t.LastWriteAt))
			} else {
				fmt.Fprintf(a.stdout, "Its copies are at %s with the library now: they do not count as off-site.\n", loc)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&location, "location", "", "where the drive is kept now (home, studio, bank, ...)")
	return cmd
}

// isOffsite reports whether a location is away from the library's (the
// policy's rule: case-insensitive, spaces trimmed, empty is not off-site).
func isOffsite(home, loc string) bool {
	home, loc = strings.TrimSpace(home), strings.TrimSpace(loc)
	return home != "" && loc != "" && !strings.EqualFold(home, loc)
}
