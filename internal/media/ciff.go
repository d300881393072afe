package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Canon CRW files use CIFF: a header, then a heap whose last 4 bytes give the offset of its directory; directory
// entries point at values or at sub-heaps. The capture time is the CapturedTime record (tag 0x180e: seconds since
// 1970 on the camera's clock, no offset); the model is the second string of MakeModel (tag 0x080a).

const (
	ciffCapturedTime = 0x180e
	ciffMakeModel    = 0x080a
	maxCIFFDepth     = 4
	maxCIFFEntries   = 4096 // in all heaps together
)

func isCIFF(head []byte) bool {
	return len(head) >= 14 && (bytes.HasPrefix(head, []byte("II")) || bytes.HasPrefix(head, []byte("MM"))) &&
		bytes.Equal(head[6:14], []byte("HEAPCCDR"))
}

type ciffReader struct {
	r       io.ReadSeeker
	bo      binary.ByteOrder
	entries int
	secs    int64
	hasTime bool
	model   string
}

func readCIFF(r io.ReadSeeker) (Capture, error) {
	hdr := make([]byte, 14)
	if _, err := readAt(r, 0, hdr); err != nil {
		return Capture{}, fmt.Errorf("read CRW header: %w", err)
	}
	cr := &ciffReader{r: r, bo: binary.LittleEndian}
	if hdr[0] == 'M' {
		cr.bo = binary.BigEndian
	}
	end, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return Capture{}, fmt.Errorf("seek: %w", err)
	}
	start := int64(cr.bo.Uint32(hdr[2:]))
	if err := cr.heap(start, end-start, 0); err != nil && !cr.hasTime {
		return Capture{Model: cr.model}, fmt.Errorf("read CRW heap: %w", err)
	}
	if !cr.hasTime {
		return Capture{Model: cr.model}, fmt.Errorf("%w: CRW has no CapturedTime", ErrNoDate)
	}
	if cr.secs <= 0 || cr.secs > 1<<40 {
		return Capture{Model: cr.model}, fmt.Errorf("%w: CRW CapturedTime %d is blank or out of range", ErrNoDate, cr.secs)
	}
	return Capture{Time: time.Unix(cr.secs, 0).UTC(), Source: "ciff:DateTimeOriginal", Model: cr.model}, nil
}

func (cr *ciffReader) heap(start, length int64, depth int) error {
	if depth > maxCIFFDepth || length < 6 || start < 0 {
		return fmt.Errorf("CIFF heap at %d: bad length %d or too deep", start, length)
	}
	b := make([]byte, 4)
	if _, err := readAt(cr.r, start+length-4, b); err != nil {
		return err
	}
	tbl := start + int64(cr.bo.Uint32(b))
	if tbl < start || tbl+2 > start+length {
		return fmt.Errorf("CIFF heap at %d: directory offset out of range", start)
	}
	if _, err := readAt(cr.r, tbl, b[:2]); err != nil {
		return err
	}
	n := int(cr.bo.Uint16(b))
	if cr.entries += n; cr.entries > maxCIFFEntries {
		return fmt.Errorf("CIFF: more than %d entries", maxCIFFEntries)
	}
	dir := make([]byte, n*10)
	got, _ := readAt(cr.r, tbl+2, dir)
	for i := 0; i+10 <= got; i += 10 {
		e := dir[i : i+10]
		tag := cr.bo.Uint16(e)
		size, off := int64(cr.bo.Uint32(e[2:])), int64(cr.bo.Uint32(e[6:]))
		var val []byte
		if tag&0xC000 == 0x4000 { // value stored in the entry itself
			val = e[2:10]
		}
		switch id := tag & 0x3FFF; {
		case tag&0x3800 == 0x2800 || tag&0x3800 == 0x3000: // sub-heap
			if val == nil && off+size <= length {
				_ = cr.heap(start+off, size, depth+1) // one bad sub-heap must not hide the others
			}
		case id == ciffCapturedTime || id == ciffMakeModel:
			if val == nil {
				if off < 0 || size < 4 || off+size > length {
					continue
				}
				val = make([]byte, min(size, maxStringLen))
				k, _ := readAt(cr.r, start+off, val)
				val = val[:k]
			}
			if id == ciffCapturedTime && len(val) >= 4 {
				cr.secs, cr.hasTime = int64(cr.bo.Uint32(val)), true
			} else if id == ciffMakeModel {
				if parts := bytes.SplitN(val, []byte{0}, 3); len(parts) >= 2 {
					cr.model = cleanString(string(parts[1]))
				}
			}
		}
	}
	return nil
}
