// Package driveindex describes a folder target to a human who has only the
// drive: an INDEX.html at its root (plain HTML and CSS, no scripts, readable
// offline in any browser) listing the projects it holds, where the other
// copies are, when it was last verified and how to check it without Trove;
// and a short label text for a sticker on the drive.
//
// Build reads the catalog; Render and Label are pure. All names from the
// catalog are escaped (html/template).
package driveindex

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/store"
)

// Name is the index file's name at the target's root (store.MetaStore).
const Name = "INDEX.html"

// Place is a target as a human finds it.
type Place struct {
	Name     string
	Kind     string
	Medium   string
	Location string
	Where    string // folder last seen, or the URL of a remote target
}

// Project is one project on the target.
type Project struct {
	Name  string
	Files int
	Bytes int64
	Years string // "2024" or "2023–2024" ("" when unknown)
	// LastVerified is the oldest last verification among this target's
	// copies of the project: every copy was read back at least this recently.
	LastVerified time.Time
	Others       []string  // other targets holding verified copies of its files
	Archived     time.Time // when it was archived to this target (zero: not an archive)
	Released     bool      // the library no longer holds it
}

// Data is what the index and the label say.
type Data struct {
	Target    Place
	Generated time.Time
	Verified  time.Time // the target's last verify run (zero: never)
	Written   time.Time // the target's last write
	Projects  []Project
	Others    []Place // every other target
	Files     int
	Bytes     int64
}

// Build gathers the data for target t from the catalog.
func Build(cat *catalog.Catalog, t catalog.Target, now time.Time) (Data, error) {
	d := Data{Target: placeOf(t), Generated: now, Verified: t.LastVerifyAt, Written: t.LastWriteAt}
	targets, err := cat.Targets()
	if err != nil {
		return d, err
	}
	byID := map[string]catalog.Target{}
	libID := ""
	for _, o := range targets {
		byID[o.ID] = o
		if o.Kind == catalog.KindLibrary {
			libID = o.ID
		}
		if o.ID != t.ID {
			d.Others = append(d.Others, placeOf(o))
		}
	}
	here, err := cat.CopiesOnTarget(t.ID)
	if err != nil {
		return d, err
	}
	all, err := cat.AllCopies()
	if err != nil {
		return d, err
	}
	archives, err := cat.Archives()
	if err != nil {
		return d, err
	}
	archived := map[string]time.Time{}
	for _, a := range archives {
		if a.TargetID == t.ID {
			archived[a.Project] = a.ArchivedAt
		}
	}
	type acc struct {
		p            Project
		others       map[string]bool
		minYr, maxYr string
		libraryHolds bool
	}
	projects := map[string]*acc{}
	for _, tc := range here {
		f := tc.File
		if !f.DeletedAt.IsZero() || !tc.Counts(f) {
			continue
		}
		a := projects[f.Project]
		if a == nil {
			a = &acc{p: Project{Name: f.Project, Archived: archived[f.Project]}, others: map[string]bool{}}
			projects[f.Project] = a
		}
		a.p.Files++
		a.p.Bytes += f.Size
		d.Files++
		d.Bytes += f.Size
		if a.p.LastVerified.IsZero() || tc.VerifiedAt.Before(a.p.LastVerified) {
			a.p.LastVerified = tc.VerifiedAt
		}
		if y := yearOf(f); y != "" {
			if a.minYr == "" || y < a.minYr {
				a.minYr = y
			}
			if y > a.maxYr {
				a.maxYr = y
			}
		}
		for _, cp := range all[f.ID] {
			if cp.TargetID == t.ID || !cp.Counts(f) {
				continue
			}
			if cp.TargetID == libID {
				a.libraryHolds = true
			}
			if o, ok := byID[cp.TargetID]; ok {
				a.others[o.Name] = true
			}
		}
	}
	for _, a := range projects {
		a.p.Years = yearRange(a.minYr, a.maxYr)
		a.p.Released = !a.libraryHolds && !a.p.Archived.IsZero()
		for n := range a.others {
			a.p.Others = append(a.p.Others, n)
		}
		slices.Sort(a.p.Others)
		d.Projects = append(d.Projects, a.p)
	}
	slices.SortFunc(d.Projects, func(a, b Project) int {
		return cmp.Or(cmp.Compare(a.Years, b.Years), cmp.Compare(a.Name, b.Name))
	})
	return d, nil
}

func placeOf(t catalog.Target) Place {
	where := t.Path
	if t.URL != "" {
		where = t.URL
	}
	return Place{Name: t.Name, Kind: t.Kind, Medium: t.Medium, Location: t.Location, Where: where}
}

// yearOf is the year a file belongs to: the library's top folder when it
// is a year ("2024/…"), else the capture date's year.
func yearOf(f catalog.File) string {
	if top, _, ok := strings.Cut(f.Path, "/"); ok && isYear(top) {
		return top
	}
	if len(f.CapturedAt) >= 4 && isYear(f.CapturedAt[:4]) {
		return f.CapturedAt[:4]
	}
	return ""
}

func isYear(s string) bool {
	if len(s) != 4 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func yearRange(lo, hi string) string {
	if lo == "" || lo == hi {
		return lo
	}
	return lo + "–" + hi
}

// Years returns the year range of every project ("2023–2024"), or "".
func (d Data) Years() string {
	lo, hi := "", ""
	for _, p := range d.Projects {
		a, b, _ := strings.Cut(p.Years, "–")
		if b == "" {
			b = a
		}
		if a != "" && (lo == "" || a < lo) {
			lo = a
		}
		if b > hi {
			hi = b
		}
	}
	return yearRange(lo, hi)
}

// Label renders a short text for a sticker on the drive: its name, medium
// and location, what it holds, the date, and how to check it.
func Label(d Data) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", d.Target.Name)
	fmt.Fprintf(&b, "%s · kept at %s\n", orDash(d.Target.Medium), orDash(d.Target.Location))
	names := make([]string, 0, len(d.Projects))
	for _, p := range d.Projects {
		names = append(names, p.Name)
	}
	switch {
	case len(names) == 0:
		b.WriteString("empty\n")
	case len(names) <= 4:
		fmt.Fprintf(&b, "%s\n", strings.Join(names, ", "))
		if y := d.Years(); y != "" {
			fmt.Fprintf(&b, "%s · %d files, %s\n", y, d.Files, bytesText(d.Bytes))
		} else {
			fmt.Fprintf(&b, "%d files, %s\n", d.Files, bytesText(d.Bytes))
		}
	default:
		y := d.Years()
		if y == "" {
			y = "undated"
		}
		fmt.Fprintf(&b, "%s · %d projects · %d files, %s\n", y, len(names), d.Files, bytesText(d.Bytes))
	}
	date := d.Written
	if date.IsZero() {
		date = d.Generated
	}
	fmt.Fprintf(&b, "written %s", date.Local().Format("2006-01-02"))
	if !d.Verified.IsZero() {
		fmt.Fprintf(&b, " · verified %s", d.Verified.Local().Format("2006-01-02"))
	}
	b.WriteString("\ncheck: sha256sum -c .trove/MANIFEST.sha256\n")
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// bytesText renders a size in binary units with one decimal ("1.5 GiB").
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i-1])
}

// Write builds and writes INDEX.html on an attached target (durably,
// replacing the old one). It does nothing for the library: the working
// folder is not a backup drive, and backup would take the page for a photo.
func Write(ctx context.Context, cat *catalog.Catalog, t catalog.Target, ms store.MetaStore, now time.Time) error {
	if t.Kind == catalog.KindLibrary {
		return nil
	}
	d, err := Build(cat, t, now)
	if err != nil {
		return err
	}
	if err := ms.WriteMeta(ctx, Name, bytes.NewReader(Render(d))); err != nil {
		return fmt.Errorf("write %s on %s: %w", Name, t.Name, err)
	}
	return nil
}

// Render returns the INDEX.html for d: one self-contained page, no scripts.
func Render(d Data) []byte {
	var b bytes.Buffer
	if err := page.Execute(&b, d); err != nil {
		// The template is fixed and d holds only plain values: an error
		// here is a bug; say it on the page rather than write nothing.
		return []byte("<!doctype html><meta charset=utf-8><title>Trove drive</title><p>" +
			template.HTMLEscapeString(err.Error()))
	}
	return b.Bytes()
}

var page = template.Must(template.New("index").Funcs(template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02")
	},
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"size":  bytesText,
	"join":  func(s []string) string { return strings.Join(s, ", ") },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Target.Name}} — Trove drive</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1.5em; }
th, td { text-align: left; padding: 0.3em 0.6em; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f4f4f4; }
code, pre { background: #f4f4f4; padding: 0.1em 0.3em; }
pre { padding: 0.6em; overflow-x: auto; }
.note { color: #555; }
</style>
</head>
<body>
<h1>{{.Target.Name}}</h1>
<p>This is a Trove backup drive ({{.Target.Medium}}, kept at <b>{{.Target.Location}}</b>).
It holds {{.Files}} files ({{size .Bytes}}) in {{len .Projects}} projects, as ordinary files in ordinary
folders (year / date and project): open them with any program on any computer. Nothing here is encrypted.</p>
<p class="note">Page written {{stamp .Generated}}. Last written to {{date .Written}}; last verified (every copy read back) {{date .Verified}}.</p>

<h2>Projects on this drive</h2>
{{if .Projects}}<table>
<tr><th>Project</th><th>Year</th><th>Files</th><th>Size</th><th>Copies read back here since</th><th>Other copies</th><th>Archive</th></tr>
{{range .Projects}}<tr><td>{{.Name}}</td><td>{{.Years}}</td><td>{{.Files}}</td><td>{{size .Bytes}}</td><td>{{date .LastVerified}}</td>
<td>{{if .Others}}{{join .Others}}{{else}}<b>none: this drive holds the only copy</b>{{end}}</td>
<td>{{if not .Archived.IsZero}}archived here {{date .Archived}}{{if .Released}}; no longer in the library{{end}}{{end}}</td></tr>
{{end}}</table>{{else}}<p>No photos yet.</p>{{end}}

<h2>Where the other copies are</h2>
{{if .Others}}<table>
<tr><th>Name</th><th>Kind</th><th>Medium</th><th>Kept at</th><th>Last seen at</th></tr>
{{range .Others}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{.Medium}}</td><td>{{.Location}}</td><td><code>{{.Where}}</code></td></tr>
{{end}}</table>{{else}}<p>No other place is known.</p>{{end}}

<h2>Check this drive without Trove</h2>
<p>From this folder (the drive's top level), every file's SHA-256 is compared with the manifest:</p>
<pre>Linux:    sha256sum -c .trove/MANIFEST.sha256
macOS:    shasum -a 256 -c .trove/MANIFEST.sha256
Windows:  any SHA-256 tool; each manifest line is "&lt;sha256&gt;  &lt;path&gt;"</pre>
<p>Every line should end in <code>OK</code>. A <code>FAILED</code> line is a damaged copy: take that file from one of the other copies above.</p>
<p class="note"><code>.trove/catalog/catalog.db</code> is a copy of Trove's catalog (SQLite): with it, Trove can rebuild everything
from this drive alone (<code>trove recover</code>). <code>.trove/versions/</code> keeps older versions of edited or deleted photos, by date.</p>
</body>
</html>
`))
