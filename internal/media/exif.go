package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Trove's own EXIF reader: random access, so it handles IFDs stored after their values, and TIFF variants
// (ORF "IIRO", RW2 "IIU", PEF and others) that imagemeta does not recognise. Every read is small and bounded.

const (
	maxIFDEntries = 1024 // more entries than any camera writes; a larger count is corrupt
	maxStringLen  = 256
)

// isTIFFHeader reports whether head starts with a TIFF byte-order mark (any magic number: raw formats vary it).
func isTIFFHeader(head []byte) bool {
	return len(head) >= 8 && (bytes.HasPrefix(head, []byte("II")) || bytes.HasPrefix(head, []byte("MM")))
}

// exifTags are the values read from IFD0 and the EXIF IFD.
type exifTags struct {
	model              string
	dto, cd            string // "YYYY:MM:DD HH:MM:SS"
	offDTO, offCD      string // "+02:00"
	subDTO, subCD      string
	exifIFD            uint32
	haveExifIFDPointer bool
}

// readTIFF reads capture data from a TIFF structure whose header is at base in r.
func readTIFF(r io.ReadSeeker, base int64) (Capture, error) {
	hdr := make([]byte, 8)
	if _, err := readAt(r, base, hdr); err != nil {
		return Capture{}, fmt.Errorf("read TIFF header: %w", err)
	}
	var bo binary.ByteOrder
	switch string(hdr[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return Capture{}, errors.New("not a TIFF structure")
	}
	var tags exifTags
	if err := readIFD(r, base, bo, bo.Uint32(hdr[4:]), &tags, false); err != nil {
		return Capture{}, fmt.Errorf("read IFD0: %w", err)
	}
	if tags.haveExifIFDPointer {
		if err := readIFD(r, base, bo, tags.exifIFD, &tags, true); err != nil && tags.dto == "" && tags.cd == "" {
			return Capture{Model: tags.model}, fmt.Errorf("read EXIF IFD: %w", err)
		}
	}
	return tags.capture()
}

// capture picks DateTimeOriginal, else CreateDate.
func (t exifTags) capture() (Capture, error) {
	c := Capture{Model: cleanString(t.model)}
	var reasons []string
	for _, cand := range []struct{ date, off, sub, src string }{
		{t.dto, t.offDTO, t.subDTO, "exif:DateTimeOriginal"},
		{t.cd, t.offCD, t.subCD, "exif:CreateDate"},
	} {
		if cand.date == "" {
			continue
		}
		tm, err := parseExifDate(cand.date)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", cand.src, err))
			continue
		}
		c.Time, c.HasOffset = tm, false
		if off, ok := parseOffset(cand.off); ok {
			c.Time = time.Date(tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), 0, fixedZone(off))
			c.HasOffset = true
		}
		c.Source = cand.src
		return c, nil
	}
	if len(reasons) > 0 {
		return c, fmt.Errorf("%w: %w %v", ErrNoDate, errBadDate, reasons)
	}
	return c, ErrNoDate
}

// readIFD reads one IFD at off (relative to base) and records the tags of interest.
func readIFD(r io.ReadSeeker, base int64, bo binary.ByteOrder, off uint32, t *exifTags, exifIFD bool) error {
	cnt := make([]byte, 2)
	if _, err := readAt(r, base+int64(off), cnt); err != nil {
		return err
	}
	n := int(bo.Uint16(cnt))
	if n == 0 || n > maxIFDEntries {
		return fmt.Errorf("IFD at %d claims %d entries", off, n)
	}
	entries := make([]byte, n*12)
	got, err := readAt(r, base+int64(off)+2, entries)
	if got < 12 {
		return fmt.Errorf("IFD at %d: %w", off, err)
	}
	entries = entries[:got-got%12] // a truncated IFD: use the entries that are there
	for i := 0; i+12 <= len(entries); i += 12 {
		e := entries[i : i+12]
		tag, typ, count := bo.Uint16(e), bo.Uint16(e[2:]), bo.Uint32(e[4:])
		str := func() string {
			if typ != 2 && typ != 7 && typ != 1 { // ASCII, UNDEFINED, BYTE
				return ""
			}
			if count <= 4 {
				return string(e[8 : 8+count])
			}
			if count > maxStringLen {
				count = maxStringLen
			}
			buf := make([]byte, count)
			k, _ := readAt(r, base+int64(bo.Uint32(e[8:])), buf)
			return string(buf[:k])
		}
		switch {
		case tag == 0x0110 && !exifIFD:
			t.model = str()
		case tag == 0x8769 && !exifIFD && (typ == 4 || typ == 13):
			t.exifIFD, t.haveExifIFDPointer = bo.Uint32(e[8:]), true
		case tag == 0x9003:
			t.dto = cleanString(str())
		case tag == 0x9004:
			t.cd = cleanString(str())
		case tag == 0x9011:
			t.offDTO = cleanString(str())
		case tag == 0x9012:
			t.offCD = cleanString(str())
		case tag == 0x9291:
			t.subDTO = cleanString(str())
		case tag == 0x9292:
			t.subCD = cleanString(str())
		}
	}
	return nil
}

// errBlankDate marks a date that is all zeros or blanks, which EXIF defines as "unknown".
var errBlankDate = errors.New("date is blank")

// errBadDate marks date tags that are present but blank or malformed.
var errBadDate = errors.New("date tags are blank or malformed")

// parseExifDate parses "YYYY:MM:DD HH:MM:SS" (also with "-" in the date), validating every field.
func parseExifDate(s string) (time.Time, error) {
	if len(s) < 19 {
		if len(s) == 0 || isBlankDate(s) {
			return time.Time{}, errBlankDate
		}
		return time.Time{}, fmt.Errorf("malformed date %q", s)
	}
	s = s[:19]
	if isBlankDate(s) {
		return time.Time{}, errBlankDate
	}
	num := func(i, j int) int {
		v := 0
		for _, ch := range []byte(s[i:j]) {
			if ch < '0' || ch > '9' {
				return -1
			}
			v = v*10 + int(ch-'0')
		}
		return v
	}
	sepOK := (s[4] == ':' || s[4] == '-') && s[7] == s[4] && (s[10] == ' ' || s[10] == 'T') && s[13] == ':' && s[16] == ':'
	y, mo, d, h, mi, sec := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19)
	if !sepOK || y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return time.Time{}, fmt.Errorf("malformed date %q", s)
	}
	if y == 0 {
		return time.Time{}, errBlankDate
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC), nil
}

func isBlankDate(s string) bool {
	for _, ch := range []byte(s) {
		if ch != '0' && ch != ':' && ch != ' ' && ch != '-' {
			return false
		}
	}
	return true
}

// parseOffset parses "+HH:MM" / "-HH:MM" within ±14h.
func parseOffset(s string) (int, bool) {
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return 0, false
	}
	for _, i := range []int{1, 2, 4, 5} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h, m := int(s[1]-'0')*10+int(s[2]-'0'), int(s[4]-'0')*10+int(s[5]-'0')
	if h > 14 || m > 59 {
		return 0, false
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

// findJPEGExif walks the JPEG markers starting at start and returns the offset and length of the TIFF structure
// inside the APP1 "Exif" segment (at most 64 KiB, the largest a segment can be).
func findJPEGExif(r io.ReadSeeker, start int64) (int64, int, error) {
	pos := start + 2
	seg := make([]byte, 10)
	for i := 0; i < 256; i++ {
		n, _ := readAt(r, pos, seg)
		if n < 4 || seg[0] != 0xFF {
			break
		}
		marker := seg[1]
		if marker == 0xFF { // fill byte
			pos++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan / end of image: no EXIF before the image data
			break
		}
		length := int64(binary.BigEndian.Uint16(seg[2:]))
		if length < 2 {
			break
		}
		if marker == 0xE1 && n == 10 && length > 8 && bytes.Equal(seg[4:10], []byte("Exif\x00\x00")) {
			return pos + 10, int(length) - 8, nil
		}
		pos += 2 + length
	}
	return 0, 0, fmt.Errorf("%w: JPEG has no EXIF segment", ErrNoDate)
}

// readRAF reads a FujiFilm RAF: its header gives (big-endian) the offset of an embedded JPEG at byte 84 and its
// length at byte 88; that JPEG carries the EXIF.
func readRAF(r io.ReadSeeker) (Capture, error) {
	hdr := make([]byte, 92)
	if _, err := readAt(r, 0, hdr); err != nil {
		return Capture{}, fmt.Errorf("read RAF header: %w", err)
	}
	off, length := int64(binary.BigEndian.Uint32(hdr[84:])), int64(binary.BigEndian.Uint32(hdr[88:]))
	if length < 4 {
		return Capture{}, fmt.Errorf("RAF header: embedded JPEG length %d", length)
	}
	length = min(length, maxEmbeddedJPEG)
	sec := &sectionRS{r: r, base: off, size: length}
	head := make([]byte, 16)
	n, _ := readAt(sec, 0, head)
	if n < 2 || head[0] != 0xFF || head[1] != 0xD8 {
		return Capture{}, fmt.Errorf("RAF: no JPEG at offset %d", off)
	}
	c, err := readEXIFContainer(sec, head[:n])
	if err != nil {
		return c, fmt.Errorf("RAF embedded JPEG: %w", err)
	}
	return c, nil
}
