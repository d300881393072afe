package driveindex

import (
	"strings"
	"testing"
	"time"
)

// TestRenderEscapes: names from the catalog are untrusted; the page has no
// script and no unescaped markup from them.
func TestRenderEscapes(t *testing.T) {
	d := Data{Target: Place{Name: "a<b>", Medium: "hdd", Location: "bank"}, Generated: time.Unix(0, 0),
		Projects: []Project{{Name: `<script>alert(1)</script>`, Files: 2, Bytes: 2048, Years: "2024"}},
		Others:   []Place{{Name: "drive-a", Where: `/mnt/"x"`}}}
	html := string(Render(d))
	if strings.Contains(html, "<script") || !strings.Contains(html, "&lt;script&gt;") || !strings.Contains(html, "a&lt;b&gt;") {
		t.Errorf("not escaped:\n%s", html)
	}
	if !strings.Contains(html, "none: this drive holds the only copy") {
		t.Errorf("a project with no other copy is not flagged:\n%s", html)
	}
}

// TestLabel: few projects are named; many become a year range.
func TestLabel(t *testing.T) {
	d := Data{Target: Place{Name: "archive-2024-a", Medium: "hdd", Location: "bank"},
		Written: time.Date(2025, 1, 10, 12, 0, 0, 0, time.Local), Files: 3, Bytes: 3 << 20,
		Projects: []Project{{Name: "Smith Wedding", Years: "2024"}, {Name: "Jones", Years: "2023"}}}
	want := "archive-2024-a\nhdd · kept at bank\nSmith Wedding, Jones\n2023–2024 · 3 files, 3.0 MiB\nwritten 2025-01-10\n" +
		"check: sha256sum -c .trove/MANIFEST.sha256\n"
	if got := Label(d); got != want {
		t.Errorf("label:\n%s\nwant:\n%s", got, want)
	}
	for i := range 5 {
		d.Projects = append(d.Projects, Project{Name: "P", Years: "202" + string(rune('0'+i))})
	}
	if got := Label(d); !strings.Contains(got, "2020–2024 · 7 projects · 3 files, 3.0 MiB\n") {
		t.Errorf("label with many projects:\n%s", got)
	}
}
