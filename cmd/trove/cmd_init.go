package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/media"
	"github.com/trove-backup/trove/internal/store/local"
)

func newInitCmd() *cobra.Command {
	var library, location, medium string
	cmd := &cobra.Command{
		Use:   "init [--library DIR] [--location NAME] [--medium ssd]",
		Short: "Set up Trove: write the config, create the catalog and the library folder",
		Example: `  trove init
  trove init --library /Volumes/Work/Photos --location studio --medium ssd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, err := config.Locate()
			if err != nil {
				return err
			}
			if _, err := os.Stat(paths.Config); err == nil {
				return usageError("already set up: %s exists (edit it, or remove it to start over)", paths.Config)
			}
			home, err := os.UserHomeDir()
			if err != nil && library == "" {
				return usageError("cannot find your home folder: pass --library DIR")
			}
			cfg := config.Default(home)
			if library != "" {
				if cfg.Library, err = filepath.Abs(library); err != nil {
					return usageError("--library: %v", err)
				}
			}
			cfg.Location, cfg.Medium = location, medium
			if err := cfg.Validate(); err != nil {
				return usageError("%v", err)
			}
			if _, err := media.ParseTemplate(cfg.Template); err != nil {
				return err
			}
			if err := os.MkdirAll(cfg.Library, 0o755); err != nil {
				return withHint(fmt.Errorf("create library folder: %w", err), "pass --library with a folder you can write")
			}
			cat, err := catalog.Open(paths.Catalog)
			if err != nil {
				return err
			}
			defer cat.Close()
			libID, err := cat.Meta("library_id")
			if errors.Is(err, catalog.ErrNotFound) {
				libID = newID()
				err = cat.SetMeta("library_id", libID)
			}
			if err != nil {
				return err
			}
			lib, err := cat.Library()
			if errors.Is(err, catalog.ErrNotFound) {
				lib = catalog.Target{ID: newID(), Name: catalog.LibraryName, Kind: catalog.KindLibrary,
					Path: cfg.Library, Medium: cfg.Medium, Location: cfg.Location, CreatedAt: nowFunc()}
				err = cat.AddTarget(lib)
			}
			if err != nil {
				return err
			}
			lib.Path, lib.Medium, lib.Location = cfg.Library, cfg.Medium, cfg.Location
			caps, err := local.Prepare(cfg.Library, local.Identity{Format: 1, TargetID: lib.ID, Name: lib.Name,
				LibraryID: libID, CreatedAt: nowFunc()})
			if err != nil {
				return withHint(fmt.Errorf("prepare library %s: %w", cfg.Library, err), "choose another folder with --library")
			}
			lib.FSType = caps.FSType
			if dev, err := local.DeviceOf(cfg.Library); err == nil {
				lib.Device = dev
			}
			if err := cat.UpdateTarget(lib); err != nil {
				return err
			}
			if err := config.Save(paths.Config, cfg); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Trove is set up.\n  config:   %s\n  catalog:  %s\n  library:  %s (%s, at %s)\n",
				paths.Config, paths.Catalog, cfg.Library, cfg.Medium, cfg.Location)
			fmt.Fprintf(out, "  policy:   %d copies, %d kinds of media, %d off-site, verified within %d days\n",
				cfg.Policy.Copies, cfg.Policy.Media, cfg.Policy.Offsite, cfg.Policy.VerifyWithinDays)
			fmt.Fprintln(out, "Next: add a backup drive with `trove target add NAME DIR --medium hdd --location home --ingest`.")
			return nil
		},
	}
	cmd.Flags().StringVar(&library, "library", "", "the library folder (default ~/Pictures/Trove)")
	cmd.Flags().StringVar(&location, "location", "home", "where this computer is (home, studio, ...)")
	cmd.Flags().StringVar(&medium, "medium", "ssd", "the library's medium: ssd, hdd, nas, raid, ...")
	return cmd
}
