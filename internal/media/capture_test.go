package media

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const photosDir = "../../testdata/photos"

// sample is one row of the exiftool table in SOURCES.md.
type sample struct {
	file, fileType, model, dto, createDate string
}

// readSources parses the exiftool table in SOURCES.md, so the expectations come from exiftool, not from us.
func readSources(t testing.TB) []sample {
	t.Helper()
	f, err := os.Open(filepath.Join(photosDir, "SOURCES.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []sample
	inTable := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			inTable = line == "## exiftool table"
			continue
		}
		if !inTable || !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| File ") {
			continue
		}
		cols := strings.Split(strings.Trim(line, "|"), "|")
		if len(cols) != 6 {
			t.Fatalf("SOURCES.md: row %q has %d columns, want 6", line, len(cols))
		}
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		rows = append(rows, sample{cols[0], cols[1], cols[2], cols[3], cols[4]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 20 {
		t.Fatalf("SOURCES.md: parsed only %d rows of the exiftool table", len(rows))
	}
	return rows
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func TestReadCaptureMatchesExiftool(t *testing.T) {
	rows := readSources(t)
	entries, err := os.ReadDir(photosDir)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]sample{}
	for _, r := range rows {
		byName[r.file] = r
	}
	for _, e := range entries {
		if e.Name() == "SOURCES.md" {
			continue
		}
		if _, ok := byName[e.Name()]; !ok {
			t.Errorf("%s is not in the SOURCES.md exiftool table", e.Name())
		}
	}
	for _, row := range rows {
		t.Run(row.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(photosDir, row.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c, err := ReadCapture(f, row.file)
			want := dash(row.dto)
			wantSrc := "DateTimeOriginal"
			if want == "" {
				want, wantSrc = dash(row.createDate), "CreateDate"
			}
			if want == "" {
				if err == nil {
					t.Fatalf("exiftool finds no date, ReadCapture returned %+v", c)
				}
				if !errors.Is(err, ErrNoDate) {
					t.Errorf("error %v does not wrap ErrNoDate", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadCapture: %v", err)
			}
			if got := c.Time.Format("2006:01:02 15:04:05"); got != want[:19] {
				t.Errorf("time digits %s, exiftool says %s (source %s)", got, want, c.Source)
			}
			if !strings.HasSuffix(c.Source, wantSrc) {
				t.Errorf("source %q, want the %s tag", c.Source, wantSrc)
			}
			// An offset in the exiftool value must be carried over.
			if rest := want[19:]; strings.HasPrefix(rest, "+") || strings.HasPrefix(rest, "-") {
				if !c.HasOffset || c.Time.Format("-07:00") != rest {
					t.Errorf("offset: HasOffset=%v zone %s, exiftool says %s", c.HasOffset, c.Time.Format("-07:00"), rest)
				}
			}
			if !c.HasOffset && c.Time.Location() != time.UTC {
				t.Errorf("no offset but Location is %v, want time.UTC", c.Time.Location())
			}
			if c.HasOffset {
				if name, _ := c.Time.Zone(); name == "UTC" && c.Time.Location() == time.UTC {
					t.Errorf("HasOffset but Location is time.UTC")
				}
			}
			if c.Model != dash(row.model) {
				t.Errorf("model %q, exiftool says %q", c.Model, dash(row.model))
			}
		})
	}
}

func TestCaptureTimeFallsBackWithoutDate(t *testing.T) {
	mtime := time.Date(2024, 6, 1, 12, 30, 0, 0, time.UTC)
	c := CaptureTime(filepath.Join(photosDir, "exiftool_QuickTime.heic"), mtime, mtime.Add(time.Hour))
	if c.Source != "mtime" || !strings.Contains(c.Note, "no capture date") {
		t.Fatalf("got %+v, want mtime fallback with a note", c)
	}
	if !c.Time.Equal(mtime) || !c.HasOffset {
		t.Errorf("time %v (HasOffset %v), want the instant %v with offset", c.Time, c.HasOffset, mtime)
	}
	local := mtime.In(time.Local)
	if c.Time.Hour() != local.Hour() || c.Time.Day() != local.Day() {
		t.Errorf("wall clock %v, want the local wall clock %v", c.Time, local)
	}

	c = CaptureTime(filepath.Join(t.TempDir(), "missing.jpg"), mtime, mtime)
	if c.Source != "mtime" || !strings.Contains(c.Note, "unreadable") {
		t.Errorf("missing file: got %+v", c)
	}
}

func TestCaptureTimeUsesMetadata(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := CaptureTime(filepath.Join(photosDir, "exiftool_Canon.jpg"), now, now)
	if c.Source != "exif:DateTimeOriginal" || c.Note != "" || c.Model != "Canon EOS DIGITAL REBEL" {
		t.Fatalf("got %+v", c)
	}
	if want := time.Date(2003, 12, 4, 6, 46, 52, 0, time.UTC); !c.Time.Equal(want) {
		t.Errorf("time %v, want %v", c.Time, want)
	}
}

func TestCaptureTimeImplausible(t *testing.T) {
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	mtime := time.Date(2025, 2, 28, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		date, note string
	}{
		{"0000:00:00 00:00:00", "no capture date"},
		{"    :  :     :  :  ", "no capture date"},
		{"1970:01:01 00:00:00", "EXIF date 1970-01-01 00:00:00 is implausible (before 1980)"},
		{"2200:01:01 00:00:00", "EXIF date 2200-01-01 00:00:00 is implausible (in the future)"},
		{"2025:03:04 10:00:00", "is implausible (in the future)"}, // 72h ahead
		{"2025:13:45 99:00:00", "no capture date"},                // malformed
	} {
		t.Run(tc.date, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "IMG_0001.JPG")
			if err := os.WriteFile(p, buildJPEG(tc.date, "", "Test Cam", false), 0o644); err != nil {
				t.Fatal(err)
			}
			c := CaptureTime(p, mtime, now)
			if c.Source != "mtime" || !strings.Contains(c.Note, tc.note) || !c.Time.Equal(mtime) {
				t.Errorf("got %+v, want mtime fallback with note containing %q", c, tc.note)
			}
			if c.Model != "Test Cam" {
				t.Errorf("model %q lost in fallback", c.Model)
			}
		})
	}
	// Within the 48h slack is still accepted.
	p := filepath.Join(t.TempDir(), "IMG_0002.JPG")
	if err := os.WriteFile(p, buildJPEG("2025:03:02 10:00:00", "", "Test Cam", false), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := CaptureTime(p, mtime, now); c.Source != "exif:DateTimeOriginal" {
		t.Errorf("24h ahead: got %+v, want the EXIF date", c)
	}
}

func TestReadCaptureSyntheticEXIF(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    []byte
		want    string
		wantOff bool
	}{
		{"forward IFD with offset", buildJPEG("2021:05:06 07:08:09", "+05:30", "Cam A", false), "2021-05-06 07:08:09 +0530", true},
		// IFD0 after its values, as Photoshop writes it: imagemeta reads forward only and finds nothing.
		{"IFD after values", buildJPEG("2021:05:06 07:08:09", "", "Cam B", true), "2021-05-06 07:08:09 +0000", false},
		{"ORF-style TIFF", buildTIFF([]byte("IIRO"), "2019:01:02 03:04:05", "", "E-M1", false), "2019-01-02 03:04:05 +0000", false},
		{"RW2-style TIFF", buildTIFF([]byte("IIU\x00"), "2019:01:02 03:04:05", "-03:00", "DC-GH5", false), "2019-01-02 03:04:05 -0300", true},
		{"PEF-style TIFF big-endian", buildTIFF([]byte("MM\x00*"), "2019:01:02 03:04:05", "", "PENTAX K-1", false), "2019-01-02 03:04:05 +0000", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ReadCapture(bytes.NewReader(tc.data), "x")
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Time.Format("2006-01-02 15:04:05 -0700"); got != tc.want || c.HasOffset != tc.wantOff {
				t.Errorf("time %s HasOffset %v, want %s %v", got, c.HasOffset, tc.want, tc.wantOff)
			}
			if c.Model == "" {
				t.Error("model missing")
			}
			if c.Source != "exif:DateTimeOriginal" {
				t.Errorf("source %q", c.Source)
			}
		})
	}
}

func TestReadCaptureXMP(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want, src string
		off                  bool
	}{
		{"element form", `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/">
<exif:DateTimeOriginal>2020-02-03T04:05:06.250-07:00</exif:DateTimeOriginal><tiff:Model>X100V</tiff:Model>
</rdf:Description></rdf:RDF></x:xmpmeta>`, "2020-02-03T04:05:06.25-07:00", "xmp:DateTimeOriginal", true},
		{"photoshop only, Z", `<?xml version="1.0"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description photoshop:DateCreated="2020-02-03T04:05Z" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"/></rdf:RDF></x:xmpmeta>`, "2020-02-03T04:05:00Z", "xmp:DateCreated", true},
		{"create date without offset", `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreateDate="2020-02-03T04:05:06"/></x:xmpmeta>`, "2020-02-03T04:05:06Z", "xmp:CreateDate", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ReadCapture(strings.NewReader(tc.doc), "a.xmp")
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Time.Format(time.RFC3339Nano); got != tc.want || c.Source != tc.src || c.HasOffset != tc.off {
				t.Errorf("got %s %s %v, want %s %s %v", got, c.Source, c.HasOffset, tc.want, tc.src, tc.off)
			}
		})
	}
	// Fractional seconds of the real sample are kept.
	f, err := os.Open(filepath.Join(photosDir, "imagemeta_Canon6D.xmp"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if c, err := ReadCapture(f, "imagemeta_Canon6D.xmp"); err != nil || c.HasOffset {
		t.Errorf("Canon6D.xmp: %+v, %v", c, err)
	}
	if _, err := ReadCapture(strings.NewReader(`<x:xmpmeta xmlns:x="adobe:ns:meta/"/>`), "b.xmp"); !errors.Is(err, ErrNoDate) {
		t.Errorf("XMP without dates: err %v, want ErrNoDate", err)
	}
}

func TestReadCaptureGarbage(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty": nil, "text": []byte("hello, world"), "jpeg soi only": {0xFF, 0xD8},
		"tiff header only": []byte("II*\x00\x08\x00\x00\x00"),
		"raf header only":  append([]byte("FUJIFILMCCD-RAW 0201FF393101"), make([]byte, 80)...),
		"ftyp only":        []byte("\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "),
	} {
		if c, err := ReadCapture(bytes.NewReader(data), name); err == nil {
			t.Errorf("%s: got %+v, want an error", name, c)
		}
	}
}
