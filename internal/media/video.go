package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// imageBrands are ISO-BMFF major brands of still images (HEIF, AVIF, Canon CR3): these go to imagemeta.
var imageBrands = map[string]bool{
	"heic": true, "heix": true, "hevc": true, "hevx": true, "heim": true, "heis": true, "hevm": true, "hevs": true,
	"mif1": true, "msf1": true, "avif": true, "avis": true, "crx ": true,
}

// isQuickTime reports whether head starts a QuickTime or ISO-BMFF movie (not a HEIF/AVIF/CR3 still).
func isQuickTime(head []byte) bool {
	if len(head) < 12 {
		return false
	}
	switch string(head[4:8]) {
	case "ftyp":
		return !imageBrands[string(head[8:12])]
	case "moov", "mdat", "wide", "free", "skip", "pnot":
		return true
	}
	return false
}

const maxBoxes = 4096 // boxes visited per level; real files have a handful

// qtEpoch is the QuickTime/MP4 time origin.
var qtEpoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)

// readQuickTime returns the moov/mvhd creation time. Only box headers are read (boxes are skipped with Seek), so
// a moov after a large mdat costs a few reads.
func readQuickTime(r io.ReadSeeker) (Capture, error) {
	end, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return Capture{}, fmt.Errorf("seek: %w", err)
	}
	moovStart, moovEnd, err := findBox(r, 0, end, "moov")
	if err != nil {
		return Capture{}, err
	}
	mvStart, mvEnd, err := findBox(r, moovStart, moovEnd, "mvhd")
	if err != nil {
		return Capture{}, err
	}
	buf := make([]byte, 12)
	n, _ := readAt(r, mvStart, buf)
	var secs uint64
	switch {
	case n >= 8 && buf[0] == 0 && mvEnd-mvStart >= 8:
		secs = uint64(binary.BigEndian.Uint32(buf[4:]))
	case n >= 12 && buf[0] == 1 && mvEnd-mvStart >= 12:
		secs = binary.BigEndian.Uint64(buf[4:])
	default:
		return Capture{}, errors.New("mvhd box is malformed")
	}
	if secs == 0 {
		return Capture{}, fmt.Errorf("%w: QuickTime creation time is not set", ErrNoDate)
	}
	if secs > 1<<40 {
		return Capture{}, fmt.Errorf("QuickTime creation time %d is out of range", secs)
	}
	return Capture{
		Time:      time.Unix(qtEpoch.Unix()+int64(secs), 0).In(fixedZone(0)),
		HasOffset: true,
		Source:    "quicktime:CreateDate",
	}, nil
}

// findBox returns the payload range of the first box of type typ among the boxes in [start, end).
func findBox(r io.ReadSeeker, start, end int64, typ string) (int64, int64, error) {
	hdr := make([]byte, 16)
	pos := start
	for i := 0; i < maxBoxes && pos+8 <= end; i++ {
		n, _ := readAt(r, pos, hdr)
		if n < 8 {
			break
		}
		size, hlen := int64(binary.BigEndian.Uint32(hdr)), int64(8)
		switch size {
		case 0: // to the end of the enclosing range
			size = end - pos
		case 1: // 64-bit size follows
			if n < 16 {
				return 0, 0, fmt.Errorf("box %q at %d: truncated 64-bit size", hdr[4:8], pos)
			}
			u := binary.BigEndian.Uint64(hdr[8:])
			if u > 1<<62 {
				return 0, 0, fmt.Errorf("box %q at %d: size %d out of range", hdr[4:8], pos, u)
			}
			size, hlen = int64(u), 16
		}
		if size < hlen || pos+size > end {
			return 0, 0, fmt.Errorf("box %q at %d: size %d does not fit", hdr[4:8], pos, size)
		}
		if bytes.Equal(hdr[4:8], []byte(typ)) {
			return pos + hlen, pos + size, nil
		}
		pos += size
	}
	return 0, 0, fmt.Errorf("%w: no %s box", ErrNoDate, typ)
}
