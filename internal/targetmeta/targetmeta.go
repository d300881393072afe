// Package targetmeta writes and checks what a folder target carries beside
// the photos, so that the drive explains and checks itself without Trove:
//
//	<target>/README.txt               what the drive is, what it holds, how to check it
//	<target>/.trove/MANIFEST.sha256   "<sha256>  <path>" per current file: `sha256sum -c` from the root
//	<target>/.trove/catalog/catalog.db a snapshot of the whole catalog (rebuild from this drive alone)
//	<target>/.trove/config.toml       the config, secrets left out (see config.go), for `trove recover`
//
// The catalog is the trust root: the manifest's own hash is recorded in the
// catalog when Trove writes it, so a manifest edited by hand is detected and
// never trusted.
package targetmeta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/archive/driveindex"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/store"
)

// Names of the files on a target.
const (
	ManifestName = ".trove/MANIFEST.sha256"
	CatalogName  = ".trove/catalog/catalog.db"
	ReadmeName   = "README.txt"
	// IndexName is the drive's browsable index (internal/archive/driveindex
	// writes it); like the README it is Trove's, not a photo.
	IndexName = "INDEX.html"
)

// Manifest renders the manifest lines for the current files on a target:
// copies of files still in the library whose copy holds the file's current
// content, sorted by path. Names with a backslash or newline are escaped the
// way GNU sha256sum does (a leading backslash on the line).
func Manifest(copies []catalog.TargetCopy) []byte {
	type line struct{ path, sum string }
	var lines []line
	for _, tc := range copies {
		if !tc.File.DeletedAt.IsZero() || tc.State != catalog.CopyOK || tc.Sum != tc.File.Sum {
			continue
		}
		lines = append(lines, line{tc.Path, tc.Sum.String()})
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].path < lines[j].path })
	var b bytes.Buffer
	for _, l := range lines {
		p := l.path
		if strings.ContainsAny(p, "\\\n\r") {
			p = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(p)
			b.WriteString(`\`)
		}
		fmt.Fprintf(&b, "%s  %s\n", l.sum, p)
	}
	return b.Bytes()
}

// Refresh rewrites the manifest, the README, the carried config (when the
// catalog has one, see CarryConfig) and the catalog snapshot on an attached
// target and records the manifest's hash in the catalog.
func Refresh(ctx context.Context, cat *catalog.Catalog, t catalog.Target, ms store.MetaStore, now time.Time) error {
	copies, err := cat.CopiesOnTarget(t.ID)
	if err != nil {
		return err
	}
	manifest := Manifest(copies)
	if err := ms.WriteMeta(ctx, ManifestName, bytes.NewReader(manifest)); err != nil {
		return fmt.Errorf("write manifest on %s: %w", t.Name, err)
	}
	sum := sha256.Sum256(manifest)
	t.ManifestSum = hex.EncodeToString(sum[:])
	if cur, err := cat.TargetByName(t.Name); err == nil {
		cur.ManifestSum = t.ManifestSum
		t = cur
	}
	if err := cat.UpdateTarget(t); err != nil {
		return err
	}
	if err := ms.WriteMeta(ctx, ReadmeName, strings.NewReader(readme(t, copies, now))); err != nil {
		return fmt.Errorf("write README on %s: %w", t.Name, err)
	}
	if err := writeConfig(ctx, cat, t, ms); err != nil {
		return err
	}
	if err := driveindex.Write(ctx, cat, t, ms, now); err != nil {
		return err
	}
	return snapshot(ctx, cat, t, ms)
}

// snapshot writes a consistent copy of the catalog onto the target.
func snapshot(ctx context.Context, cat *catalog.Catalog, t catalog.Target, ms store.MetaStore) error {
	dir, err := os.MkdirTemp("", "trove-snapshot-")
	if err != nil {
		return fmt.Errorf("catalog snapshot: %w", err)
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "catalog.db")
	if err := cat.Snapshot(p); err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("catalog snapshot: %w", err)
	}
	defer f.Close()
	if err := ms.WriteMeta(ctx, CatalogName, f); err != nil {
		return fmt.Errorf("write catalog snapshot on %s: %w", t.Name, err)
	}
	return nil
}

// ErrManifestEdited means the manifest on a target is not the one Trove wrote.
var ErrManifestEdited = errors.New("manifest was changed outside Trove (not trusted)")

// CheckManifest compares the manifest on a target with the hash recorded
// when Trove wrote it. A missing manifest is reported as store.ErrNotExist.
func CheckManifest(ctx context.Context, t catalog.Target, ms store.MetaStore) error {
	rc, err := ms.ReadMeta(ctx, ManifestName)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return fmt.Errorf("read manifest on %s: %w", t.Name, err)
	}
	if t.ManifestSum == "" {
		return nil // written before Trove recorded manifest hashes
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != t.ManifestSum {
		return fmt.Errorf("%s: %w", t.Name, ErrManifestEdited)
	}
	return nil
}

func readme(t catalog.Target, copies []catalog.TargetCopy, now time.Time) string {
	projects := map[string]int{}
	var bytes int64
	for _, tc := range copies {
		if tc.File.DeletedAt.IsZero() && tc.State == catalog.CopyOK && tc.Sum == tc.File.Sum {
			projects[tc.File.Project]++
			bytes += tc.File.Size
		}
	}
	names := make([]string, 0, len(projects))
	for p := range projects {
		names = append(names, p)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "This drive is the Trove backup target %q (%s, kept at %s).\n", t.Name, t.Medium, t.Location)
	fmt.Fprintf(&b, "Updated %s. It holds %d photos and other files (%d bytes) in %d projects.\n\n",
		now.UTC().Format("2006-01-02 15:04 UTC"), countCurrent(projects), bytes, len(names))
	b.WriteString("The photos are ordinary files in ordinary folders (year / date and project):\n")
	b.WriteString("open them with any program on any computer. Nothing here is encrypted.\n\n")
	b.WriteString("Check every file without Trove, from this folder (the drive's top level):\n")
	b.WriteString("  Linux:    sha256sum -c .trove/MANIFEST.sha256\n")
	b.WriteString("  macOS:    shasum -a 256 -c .trove/MANIFEST.sha256\n")
	b.WriteString("  Windows:  use any SHA-256 tool; each manifest line is \"<sha256>  <path>\"\n")
	b.WriteString("Every line should end in OK. A FAILED line is a damaged copy: restore it from another drive.\n\n")
	b.WriteString("Other Trove files:\n")
	b.WriteString("  .trove/target.json        this drive's identity (do not copy it to another drive)\n")
	b.WriteString("  .trove/catalog/catalog.db a copy of Trove's catalog (SQLite): which files, which drives, when verified\n")
	b.WriteString("  .trove/config.toml        Trove's settings (no passwords), for `trove recover` on a new computer\n")
	b.WriteString("  .trove/versions/          older versions of edited or deleted photos, by date\n\n")
	b.WriteString("Projects on this drive:\n")
	for _, p := range names {
		fmt.Fprintf(&b, "  %s (%d files)\n", p, projects[p])
	}
	return b.String()
}

func countCurrent(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
