package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store/local"
)

type whereCopy struct {
	Target     string    `json:"target"`
	Medium     string    `json:"medium"`
	Location   string    `json:"location"`
	Path       string    `json:"path"` // as stored on the target
	State      string    `json:"state"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	Attached   bool      `json:"attached"`
	Remote     bool      `json:"remote,omitempty"` // SFTP or cloud: reached over the network, not checked by where
	LastSeen   time.Time `json:"last_seen,omitzero"`
	TargetPath string    `json:"target_path"` // where the target was last seen (its URL for a remote one)
}

type whereFile struct {
	Path     string         `json:"path"`
	Project  string         `json:"project"`
	Size     int64          `json:"size"`
	SHA256   string         `json:"sha256"`
	Deleted  time.Time      `json:"deleted_from_library,omitzero"`
	Copies   []whereCopy    `json:"copies"`
	Versions []whereVersion `json:"versions,omitempty"`
}

// whereVersion is an old content kept in a target's versions area.
type whereVersion struct {
	Target    string    `json:"target"`
	Path      string    `json:"path"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	Reason    string    `json:"reason"` // replaced, deleted, corrupt
	CreatedAt time.Time `json:"kept_since"`
}

func newWhereCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "where PATH|PROJECT [--json]",
		Short: "Every copy of a file, folder or project: target, medium, location, last verified",
		Long: `Lists every copy the catalog knows of each file, also on drives that are not attached
now. PATH may be a path in the library (absolute, or relative to the library) or a folder
in it; PROJECT is a project name given at ingest.`,
		Example: `  trove where "Smith Wedding"
  trove where "2024/2024-06-01 Smith Wedding/IMG_0001.CR3"
  trove where ~/Pictures/Trove/2024 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			files, err := resolveFiles(a, args[0])
			if err != nil {
				return err
			}
			views, err := whereViews(a, files)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"files": views})
			}
			printWhere(a.stdout, views)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// resolveFiles finds the catalog files meant by a project name or a path.
func resolveFiles(a *app, arg string) ([]catalog.File, error) {
	if files, err := a.cat.FilesByProject(arg); err != nil || len(files) > 0 {
		return files, err
	}
	rel := filepath.ToSlash(strings.TrimSuffix(arg, "/"))
	if abs, err := filepath.Abs(arg); err == nil {
		if r, err := filepath.Rel(a.cfg.Library, abs); err == nil && filepath.IsLocal(r) {
			rel = filepath.ToSlash(r)
		} else if _, err := os.Stat(arg); err == nil && filepath.IsAbs(arg) {
			return nil, usageError("%s is not inside the library %s", arg, a.cfg.Library)
		}
	}
	files, err := a.cat.FilesUnder(rel)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, &exitError{code: exitUsage, err: withHint(fmt.Errorf("nothing in the catalog matches %q", arg),
			"give a project name (see `trove status`) or a path inside the library")}
	}
	return files, nil
}

func whereViews(a *app, files []catalog.File) ([]whereFile, error) {
	targets, err := a.cat.Targets()
	if err != nil {
		return nil, err
	}
	byID := map[string]catalog.Target{}
	attached := map[string]bool{}
	for _, t := range targets {
		if isRemote(t.Kind) {
			// Not contacted here (a network round trip per target): its URL
			// and when it was last reached are shown instead.
			t.Path = t.URL
		}
		byID[t.ID] = t
		if isRemote(t.Kind) {
			continue
		}
		id, err := local.ReadIdentity(t.Path)
		attached[t.ID] = err == nil && id.TargetID == t.ID
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			_ = err // an unreadable path is reported as not attached
		}
	}
	out := make([]whereFile, 0, len(files))
	for _, f := range files {
		cps, err := a.cat.Copies(f.ID)
		if err != nil {
			return nil, err
		}
		v := whereFile{Path: f.Path, Project: f.Project, Size: f.Size, SHA256: f.Sum.String(), Deleted: f.DeletedAt,
			Copies: []whereCopy{}}
		vers, err := a.cat.Versions(f.ID)
		if err != nil {
			return nil, err
		}
		for _, ver := range vers {
			v.Versions = append(v.Versions, whereVersion{Target: byID[ver.TargetID].Name, Path: ver.Path,
				SHA256: ver.Sum.String(), Size: ver.Size, Reason: ver.Reason, CreatedAt: ver.CreatedAt})
		}
		for _, cp := range cps {
			t := byID[cp.TargetID]
			p := cp.Path
			if isVault(t.Kind) {
				p = f.Path // the stored name is an opaque content key
			}
			v.Copies = append(v.Copies, whereCopy{Target: t.Name, Medium: t.Medium, Location: t.Location, Path: p,
				State: cp.State, VerifiedAt: cp.VerifiedAt, Attached: attached[t.ID], Remote: isRemote(t.Kind),
				LastSeen: t.LastSeenAt, TargetPath: t.Path})
		}
		out = append(out, v)
	}
	return out, nil
}

func printWhere(w io.Writer, files []whereFile) {
	for i, f := range files {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  (%s, project %s, sha256 %s…)\n", f.Path, progress.FormatBytes(f.Size), f.Project, f.SHA256[:12])
		if !f.Deleted.IsZero() {
			fmt.Fprintf(w, "  deleted from the library %s; kept in the targets' versions\n", when(f.Deleted))
		}
		if len(f.Copies) == 0 && len(f.Versions) == 0 {
			fmt.Fprintln(w, "  no copies known")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range f.Copies {
			state := c.State
			if c.State == catalog.CopyOK {
				state = "verified " + when(c.VerifiedAt)
			}
			att := "attached"
			switch {
			case c.Remote:
				att = "remote " + c.TargetPath + ", last reached " + when(c.LastSeen)
			case !c.Attached:
				att = "not attached (last seen at " + c.TargetPath + ")"
			}
			name := c.Path
			if name == f.Path {
				name = ""
			} else {
				name = "stored as " + name
			}
			line := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s", c.Target, c.Medium, c.Location, state, att)
			if name != "" {
				line += "\t" + name
			}
			fmt.Fprintln(tw, line)
		}
		for _, ver := range f.Versions {
			fmt.Fprintf(tw, "  %s\tversion (%s)\tkept since %s\t%s\n", ver.Target, ver.Reason, when(ver.CreatedAt), ver.Path)
		}
		tw.Flush()
	}
}
