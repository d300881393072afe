package ingest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/media"
)

// item is one source file on its way into the library.
type item struct {
	src     string // absolute path on the source
	display string // what the user sees: source folder name + relative path
	size    int64
	mtime   time.Time
	kind    media.Kind
	capture media.Capture
	group   string // directory + media.GroupStem: sidecars follow their photo

	// Planned placement.
	path    string     // library path (slash-separated)
	hint    digest.Sum // content this source had last time (or the content found in pass 1)
	hasHint bool
	avoid   []string // library paths found occupied by foreign files
	pass    int      // 1: the normal single read; 2: a re-read for a rare case
}

// scan walks the sources and returns their files in a stable order, plus
// the problems it met (an unreadable folder is a problem: files may hide in it).
func scan(sources []string, exclude []string) ([]*item, []Problem, []string) {
	var items []*item
	var problems []Problem
	var notes []string
	for _, root := range sources {
		abs, err := filepath.Abs(root)
		if err != nil {
			problems = append(problems, Problem{File: root, Err: fmt.Sprintf("source: %v", err)})
			continue
		}
		fi, err := os.Stat(abs)
		if err != nil {
			problems = append(problems, Problem{File: root, Err: fmt.Sprintf("source cannot be read: %v", err)})
			continue
		}
		if !fi.IsDir() {
			items = append(items, &item{src: abs, display: filepath.Base(abs), size: fi.Size(), mtime: fi.ModTime(),
				kind: media.KindOf(abs)})
			continue
		}
		base := filepath.Base(abs)
		err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
			rel, _ := filepath.Rel(abs, p)
			relSlash := filepath.ToSlash(rel)
			show := base + "/" + relSlash
			if rel == "." {
				show = base
			}
			if err != nil {
				problems = append(problems, Problem{File: show, Err: fmt.Sprintf("cannot read: %v", unwrapPath(err))})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if rel == "." {
				return nil
			}
			for _, ex := range exclude {
				if p == ex {
					notes = append(notes, fmt.Sprintf("%s is a Trove target: not read as a source", show))
					return fs.SkipDir
				}
			}
			if media.IsJunk(relSlash, d.IsDir()) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				notes = append(notes, fmt.Sprintf("%s is a symbolic link: not followed", show))
				return nil
			}
			if !d.Type().IsRegular() {
				notes = append(notes, fmt.Sprintf("%s is not a regular file: skipped", show))
				return nil
			}
			info, err := d.Info()
			if err != nil {
				problems = append(problems, Problem{File: show, Err: fmt.Sprintf("cannot read: %v", unwrapPath(err))})
				return nil
			}
			items = append(items, &item{src: p, display: show, size: info.Size(), mtime: info.ModTime(),
				kind: media.KindOf(p), group: filepath.Dir(p) + "/" + media.GroupStem(d.Name())})
			return nil
		})
		if err != nil {
			problems = append(problems, Problem{File: base, Err: err.Error()})
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].src < items[j].src })
	return items, problems, notes
}

// readCaptures fills in capture times; sidecars take the time of their photo
// so that they land in the same folder.
func readCaptures(items []*item, now time.Time) {
	primary := make(map[string]*item)
	for _, it := range items {
		if it.kind == media.Sidecar {
			continue
		}
		it.capture = media.CaptureTime(it.src, it.mtime, now)
		if p, ok := primary[it.group]; !ok || rank(it.kind) < rank(p.kind) {
			primary[it.group] = it
		}
	}
	for _, it := range items {
		if it.kind != media.Sidecar {
			continue
		}
		if p, ok := primary[it.group]; ok && it.group != "" {
			it.capture = p.capture
			it.capture.Note = "date of " + filepath.Base(p.src)
			continue
		}
		it.capture = media.CaptureTime(it.src, it.mtime, now)
	}
}

// rank orders which member of a group gives the group its date.
func rank(k media.Kind) int {
	switch k {
	case media.Raw:
		return 0
	case media.JPEG, media.HEIF, media.TIFF, media.PNG:
		return 1
	case media.Video:
		return 2
	}
	return 3
}

func fingerprint(it *item) string {
	return fmt.Sprintf("%s|%d|%d", filepath.Base(it.src), it.size, it.mtime.Unix())
}

func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

func isUnder(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
