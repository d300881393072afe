package media

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// XMP namespaces whose properties ReadCapture reads.
const (
	nsExif      = "http://ns.adobe.com/exif/1.0/"
	nsXMP       = "http://ns.adobe.com/xap/1.0/"
	nsPhotoshop = "http://ns.adobe.com/photoshop/1.0/"
	nsTIFF      = "http://ns.adobe.com/tiff/1.0/"
)

// xmpProps maps a property to its rank (lower wins) and Source; rank -1 is the camera model.
var xmpProps = map[xml.Name]struct {
	rank int
	src  string
}{
	{Space: nsExif, Local: "DateTimeOriginal"}: {0, "xmp:DateTimeOriginal"},
	{Space: nsPhotoshop, Local: "DateCreated"}: {1, "xmp:DateCreated"},
	{Space: nsXMP, Local: "CreateDate"}:        {2, "xmp:CreateDate"},
	{Space: nsTIFF, Local: "Model"}:            {-1, ""},
}

// looksLikeXML reports whether head starts (after a BOM and white space) like an XMP packet or XML document.
func looksLikeXML(head []byte) bool {
	h := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF")), " \t\r\n")
	for _, p := range []string{"<?xpacket", "<x:xmpmeta", "<?xml", "<rdf:RDF"} {
		if bytes.HasPrefix(h, []byte(p)) {
			return true
		}
	}
	return false
}

// readXMP reads dates and the model from an XMP sidecar, as attributes (exif:DateTimeOriginal="…") or elements
// (<exif:DateTimeOriginal>…</exif:DateTimeOriginal>). At most maxXMPBytes are parsed.
func readXMP(r io.ReadSeeker) (Capture, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Capture{}, fmt.Errorf("seek: %w", err)
	}
	d := xml.NewDecoder(io.LimitReader(r, maxXMPBytes))
	d.Strict = false
	values := map[int]string{}
	found := func(n xml.Name, v string) {
		if p, ok := xmpProps[n]; ok {
			if _, seen := values[p.rank]; !seen {
				values[p.rank] = strings.TrimSpace(v)
			}
		}
	}
	var cur *xml.Name
	var text strings.Builder
	var parseErr error
	for tokens := 0; tokens < 1<<20; tokens++ {
		tok, err := d.Token()
		if err != nil {
			if err != io.EOF {
				parseErr = err
			}
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			for _, a := range t.Attr {
				found(a.Name, a.Value)
			}
			if _, ok := xmpProps[t.Name]; ok {
				n := t.Name
				cur = &n
				text.Reset()
			} else {
				cur = nil // a nested element (rdf:Seq…) ends the simple value
			}
		case xml.CharData:
			if cur != nil && text.Len() < maxStringLen {
				text.Write(t)
			}
		case xml.EndElement:
			if cur != nil && t.Name == *cur {
				found(*cur, text.String())
			}
			cur = nil
		}
	}
	c := Capture{Model: values[-1]}
	var reasons []string
	for rank := 0; rank <= 2; rank++ {
		v, ok := values[rank]
		if !ok || v == "" {
			continue
		}
		src := srcOfRank(rank)
		tm, hasOff, err := parseXMPDate(v)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", src, err))
			continue
		}
		c.Time, c.HasOffset, c.Source = tm, hasOff, src
		return c, nil
	}
	switch {
	case len(reasons) > 0:
		return c, fmt.Errorf("%w (%v)", ErrNoDate, reasons)
	case parseErr != nil:
		return c, fmt.Errorf("%w (XMP: %v)", ErrNoDate, parseErr)
	}
	return c, ErrNoDate
}

func srcOfRank(rank int) string {
	for _, p := range xmpProps {
		if p.rank == rank {
			return p.src
		}
	}
	return ""
}

// parseXMPDate parses the ISO 8601 subset XMP uses: a date, optionally with hh:mm[:ss[.fff]] and an offset.
// A date without an offset is returned in time.UTC with its digits, and false.
func parseXMPDate(s string) (time.Time, bool, error) {
	for _, layout := range []string{
		"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00", "2006-01-02T15:04",
		"2006-01-02", "2006:01:02 15:04:05Z07:00", "2006:01:02 15:04:05",
	} {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if !strings.Contains(layout, "Z07") {
			return t, false, nil
		}
		// time.Parse may attach time.Local when the offset matches it; use a plain FixedZone.
		_, off := t.Zone()
		if off < -14*3600 || off > 14*3600 {
			return time.Time{}, false, fmt.Errorf("offset out of range in %q", s)
		}
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), fixedZone(off)), true, nil
	}
	if isBlankDate(s) {
		return time.Time{}, false, errBlankDate
	}
	return time.Time{}, false, fmt.Errorf("malformed date %q", s)
}
