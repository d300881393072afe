package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
)

var targetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func newTargetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Register and list the places that hold copies (drives, NAS folders)",
	}
	cmd.AddCommand(newTargetAddCmd(), newTargetListCmd(), newTargetMoveCmd())
	return cmd
}

func newTargetAddCmd() *cobra.Command {
	var medium, location string
	var ingest bool
	cmd := &cobra.Command{
		Use:   "add NAME DIR --medium hdd|ssd|nas|raid|cloud|optical|tape --location NAME [--ingest]",
		Short: "Register a folder target: an external drive or a mounted NAS share",
		Long: `Registers DIR as a target. Trove writes .trove/target.json there so it recognises the
drive wherever it is mounted next time, and refuses to write to a different drive or an
empty mount point found at that path. It also probes the filesystem: on exFAT/FAT drives,
names with : ? * " < > | are stored with look-alike characters (recorded in the catalog),
and FAT32's 4 GiB file limit is enforced with a clear error.`,
		Example: `  trove target add drive-a /media/ann/T7 --medium ssd --location home --ingest
  trove target add nas /mnt/nas/photos --medium nas --location studio`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, dir := args[0], args[1]
			if !targetName.MatchString(name) || name == catalog.LibraryName {
				return usageError("target name %q: use letters, digits, '.', '-' or '_' (not %q)", name, catalog.LibraryName)
			}
			if !config.ValidMedium(medium) {
				return usageError("--medium %q: choose one of %s", medium, strings.Join(config.Media, ", "))
			}
			if strings.TrimSpace(location) == "" {
				return usageError("--location is required: where the drive is kept (home, studio, bank, ...)")
			}
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			abs, err := filepath.Abs(dir)
			if err != nil {
				return usageError("%s: %v", dir, err)
			}
			fi, err := os.Stat(abs)
			if err != nil || !fi.IsDir() {
				return usageError("%s is not a folder (is the drive mounted?)", dir)
			}
			if isWithin(abs, a.cfg.Library) || isWithin(a.cfg.Library, abs) {
				return usageError("%s overlaps the library %s: a target must be a separate folder", abs, a.cfg.Library)
			}
			if _, err := a.cat.TargetByName(name); err == nil {
				return usageError("a target named %q already exists", name)
			}
			others, err := a.cat.Targets()
			if err != nil {
				return err
			}
			for _, o := range others {
				if o.Path == abs {
					return usageError("%s is already registered as %q", abs, o.Name)
				}
			}
			libID, err := a.libraryID()
			if err != nil {
				return err
			}
			if id, err := local.ReadIdentity(abs); err == nil && id.LibraryID != libID {
				return withHint(fmt.Errorf("%s belongs to another Trove library (target %q)", abs, id.Name),
					"use another folder, or recover that drive's library with its own catalog")
			}
			t := catalog.Target{ID: newID(), Name: name, Kind: catalog.KindFolder, Path: abs, Medium: medium,
				Location: location, Ingest: ingest, CreatedAt: a.now(), LastSeenAt: a.now()}
			caps, err := local.Prepare(abs, local.Identity{Format: 1, TargetID: t.ID, Name: name, LibraryID: libID, CreatedAt: a.now()})
			if err != nil {
				return fmt.Errorf("prepare %s: %w", abs, err)
			}
			t.FSType = caps.FSType
			if b, err := json.Marshal(caps); err == nil {
				t.Caps = string(b)
			}
			if t.Device, err = local.DeviceOf(abs); err != nil {
				return err
			}
			if err := a.cat.AddTarget(t); err != nil {
				return err
			}
			out := a.stdout
			fmt.Fprintf(out, "Added target %s: %s (%s, at %s, filesystem %s)\n", name, abs, medium, location, orUnknown(caps.FSType))
			if caps.RestrictedNames {
				fmt.Fprintln(out, "  note: this filesystem cannot hold names with : ? * \" < > | or a trailing dot/space; such names are stored with look-alike characters and recorded")
			}
			if caps.CaseInsensitive {
				fmt.Fprintln(out, "  note: names are case-insensitive here; files whose names differ only in case get distinct names")
			}
			if caps.MaxFileSize > 0 {
				fmt.Fprintf(out, "  note: files larger than %s cannot be stored here (FAT32); Trove will say so per file\n", progress.FormatBytes(caps.MaxFileSize))
			}
			if dev, _ := local.DeviceOf(a.cfg.Library); dev == t.Device {
				warnf(a.stderr, "%s is on the same disk as the library: its copies will not count as a second device", name)
			}
			if ingest {
				fmt.Fprintln(out, "  ingest writes to it by default")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&medium, "medium", "", "kind of storage: "+strings.Join(config.Media, ", "))
	cmd.Flags().StringVar(&location, "location", "", "where the drive is kept: home, studio, bank, ...")
	cmd.Flags().BoolVar(&ingest, "ingest", false, "ingest writes to this target by default")
	cmd.MarkFlagRequired("medium")
	cmd.MarkFlagRequired("location")
	return cmd
}

// targetView is one row of `trove target list`.
type targetView struct {
	Name       string    `json:"name"`
	Kind       string    `json:"kind"`
	Medium     string    `json:"medium"`
	Location   string    `json:"location"`
	Path       string    `json:"path"`
	Mounted    bool      `json:"mounted"`
	State      string    `json:"state"` // attached, not attached, different drive
	FSType     string    `json:"filesystem,omitempty"`
	Ingest     bool      `json:"ingest"`
	FreeBytes  uint64    `json:"free_bytes,omitempty"`
	TotalBytes uint64    `json:"total_bytes,omitempty"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
	LastWrite  time.Time `json:"last_write,omitzero"`
	LastVerify time.Time `json:"last_verify,omitzero"`
}

func newTargetListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Short:   "Show every target: medium, location, where it was last seen, mounted or not, free space",
		Example: "  trove target list\n  trove target list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			ts, err := a.cat.Targets()
			if err != nil {
				return err
			}
			views := make([]targetView, 0, len(ts))
			for _, t := range ts {
				v := targetView{Name: t.Name, Kind: t.Kind, Medium: t.Medium, Location: t.Location, Path: t.Path,
					FSType: t.FSType, Ingest: t.Ingest, LastSeen: t.LastSeenAt, LastWrite: t.LastWriteAt, LastVerify: t.LastVerifyAt}
				id, err := local.ReadIdentity(t.Path)
				switch {
				case err == nil && id.TargetID == t.ID:
					v.Mounted, v.State = true, "attached"
					v.FreeBytes, v.TotalBytes, _ = usage(t.Path)
				case err == nil:
					v.State = "different drive at path"
				case errors.Is(err, store.ErrNotAttached):
					v.State = "not attached"
				default:
					v.State = "unreadable: " + err.Error()
				}
				views = append(views, v)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"targets": views})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tMEDIUM\tLOCATION\tSTATE\tFREE\tLAST WRITE\tLAST VERIFY\tPATH")
			for _, v := range views {
				free := "-"
				if v.Mounted {
					free = progress.FormatBytes(int64(v.FreeBytes))
				}
				name := v.Name
				if v.Ingest {
					name += " (ingest)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, v.Medium, v.Location, v.State, free,
					when(v.LastWrite), when(v.LastVerify), v.Path)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func usage(dir string) (free, total uint64, err error) { return local.UsageOf(dir) }

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func isWithin(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
