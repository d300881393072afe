package media

import (
	"strings"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	for name, want := range map[string]Kind{
		"IMG_0001.CR3": Raw, "img_0001.cr2": Raw, "DSC_1.NEF": Raw, "a.nrw": Raw, "a.ARW": Raw, "a.sr2": Raw,
		"a.srf": Raw, "a.dng": Raw, "a.RAF": Raw, "a.orf": Raw, "a.rw2": Raw, "a.pef": Raw, "a.srw": Raw,
		"a.3fr": Raw, "a.iiq": Raw, "a.x3f": Raw, "a.erf": Raw, "a.mef": Raw, "a.mos": Raw, "a.rwl": Raw,
		"a.gpr": Raw, "a.crw": Raw,
		"a.JPG": JPEG, "a.jpeg": JPEG, "a.HEIC": HEIF, "a.hif": HEIF, "a.tif": TIFF, "a.TIFF": TIFF, "a.png": PNG,
		"a.MOV": Video, "a.mp4": Video, "a.m4v": Video, "a.avi": Video, "00001.MTS": Video, "a.m2ts": Video,
		"a.MXF": Video, "a.3gp": Video, "a.insv": Video,
		"a.XMP": Sidecar, "IMG_0001.CR3.xmp": Sidecar, "a.THM": Sidecar, "a.WAV": Sidecar, "a.AAE": Sidecar,
		"GL010001.LRV": Sidecar, "README": Other, "a.txt": Other, "a.": Other, "": Other, "dir.jpg/file": Other, `x\y.JPG`: JPEG,
	} {
		if got := KindOf(name); got != want {
			t.Errorf("KindOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestIsJunk(t *testing.T) {
	for _, tc := range []struct {
		path  string
		isDir bool
		want  bool
	}{
		{".DS_Store", false, true}, {"DCIM/100CANON/.DS_Store", false, true}, {"DCIM/._IMG_0001.JPG", false, true},
		{".Trashes", true, true}, {".Trashes/501/IMG_0001.JPG", false, true}, {".Spotlight-V100", true, true},
		{".fseventsd", true, true}, {".TemporaryItems", true, true}, {"System Volume Information", true, true},
		{"System Volume Information/IndexerVolumeGuid", false, true}, {"$RECYCLE.BIN", true, true},
		{"$Recycle.Bin/S-1-5/IMG.JPG", false, true}, {"Thumbs.db", false, true}, {"sub/THUMBS.DB", false, true},
		{"desktop.ini", false, true}, {".trove", true, true}, {".trove/target.json", false, true},
		{".Trash-1000/files/a.jpg", false, true},
		// Conservative: photos and camera folders are never junk.
		{"DCIM/100CANON/IMG_0001.CR3", false, false}, {"DCIM", true, false}, {"MISC", true, false},
		{"PRIVATE/AVCHD/BDMV/STREAM/00000.MTS", false, false}, {"lost+found", true, false},
		{"lost+found/IMG_0001.JPG", false, false}, {"_DSC0001.ARW", false, false}, {".hidden.jpg", false, false},
		{"Thumbs.db", true, false}, // a folder that happens to be named so
		{"DS_Store.jpg", false, false}, {"Trashes/IMG.JPG", false, false},
	} {
		if got := IsJunk(tc.path, tc.isDir); got != tc.want {
			t.Errorf("IsJunk(%q, %v) = %v, want %v", tc.path, tc.isDir, got, tc.want)
		}
	}
}

func TestGroupStem(t *testing.T) {
	groups := [][]string{
		{"IMG_0001.CR3", "IMG_0001.JPG", "IMG_0001.XMP", "IMG_0001.CR3.xmp", "img_0001.jpg", "DCIM/IMG_0001.WAV"},
		{"Cafe\u0301.jpg", "Caf\u00e9.CR2", "CAFÉ.xmp"},
		{"2024.06.01 shoot.jpg", "2024.06.01 shoot.xmp"},
		{"README"},
	}
	for _, g := range groups {
		want := GroupStem(g[0])
		for _, n := range g[1:] {
			if got := GroupStem(n); got != want {
				t.Errorf("GroupStem(%q) = %q, want %q (as %q)", n, got, want, g[0])
			}
		}
	}
	for name, want := range map[string]string{
		"IMG_0001.CR3.xmp": "IMG_0001", "2024.06.01 shoot.jpg": "2024.06.01 SHOOT", "notes.txt.xmp": "NOTES.TXT",
		".hidden": ".HIDDEN", "Caf\u00e9.jpg": "CAF\u00c9",
	} {
		if got := GroupStem(name); got != want {
			t.Errorf("GroupStem(%q) = %q, want %q", name, got, want)
		}
	}
	if GroupStem("IMG_0001.JPG") == GroupStem("IMG_0002.JPG") {
		t.Error("different photos share a stem")
	}
}

func TestUniqueName(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		want string
	}{
		{"IMG_0001.JPG", 2, "IMG_0001-2.JPG"}, {"IMG_0001.CR3.xmp", 2, "IMG_0001-2.CR3.xmp"},
		{"IMG_0001.JPG", 1, "IMG_0001.JPG"}, {"README", 3, "README-3"}, {".hidden", 2, ".hidden-2"},
		{"a/b/IMG_0001.JPG", 10, "a/b/IMG_0001-10.JPG"}, {"2024.06.01 x.jpg", 2, "2024.06.01 x-2.jpg"},
	} {
		if got := UniqueName(tc.name, tc.n); got != tc.want {
			t.Errorf("UniqueName(%q, %d) = %q, want %q", tc.name, tc.n, got, tc.want)
		}
	}
	// A renamed photo and its sidecar still group together, apart from the original.
	a, b := UniqueName("IMG_0001.CR3", 2), UniqueName("IMG_0001.CR3.xmp", 2)
	if GroupStem(a) != GroupStem(b) || GroupStem(a) == GroupStem("IMG_0001.CR3") {
		t.Errorf("renamed group broken: %q %q", a, b)
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for tmpl, hint := range map[string]string{
		"":                        "empty",
		"/{year}/{name}":          "absolute",
		"C:/{name}":               "absolute",
		"{year/{name}":            `"{" without "}"`,
		"{year}}/{name}":          `"}" without "{"`,
		"{yr}/{name}":             "unknown token {yr}",
		"{year}/{date}":           "must contain {name}",
		"{name}/{year}":           "must contain {name}",
		"{year}/{stem}":           "{stem} without {ext}",
		"{year}//{name}":          "empty",
		"{year}/{name}/":          "empty",
		"{year}/../{name}":        `".."`,
		"./{name}":                `"."`,
		`{year}\{name}`:           `"\"`,
		"{year}/\x01{name}":       "control",
		"{year}/{{name}}":         `"{" inside a token`,
		"{year}/{date} {project}": "must contain {name}",
	} {
		_, err := ParseTemplate(tmpl)
		if err == nil || !strings.Contains(err.Error(), hint) {
			t.Errorf("ParseTemplate(%q) error %v, want one containing %q", tmpl, err, hint)
		}
	}
	tp, err := ParseTemplate(DefaultTemplate)
	if err != nil || tp.String() != DefaultTemplate {
		t.Fatalf("default template: %v", err)
	}
}

func TestTemplateExpand(t *testing.T) {
	tm := time.Date(2024, 6, 1, 9, 5, 7, 0, time.FixedZone("+02:00", 7200))
	f := Fields{Time: tm, Project: "Smith Wedding", Name: "IMG_0001.CR3", Camera: "Canon EOS R5", Kind: Raw}
	for _, tc := range []struct {
		tmpl string
		f    func(*Fields)
		want string
	}{
		{DefaultTemplate, nil, "2024/2024-06-01 Smith Wedding/IMG_0001.CR3"},
		{DefaultTemplate, func(f *Fields) { f.Project = "" }, "2024/2024-06-01/IMG_0001.CR3"},
		{"{year}/{month}/{day}/{time}_{stem}.{ext}", nil, "2024/06/01/090507_IMG_0001.CR3"},
		{"{camera}/{kind}/{name}", nil, "Canon EOS R5/raw/IMG_0001.CR3"},
		{"{camera}/{name}", func(f *Fields) { f.Camera = "" }, "Unknown camera/IMG_0001.CR3"},
		{"{stem}.{ext}", func(f *Fields) { f.Name = "README" }, "README"},
		{"{stem}-x.{ext}", func(f *Fields) { f.Name = "IMG_0001.CR3.xmp" }, "IMG_0001-x.CR3.xmp"},
		// Field values cannot add folders or escape.
		{DefaultTemplate, func(f *Fields) { f.Project = "../../etc" }, "2024/2024-06-01 ..-..-etc/IMG_0001.CR3"},
		{DefaultTemplate, func(f *Fields) { f.Project = "A/B\\C\x00D\nE: F?" }, "2024/2024-06-01 A-B-C_D_E_ F_/IMG_0001.CR3"},
		{"{project}/{name}", func(f *Fields) { f.Name = "a/../b.jpg" }, "Smith Wedding/a-..-b.jpg"},
		{DefaultTemplate, func(f *Fields) { f.Project = "Smith Inc. " }, "2024/2024-06-01 Smith Inc/IMG_0001.CR3"},
		// NFD input comes out NFC.
		{DefaultTemplate, func(f *Fields) { f.Project = "Cafe\u0301"; f.Name = "Cafe\u0301.jpg" }, "2024/2024-06-01 Caf\u00e9/Caf\u00e9.jpg"},
	} {
		tp, err := ParseTemplate(tc.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		ff := f
		if tc.f != nil {
			tc.f(&ff)
		}
		got, err := tp.Expand(ff)
		if err != nil || got != tc.want {
			t.Errorf("%q with %+v = %q, %v; want %q", tc.tmpl, ff, got, err, tc.want)
		}
	}
	for name, ff := range map[string]Fields{
		"no time": {Name: "a.jpg"}, "no name": {Time: tm}, "dot name": {Time: tm, Name: ".."},
	} {
		tp, _ := ParseTemplate(DefaultTemplate)
		if got, err := tp.Expand(ff); err == nil {
			t.Errorf("%s: got %q, want an error", name, got)
		}
	}
	tp, _ := ParseTemplate("{project}/{name}")
	if got, err := tp.Expand(Fields{Time: tm, Name: "a.jpg"}); err == nil {
		t.Errorf("empty project as a whole folder: got %q, want an error", got)
	}
	if _, err := (Template{}).Expand(f); err == nil {
		t.Error("zero Template expanded")
	}
}

func TestCleanProject(t *testing.T) {
	for in, want := range map[string]string{
		"  Smith Wedding ": "Smith Wedding", "Cafe\u0301": "Caf\u00e9", "Caf\u00e9": "Caf\u00e9",
		"2024 Ünïcödé ✓": "2024 Ünïcödé ✓", ".hidden": ".hidden", strings.Repeat("a", 120): strings.Repeat("a", 120),
	} {
		if got, err := CleanProject(in); err != nil || got != want {
			t.Errorf("CleanProject(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if a, _ := CleanProject("Cafe\u0301"); a != "Caf\u00e9" {
		t.Errorf("NFD not normalised: %q", a)
	}
	for in, hint := range map[string]string{
		"": "empty", "   ": "empty", ".": "not allowed", "..": "not allowed", "a/b": `"/"`, `a\b`: `"\"`,
		"a\tb": "control", "a\nb": "control", strings.Repeat("é", 61): "shorten", "bad\xffutf8": "UTF-8",
	} {
		if got, err := CleanProject(in); err == nil || !strings.Contains(err.Error(), hint) {
			t.Errorf("CleanProject(%q) = %q, %v; want an error containing %q", in, got, err, hint)
		}
	}
}
