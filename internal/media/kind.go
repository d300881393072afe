// Package media is Trove's photo domain: what kind of file a card entry is, which entries are clutter, when a photo
// was taken (read from its metadata), how photos and their sidecars group, and where files land in the library
// (naming templates).
//
// Nothing here writes files. Readers of untrusted files (ReadCapture) are bounded in the bytes they read and the
// memory they allocate, and never panic.
package media

import (
	"path"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Kind of a file found on a card.
type Kind string

// The kinds of file ingest distinguishes.
const (
	Raw     Kind = "raw"
	JPEG    Kind = "jpeg"
	HEIF    Kind = "heif"
	TIFF    Kind = "tiff"
	PNG     Kind = "png"
	Video   Kind = "video"
	Sidecar Kind = "sidecar"
	Other   Kind = "other"
)

// kindByExt maps a lower-case extension without the dot to its Kind.
//
// Decisions: LRV (GoPro/Insta360 low-resolution proxy video) and THM (camera thumbnail of a video) are Sidecar,
// not Video: they are derived from, and named after, the real clip, and travel with it. WAV is Sidecar because on
// cards it is a camera voice memo attached to a photo.
var kindByExt = map[string]Kind{}

func init() {
	add := func(k Kind, exts string) {
		for _, e := range strings.Fields(exts) {
			kindByExt[e] = k
		}
	}
	add(Raw, "cr2 cr3 crw nef nrw arw sr2 srf dng raf orf rw2 pef srw 3fr iiq x3f erf mef mos rwl gpr kdc dcr mrw fff")
	add(JPEG, "jpg jpeg jpe")
	add(HEIF, "heic heif hif avif")
	add(TIFF, "tif tiff")
	add(PNG, "png")
	add(Video, "mov mp4 m4v avi mts m2ts mxf 3gp insv mkv mpg mpeg")
	add(Sidecar, "xmp thm wav aae lrv")
}

// KindOf classifies a file by its (last) extension, case-insensitively. It never looks at the content; a file
// whose extension is unknown is Other (ingest still copies Other files: nothing is dropped for being unknown).
func KindOf(name string) Kind {
	ext := path.Ext(strings.ReplaceAll(name, `\`, "/"))
	if ext == "" {
		return Other
	}
	if k, ok := kindByExt[strings.ToLower(ext[1:])]; ok {
		return k
	}
	return Other
}

// Junk names, compared case-insensitively (FAT and exFAT cards are case-insensitive).
var (
	junkDirs = map[string]bool{
		".trashes": true, ".spotlight-v100": true, ".fseventsd": true, ".temporaryitems": true,
		".documentrevisions-v100": true, "system volume information": true, "$recycle.bin": true,
		"recycler": true, ".trash": true, ".trove": true,
	}
	junkFiles = map[string]bool{
		".ds_store": true, "thumbs.db": true, "ehthumbs.db": true, "desktop.ini": true, ".localized": true,
		".apdisk": true, ".volumeicon.icns": true, "icon\r": true, ".metadata_never_index": true,
	}
)

// IsJunk reports whether a card or folder entry is operating-system clutter that ingest ignores: Finder and
// Spotlight files (.DS_Store, ._* AppleDouble files, .Trashes, .Spotlight-V100, .fseventsd, .TemporaryItems,
// .Trash, .Trash-<uid>), Windows files (System Volume Information, $RECYCLE.BIN, RECYCLER, Thumbs.db,
// desktop.ini) and Trove's own .trove folder. relPath is slash-separated and relative to the source root; an entry
// inside a junk folder is junk too. Names are compared case-insensitively.
//
// It is deliberately conservative: camera folders (DCIM, MISC, CANONMSC, PRIVATE, AVF_INFO…), lost+found and
// anything unrecognised are NOT junk, because copying a few stray files is cheaper than missing a photo.
func IsJunk(relPath string, isDir bool) bool {
	parts := strings.Split(strings.Trim(relPath, "/"), "/")
	for i, p := range parts {
		l := strings.ToLower(p)
		last := i == len(parts)-1
		if !last || isDir {
			if junkDirs[l] || strings.HasPrefix(l, ".trash-") {
				return true
			}
			continue
		}
		if junkFiles[l] || strings.HasPrefix(l, "._") {
			return true
		}
	}
	return false
}

// splitStem splits a base name into its group stem (original case) and the rest, which starts with "." or is
// empty. The last extension is always split off; one more is split off when what remains ends in a known media
// extension, so sidecars named like "IMG_0001.CR3.xmp" group with "IMG_0001.CR3". A leading dot does not start
// an extension (".hidden" has no extension).
func splitStem(name string) (stem, rest string) {
	name = name[strings.LastIndex(name, "/")+1:]
	cut := func(s string) int {
		i := strings.LastIndex(s, ".")
		if i <= 0 {
			return -1
		}
		return i
	}
	i := cut(name)
	if i < 0 {
		return name, ""
	}
	if j := cut(name[:i]); j >= 0 && KindOf(name[:i]) != Other {
		i = j
	}
	return name[:i], name[i:]
}

// GroupStem returns the key that ties sidecars to their photo: "IMG_0001" for IMG_0001.CR3, img_0001.jpg,
// IMG_0001.XMP and IMG_0001.CR3.xmp. The key is NFC-normalised and upper-cased, so compare keys with ==. name may be
// a slash-separated path; only its last element counts.
func GroupStem(name string) string {
	stem, _ := splitStem(name)
	return strings.ToUpper(norm.NFC.String(stem))
}

// UniqueName returns name with the counter n placed right after the group stem: ("IMG_0001.JPG", 2) ->
// "IMG_0001-2.JPG", ("IMG_0001.CR3.xmp", 2) -> "IMG_0001-2.CR3.xmp", so a photo and its sidecars renamed with the
// same n still form one group. For n < 2 it returns name unchanged (the first file keeps its name).
func UniqueName(name string, n int) string {
	if n < 2 {
		return name
	}
	dir := ""
	if i := strings.LastIndex(name, "/"); i >= 0 {
		dir, name = name[:i+1], name[i+1:]
	}
	stem, rest := splitStem(name)
	return dir + stem + "-" + strconv.Itoa(n) + rest
}
