package media

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const maxSeed = 256 << 10

// FuzzReadCapture feeds arbitrary bytes to ReadCapture, under a name that picks each reader. It must never panic
// and must return promptly. With TROVE_FUZZ_PANICS=1 a recovered parser panic fails too, to find crashers in the
// dependencies (keep them in testdata/fuzz/FuzzReadCapture as seeds).
func FuzzReadCapture(f *testing.F) {
	entries, err := os.ReadDir(photosDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(photosDir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), maxSeed)], filepath.Ext(e.Name()))
	}
	f.Add(buildJPEG("2021:05:06 07:08:09", "+05:30", "Cam", true), ".jpg")
	f.Add(buildTIFF([]byte("IIRO"), "2019:01:02 03:04:05", "", "E-M1", false), ".orf")
	failOnPanic := os.Getenv("TROVE_FUZZ_PANICS") == "1"
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		start := time.Now()
		c, err := ReadCapture(bytes.NewReader(data), "f"+ext)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("ReadCapture took %v", d)
		}
		if err == nil && c.Time.IsZero() {
			t.Fatalf("no error but zero time: %+v", c)
		}
		if err == nil && c.Source == "" {
			t.Fatalf("no source: %+v", c)
		}
		if failOnPanic && err != nil && strings.Contains(err.Error(), "panic") {
			t.Fatalf("recovered panic: %v", err)
		}
	})
}

// hostileInputs are headers that claim huge counts and sizes.
func hostileInputs() map[string][]byte {
	le := binary.LittleEndian
	// TIFF: IFD0 claims 65535 entries; the one entry present claims a 4 GiB ASCII model and 4 GiB EXIF strings.
	tiff := []byte("II*\x00\x08\x00\x00\x00")
	tiff = le.AppendUint16(tiff, 0xFFFF)
	for _, tag := range []uint16{0x0110, 0x9003, 0x8769} {
		tiff = le.AppendUint16(tiff, tag)
		tiff = le.AppendUint16(tiff, 2)
		tiff = le.AppendUint32(tiff, 0xFFFFFFFF)
		tiff = le.AppendUint32(tiff, 8)
	}
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF}, "Exif\x00\x00"...)
	jpeg = append(jpeg, tiff...)

	be := binary.BigEndian
	// HEIF: meta/iinf/iloc claiming 2^32-1 entries and boxes bigger than the file.
	heif := be.AppendUint32(nil, 24)
	heif = append(heif, "ftypheic\x00\x00\x00\x00mif1heic"...)
	heif = be.AppendUint32(heif, 0xFFFFFFF0)
	heif = append(heif, "meta\x00\x00\x00\x00"...)
	heif = be.AppendUint32(heif, 0xFFFFFF00)
	heif = append(heif, "iinf\x00\x00\x00\x00\xFF\xFF"...)
	heif = be.AppendUint32(heif, 0xFFFF0000)
	heif = append(heif, "iloc\x01\x00\x00\x00\x44\x40\xFF\xFF"...)

	// QuickTime: a 64-bit box size of 2^62 and a moov claiming the world.
	mov := be.AppendUint32(nil, 1)
	mov = append(mov, "moov"...)
	mov = be.AppendUint64(mov, 1<<62)
	mov = be.AppendUint32(mov, 0xFFFFFFFF)
	mov = append(mov, "mvhd"...)

	// CIFF: a heap directory claiming 65535 entries, each a sub-heap of 4 GiB.
	crw := []byte("II\x1a\x00\x00\x00HEAPCCDR\x01\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	heapStart := len(crw)
	crw = le.AppendUint16(crw, 0xFFFF)
	for i := 0; i < 8; i++ {
		crw = le.AppendUint16(crw, 0x300a)
		crw = le.AppendUint32(crw, 0xFFFFFFFF)
		crw = le.AppendUint32(crw, 0)
	}
	crw = le.AppendUint32(crw, 0) // directory at heap offset 0
	_ = heapStart

	// RAF pointing at a 4 GiB JPEG.
	raf := append([]byte("FUJIFILMCCD-RAW 0201FF393101"), make([]byte, 56)...)
	raf = be.AppendUint32(raf, 100)
	raf = be.AppendUint32(raf, 0xFFFFFFFF)
	raf = append(raf, make([]byte, 8)...)
	raf = append(raf, jpeg...)

	// XMP: an endless attribute value.
	xmp := `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:DateTimeOriginal="` +
		strings.Repeat("9", 8<<20) + `"/></x:xmpmeta>`
	return map[string][]byte{"tiff": tiff, "jpeg": jpeg, "heif": heif, "mov": mov, "crw": crw, "raf": raf, "xmp": []byte(xmp)}
}

func TestReadCaptureHostileHeadersBoundedMemory(t *testing.T) {
	for name, data := range hostileInputs() {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			c, err := ReadCapture(bytes.NewReader(data), "hostile."+name)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Errorf("got %+v, want an error", c)
			}
			// The XMP input itself is 8 MiB; the parser may read up to maxXMPBytes of it.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
				t.Errorf("allocated %d MiB", alloc>>20)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestReadCaptureReadBudget checks that a reader is never asked for more than MaxReadBytes, here with an endless
// stream of JPEG padding after the SOI marker.
func TestReadCaptureReadBudget(t *testing.T) {
	r := &countingRS{size: 1 << 40}
	_, err := ReadCapture(r, "endless.jpg")
	if err == nil {
		t.Fatal("want an error")
	}
	t.Logf("read %d bytes", r.read)
	if r.read > MaxReadBytes {
		t.Errorf("read %d bytes, budget is %d", r.read, MaxReadBytes)
	}
}

// countingRS is a huge virtual file: "\xFF\xD8" then 0xFF fill bytes forever; it counts the bytes read.
type countingRS struct {
	size, pos, read int64
}

func (c *countingRS) Read(p []byte) (int, error) {
	if c.pos >= c.size {
		return 0, os.ErrClosed
	}
	n := int64(len(p))
	n = min(n, c.size-c.pos)
	for i := range p[:n] {
		switch c.pos + int64(i) {
		case 0:
			p[i] = 0xFF
		case 1:
			p[i] = 0xD8
		default:
			p[i] = 0xFF
		}
	}
	c.pos += n
	c.read += n
	return int(n), nil
}

func (c *countingRS) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 1:
		off += c.pos
	case 2:
		off += c.size
	}
	c.pos = off
	return off, nil
}
