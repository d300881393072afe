package media

import (
	"encoding/binary"
)

// buildTIFF returns a TIFF structure whose first four bytes are head (byte order + magic) with IFD0 {Model,
// ExifIFD pointer} and an EXIF IFD {DateTimeOriginal, OffsetTimeOriginal if off != ""}. With valuesFirst the
// string values come right after the header and the IFDs at the end (as Photoshop writes), otherwise the IFDs
// come first.
func buildTIFF(head []byte, date, off, model string, valuesFirst bool) []byte {
	var bo binary.ByteOrder = binary.LittleEndian
	if head[0] == 'M' {
		bo = binary.BigEndian
	}
	asciiz := func(s string) []byte { return append([]byte(s), 0) }
	vals := [][]byte{asciiz(model), asciiz(date)}
	if off != "" {
		vals = append(vals, asciiz(off))
	}
	nExif := 1
	if off != "" {
		nExif = 2
	}
	ifd0Len := 2 + 2*12 + 4
	exifLen := 2 + nExif*12 + 4
	valLen := 0
	for _, v := range vals {
		valLen += len(v)
	}
	var ifd0At, exifAt, valAt int
	if valuesFirst {
		valAt, ifd0At = 8, 8+valLen
		exifAt = ifd0At + ifd0Len
	} else {
		ifd0At = 8
		exifAt = ifd0At + ifd0Len
		valAt = exifAt + exifLen
	}
	buf := make([]byte, 8+valLen+ifd0Len+exifLen)
	copy(buf, head)
	bo.PutUint32(buf[4:], uint32(ifd0At))
	valOff := []int{}
	p := valAt
	for _, v := range vals {
		copy(buf[p:], v)
		valOff = append(valOff, p)
		p += len(v)
	}
	entry := func(at int, tag, typ uint16, count, value uint32) {
		bo.PutUint16(buf[at:], tag)
		bo.PutUint16(buf[at+2:], typ)
		bo.PutUint32(buf[at+4:], count)
		bo.PutUint32(buf[at+8:], value)
	}
	bo.PutUint16(buf[ifd0At:], 2)
	entry(ifd0At+2, 0x0110, 2, uint32(len(vals[0])), uint32(valOff[0]))
	entry(ifd0At+14, 0x8769, 4, 1, uint32(exifAt))
	bo.PutUint16(buf[exifAt:], uint16(nExif))
	entry(exifAt+2, 0x9003, 2, uint32(len(vals[1])), uint32(valOff[1]))
	if off != "" {
		entry(exifAt+14, 0x9011, 2, uint32(len(vals[2])), uint32(valOff[2]))
	}
	return buf
}

// buildJPEG wraps a little-endian TIFF structure in a minimal JPEG (SOI, APP1 Exif, EOI).
func buildJPEG(date, off, model string, valuesFirst bool) []byte {
	tiff := buildTIFF([]byte("II*\x00"), date, off, model, valuesFirst)
	out := []byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(out[4:], uint16(2+6+len(tiff)))
	out = append(out, "Exif\x00\x00"...)
	out = append(out, tiff...)
	return append(out, 0xFF, 0xD9)
}
