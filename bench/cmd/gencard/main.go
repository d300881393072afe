// Command gencard writes a deterministic fake memory card for the ingest
// benchmark (bench/ingest.sh): DCIM/100CANON with N shots, each a RAW
// (.CR3), an optional JPEG (.JPG) and an optional XMP sidecar (.xmp).
//
// Every photo file starts with a real sample header (when -samples points at
// testdata/photos) so the capture-date parser takes its ordinary path, and is
// padded to its size with pseudo-random bytes from ChaCha8 seeded by -seed and
// the file's index: the same flags always give byte-identical cards, and no
// two files share content (so ingest never deduplicates). Modification times
// are fixed (2024-06-01 10:00:00 UTC plus the shot number in seconds).
//
// Usage:
//
//	gencard -out DIR [-shots 50] [-raw-size 25MiB] [-jpeg-size 8MiB] [-xmp=true]
//	        [-seed 1] [-samples testdata/photos] [-dir DCIM/100CANON]
//
// It prints one line: "<files> files, <bytes> bytes".
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gencard:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "", "card root to create (must not exist)")
	shots := flag.Int("shots", 50, "number of shots")
	rawSize := flag.String("raw-size", "25MiB", "size of each RAW file (0 for none)")
	jpegSize := flag.String("jpeg-size", "8MiB", "size of each JPEG file (0 for none)")
	xmp := flag.Bool("xmp", true, "write an XMP sidecar per shot")
	seed := flag.Uint64("seed", 1, "seed of the pseudo-random content")
	samples := flag.String("samples", "", "folder with exiftool_CanonRaw.cr3 and exiftool_Canon.jpg to use as headers (optional)")
	dir := flag.String("dir", "DCIM/100CANON", "folder of the shots inside the card")
	flag.Parse()
	if *out == "" {
		return errors.New("-out is required")
	}
	rs, err := parseSize(*rawSize)
	if err != nil {
		return fmt.Errorf("-raw-size: %w", err)
	}
	js, err := parseSize(*jpegSize)
	if err != nil {
		return fmt.Errorf("-jpeg-size: %w", err)
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists: choose a fresh folder", *out)
	}
	var rawHead, jpegHead []byte
	if *samples != "" {
		if rawHead, err = os.ReadFile(filepath.Join(*samples, "exiftool_CanonRaw.cr3")); err != nil {
			return fmt.Errorf("read sample header: %w", err)
		}
		if jpegHead, err = os.ReadFile(filepath.Join(*samples, "exiftool_Canon.jpg")); err != nil {
			return fmt.Errorf("read sample header: %w", err)
		}
	}
	folder := filepath.Join(*out, filepath.FromSlash(*dir))
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return err
	}
	base := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	var files int
	var total int64
	for i := 1; i <= *shots; i++ {
		stem := filepath.Join(folder, fmt.Sprintf("IMG_%04d", i))
		mtime := base.Add(time.Duration(i) * time.Second)
		type spec struct {
			ext  string
			size int64
			head []byte
			kind uint64
		}
		for _, s := range []spec{{".CR3", rs, rawHead, 0}, {".JPG", js, jpegHead, 1}} {
			if s.size <= 0 {
				continue
			}
			n, err := writeFile(stem+s.ext, s.size, s.head, *seed, uint64(i)<<8|s.kind, mtime)
			if err != nil {
				return err
			}
			files++
			total += n
		}
		if *xmp {
			body := xmpBody(fmt.Sprintf("IMG_%04d", i), mtime)
			if err := os.WriteFile(stem+".xmp", body, 0o644); err != nil {
				return err
			}
			if err := os.Chtimes(stem+".xmp", mtime, mtime); err != nil {
				return err
			}
			files++
			total += int64(len(body))
		}
	}
	fmt.Printf("%d files, %d bytes\n", files, total)
	return nil
}

// writeFile writes head (truncated to size) then pseudo-random bytes up to
// size, seeded by (seed, stream), and sets the modification time.
func writeFile(name string, size int64, head []byte, seed, stream uint64, mtime time.Time) (int64, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], stream)
	rng := rand.NewChaCha8(key)
	w := bufio.NewWriterSize(f, 1<<20)
	if int64(len(head)) > size {
		head = head[:size]
	}
	w.Write(head)
	buf := make([]byte, 1<<20)
	for left := size - int64(len(head)); left > 0; {
		n := min(left, int64(len(buf)))
		rng.Read(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			f.Close()
			return 0, fmt.Errorf("write %s: %w", name, err)
		}
		left -= n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", name, err)
	}
	return size, os.Chtimes(name, mtime, mtime)
}

func xmpBody(stem string, t time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
   exif:DateTimeOriginal="%s" xmp:Rating="3" xmp:Label="%s"/>
 </rdf:RDF>
</x:xmpmeta>
`, t.Format("2006-01-02T15:04:05"), stem)
	// Pad to a typical Lightroom sidecar size (a few KiB) with whitespace.
	b.WriteString(strings.Repeat(" ", 4096))
	b.WriteString("\n<?xpacket end=\"w\"?>\n")
	return []byte(b.String())
}

// parseSize reads "25MiB", "512KiB", "1GiB" or a plain byte count.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size like 25MiB", s)
	}
	return n * mult, nil
}
