package media

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/evanoberholster/imagemeta"
)

// Capture is when (and by what) a photo was taken, and where that fact came from.
type Capture struct {
	// Time is the camera's wall clock. If the file records a UTC offset, Location is a FixedZone with it and
	// HasOffset is true; otherwise Location is time.UTC holding the wall-clock digits and HasOffset is false.
	// EXIF times are whole seconds; XMP times keep their fractional seconds.
	Time      time.Time
	HasOffset bool
	// Source is where Time came from: "exif:DateTimeOriginal", "exif:CreateDate", "quicktime:CreateDate",
	// "xmp:DateTimeOriginal", "xmp:DateCreated" (photoshop:DateCreated), "xmp:CreateDate",
	// "ciff:DateTimeOriginal" (Canon CRW) or "mtime".
	Source string
	Model  string // camera model when known
	Note   string // why a fallback was used, or a caveat about Time
}

// Read bounds for ReadCapture.
const (
	// MaxReadBytes is the most ReadCapture reads from one file, whatever its headers claim. Seeks are free.
	MaxReadBytes = 64 << 20
	maxXMPBytes  = 4 << 20
	// maxEmbeddedJPEG is how much of an embedded preview JPEG (RAF) is searched for EXIF.
	maxEmbeddedJPEG = 1 << 20
)

// ErrNoDate is returned (wrapped) by ReadCapture when a file's metadata holds no capture date.
var ErrNoDate = errors.New("no capture date in metadata")

// ReadCapture reads capture metadata of a file; r is read from offset 0 whatever its current position. name is
// used only to choose the reader for formats without a reliable signature (XMP) and in errors. It is safe to call
// concurrently with different readers. It never panics (a panic in a parser is recovered and returned
// as an error), reads at most MaxReadBytes and allocates bounded memory whatever the headers claim. It returns an
// error wrapping ErrNoDate when no date is found; it does not judge plausibility (CaptureTime does). With an
// error, the returned Capture is empty except for Model when one was read.
//
// Sources by format:
//   - JPEG, TIFF, DNG, CR2, NEF, ARW, HEIC/HEIF, CR3: EXIF DateTimeOriginal, else CreateDate (DateTimeDigitized),
//     with OffsetTimeOriginal/OffsetTimeDigitized when present; read with imagemeta, and with Trove's own
//     random-access TIFF reader when imagemeta finds no date (e.g. an IFD stored after its values, as in
//     Photoshop-rewritten JPEGs) or cannot parse the container (ORF, RW2, PEF and other TIFF-like raws).
//   - RAF: the EXIF of the embedded JPEG whose offset and length the RAF header gives.
//   - MOV, MP4 and other QuickTime/ISO-BMFF video: moov/mvhd creation time, which the format defines as UTC
//     (HasOffset true, offset +00:00). Some cameras write their local wall clock there instead; nothing in the
//     file tells which, so such a clip's Time is off by the camera's UTC offset.
//   - XMP sidecars: exif:DateTimeOriginal, else photoshop:DateCreated, else xmp:CreateDate, as attributes or
//     elements; offsets and fractional seconds are kept.
//   - CRW (Canon CIFF): the CapturedTime record, whose clock has no offset.
//
// A HEIF without EXIF (e.g. some screenshots) has no date: error.
func ReadCapture(r io.ReadSeeker, name string) (c Capture, err error) {
	defer func() {
		if p := recover(); p != nil {
			c = Capture{}
			err = fmt.Errorf("read capture date of %s: parser panic: %v", name, p)
		}
	}()
	br := &budgetReader{r: r, left: MaxReadBytes}
	c, err = readCapture(br, name)
	if err != nil {
		return Capture{Model: cleanString(c.Model)}, fmt.Errorf("read capture date of %s: %w", name, err)
	}
	c.Model = cleanString(c.Model)
	return c, nil
}

func readCapture(r *budgetReader, name string) (Capture, error) {
	head := make([]byte, 64)
	n, err := readAt(r, 0, head)
	if n == 0 {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return Capture{}, fmt.Errorf("read header: %w", err)
	}
	head = head[:n]
	ext := strings.ToLower(path.Ext(name))
	switch {
	case bytes.HasPrefix(head, []byte("FUJIFILMCCD-RAW ")):
		return readRAF(r)
	case isCIFF(head):
		return readCIFF(r)
	case isQuickTime(head):
		return readQuickTime(r)
	case ext == ".xmp" || looksLikeXML(head):
		return readXMP(r)
	}
	return readEXIFContainer(r, head)
}

// readEXIFContainer reads the EXIF of JPEG, TIFF-like raws and HEIF/CR3.
//
// Where Trove can locate the TIFF structure itself (JPEG APP1, files starting with a TIFF header) its own strict,
// random-access reader goes first and imagemeta is the fallback, because imagemeta (v0.3.1) reads forward only
// (missing IFDs stored after their values), turns malformed dates such as "2025:13:45 99:00:00" into real-looking
// ones, and hangs on some malformed JPEG marker sequences. HEIF and CR3 go to imagemeta only.
func readEXIFContainer(r io.ReadSeeker, head []byte) (Capture, error) {
	switch {
	case len(head) >= 2 && head[0] == 0xFF && head[1] == 0xD8:
		return readJPEG(r)
	case isTIFFHeader(head):
		own, err := readTIFF(r, 0)
		return ownThenImagemeta(own, err, r)
	}
	return readImagemeta(r)
}

// readJPEG finds the APP1 Exif segment with Trove's own bounded marker walk. imagemeta, when needed, gets a
// synthetic JPEG made of SOI, that segment and a DQT stub (where it stops scanning), so its marker scanner never sees
// the rest of the file: it loops forever on some malformed marker sequences (found by FuzzReadCapture: an EOI right
// after SOI followed by more data).
func readJPEG(r io.ReadSeeker) (Capture, error) {
	base, length, err := findJPEGExif(r, 0)
	if err != nil {
		return Capture{}, err
	}
	tiff := make([]byte, length)
	n, _ := readAt(r, base, tiff)
	tiff = tiff[:n]
	own, ownErr := readTIFF(bytes.NewReader(tiff), 0)
	syn := make([]byte, 0, len(tiff)+100)
	syn = append(syn, 0xFF, 0xD8, 0xFF, 0xE1, byte((len(tiff)+8)>>8), byte(len(tiff)+8))
	syn = append(syn, "Exif\x00\x00"...)
	syn = append(syn, tiff...)
	syn = append(syn, 0xFF, 0xDB, 0x00, 0x43)
	syn = append(syn, make([]byte, 0x41)...)
	return ownThenImagemeta(own, ownErr, bytes.NewReader(syn))
}

// ownThenImagemeta returns Trove's own reading when it found a date, or found date tags that are blank or
// malformed (then there is no date to find); otherwise it asks imagemeta to read im.
func ownThenImagemeta(own Capture, ownErr error, im io.ReadSeeker) (Capture, error) {
	if ownErr == nil || errors.Is(ownErr, errBadDate) {
		return own, ownErr
	}
	c, imErr := readImagemeta(im)
	if imErr == nil {
		return c, nil
	}
	if c.Model == "" {
		c.Model = own.Model
	}
	return c, fmt.Errorf("%w (imagemeta: %v)", ownErr, imErr)
}

// readImagemeta decodes with imagemeta; any panic inside it is recovered. It returns an error wrapping ErrNoDate
// (with whatever Model was found) when the file parsed but held no usable date.
func readImagemeta(r io.ReadSeeker) (c Capture, err error) {
	defer func() {
		if p := recover(); p != nil {
			c, err = Capture{}, fmt.Errorf("imagemeta panic: %v", p)
		}
	}()
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Capture{}, fmt.Errorf("seek: %w", err)
	}
	e, decErr := imagemeta.Decode(r)
	c.Model = cleanString(e.Model)
	for _, cand := range []struct {
		t   time.Time
		src string
	}{{e.DateTimeOriginal(), "exif:DateTimeOriginal"}, {e.CreateDate(), "exif:CreateDate"}} {
		// imagemeta returns the zero time (possibly plus sub-seconds) for an absent tag, and year -1 for
		// "0000:00:00 00:00:00", which EXIF defines as "unknown".
		if cand.t.Year() <= 1 {
			continue
		}
		c.Time, c.HasOffset = normalizeZone(cand.t.Truncate(time.Second))
		c.Source = cand.src
		return c, nil
	}
	if errors.Is(decErr, imagemeta.ErrNoExif) {
		return c, fmt.Errorf("%w: no EXIF", ErrNoDate)
	}
	if decErr != nil {
		return c, fmt.Errorf("imagemeta: %w", decErr)
	}
	return c, ErrNoDate
}

// normalizeZone returns t's wall clock either in a FixedZone of its offset (true) or, when t is in UTC proper or
// its offset is outside ±14h, as the same digits in time.UTC (false).
func normalizeZone(t time.Time) (time.Time, bool) {
	if t.Location() == time.UTC {
		return t, false
	}
	_, off := t.Zone()
	wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	if off < -14*3600 || off > 14*3600 {
		return wall, false
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), fixedZone(off)), true
}

// fixedZone returns a FixedZone named like "+02:00".
func fixedZone(off int) *time.Location {
	sign := '+'
	a := off
	if a < 0 {
		sign, a = '-', -a
	}
	return time.FixedZone(fmt.Sprintf("%c%02d:%02d", sign, a/3600, a%3600/60), off)
}

// cleanString trims NULs and spaces that camera firmware pads strings with, and drops invalid UTF-8.
func cleanString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(strings.ToValidUTF8(s, ""))
}

// Plausible capture times: not before 1980 (no digital camera; also the FAT epoch) and not more than 48h after now.
var minPlausible = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

const maxFuture = 48 * time.Hour

// CaptureTime opens path and returns its capture time. When the metadata has none, cannot be read, or the date is
// implausible (before 1980 or more than 48h after now), it falls back to mtime, as wall clock in time.Local with
// its offset (HasOffset true, Source "mtime"), and Note says why; the camera Model is kept when it was read. It
// never fails.
func CaptureTime(path string, mtime, now time.Time) Capture {
	var c Capture
	var why string
	f, err := os.Open(path)
	if err == nil {
		c, err = ReadCapture(f, path)
		f.Close()
	}
	switch {
	case err != nil && errors.Is(err, ErrNoDate):
		why = ErrNoDate.Error()
	case err != nil:
		why = "capture date unreadable: " + err.Error()
	case c.Time.Year() < minPlausible.Year():
		why = fmt.Sprintf("%s date %s is implausible (before 1980)", sourceLabel(c.Source), c.Time.Format("2006-01-02 15:04:05"))
	case c.Time.After(now.Add(maxFuture)):
		why = fmt.Sprintf("%s date %s is implausible (in the future)", sourceLabel(c.Source), c.Time.Format("2006-01-02 15:04:05"))
	default:
		return c
	}
	local := mtime.In(time.Local)
	_, off := local.Zone()
	return Capture{
		Time: time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(),
			local.Nanosecond(), fixedZone(off)),
		HasOffset: true,
		Source:    "mtime",
		Model:     c.Model,
		Note:      why + "; using the file's modification time",
	}
}

// sourceLabel turns "exif:DateTimeOriginal" into "EXIF" for notes.
func sourceLabel(src string) string {
	kind, _, _ := strings.Cut(src, ":")
	return strings.ToUpper(kind)
}

// budgetReader limits the total bytes read from r; seeking is free. Past the budget reads return io.EOF, so
// parsers stop as at the end of a file.
type budgetReader struct {
	r    io.ReadSeeker
	left int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *budgetReader) Seek(off int64, whence int) (int64, error) { return b.r.Seek(off, whence) }

// readAt reads len(p) bytes at off (fewer only at end of file, with io.ErrUnexpectedEOF or io.EOF).
func readAt(r io.ReadSeeker, off int64, p []byte) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(r, p)
}

// sectionRS is an io.ReadSeeker over [base, base+size) of r.
type sectionRS struct {
	r          io.ReadSeeker
	base, size int64
	pos        int64
}

func (s *sectionRS) Read(p []byte) (int, error) {
	if s.pos >= s.size {
		return 0, io.EOF
	}
	if int64(len(p)) > s.size-s.pos {
		p = p[:s.size-s.pos]
	}
	if _, err := s.r.Seek(s.base+s.pos, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	s.pos += int64(n)
	return n, err
}

func (s *sectionRS) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += s.pos
	case io.SeekEnd:
		off += s.size
	default:
		return 0, errors.New("bad whence")
	}
	if off < 0 {
		return 0, errors.New("negative position")
	}
	s.pos = off
	return off, nil
}
