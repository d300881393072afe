package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/media"
	"github.com/trove-backup/trove/internal/progress"
)

// maxTargets is how many targets one run handles (one bit each in entry.has).
const maxTargets = 64

// entry flags.
const (
	fDeleted uint8 = 1 << iota // marked deleted in the catalog
	fSeen                      // found in the library by this run's walk
	fReady                     // in the library with known content: back it up
)

// entry is the compact in-memory view of one catalog file (88 bytes and
// its path), so a library of a million files fits in about 150 MiB and a
// no-change run reads nothing but the directory tree.
type entry struct {
	path     string
	id       int64
	sum      digest.Sum
	libSize  int64 // catalog's stat hint (-1: unknown)
	libMtime int64
	has      uint64 // bit i: target i holds a copy that counts
	flags    uint8
}

func (r *runner) setStored(id int64, stored string) {
	if r.storedNames == nil {
		r.storedNames = make(map[int64]string)
	}
	r.storedNames[id] = stored
}

// storedName is the name of e's file in the library's store.
func (r *runner) storedName(e *entry) string {
	if s, ok := r.storedNames[e.id]; ok {
		return s
	}
	return e.path
}

type runner struct {
	o       Options
	res     *Result
	libRoot *os.Root

	// entries: the catalog's files in path order, then files added by
	// this run.
	entries []entry
	// storedNames: the library's stored name of a file (by ID) when it
	// differs from its path (a library on a drive with restricted names).
	// Written during the scan only.
	storedNames map[int64]string
	// deleted: IDs of the files deleted from the library, in path order
	// (set after the scan; their copies move to versions areas).
	deleted []int64
	// scanChanged: the scan recorded something, so target manifests and
	// catalog snapshots are out of date.
	scanChanged bool

	mu sync.Mutex // guards res.Problems, res.Warnings
}

func (r *runner) problem(p Problem) {
	r.mu.Lock()
	r.res.Problems = append(r.res.Problems, p)
	r.mu.Unlock()
	r.o.Sink.Emit(progress.Event{Kind: progress.Problem, File: p.File, Dest: p.Dest, Err: p.Err})
}

// hashItem is a library file to read: new, changed, or back after a deletion.
type hashItem struct {
	idx    int32 // entry index, -1 for a new file
	name   string
	stored string
	size   int64
	mtime  time.Time
	// results
	sum     digest.Sum
	capture media.Capture
	err     error
}

// skipLibrary reports names in the library that are not photos to back up:
// Trove's README, operating-system clutter.
func skipLibrary(name string) bool {
	return name == "README.txt" || media.IsJunk(name, false)
}

// scan walks the library and brings the catalog up to date with it.
func (r *runner) scan(ctx context.Context) error {
	root, err := os.OpenRoot(r.o.LibraryDir)
	if err != nil {
		return fmt.Errorf("open library %s: %w", r.o.LibraryDir, err)
	}
	r.libRoot = root // closed with the process; Run's callers are short-lived
	work, err := r.join(ctx)
	if err != nil {
		return err
	}
	if err := r.hashAll(ctx, work); err != nil {
		return err
	}
	if err := r.deletions(ctx); err != nil {
		return err
	}
	for i := range r.entries {
		if r.entries[i].flags&fDeleted != 0 {
			r.deleted = append(r.deleted, r.entries[i].id)
		}
	}
	return nil
}

// hashAll reads new and changed library files (several at once) and records
// what they hold.
func (r *runner) hashAll(ctx context.Context, work []*hashItem) error {
	if len(work) == 0 {
		return nil
	}
	var total int64
	for _, it := range work {
		total += it.size
	}
	r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: r.o.Library.Target.Name,
		Message: fmt.Sprintf("reading %d new or changed files (%s)", len(work), progress.FormatBytes(total))})
	jobs := make(chan *hashItem)
	done := make(chan *hashItem)
	var wg sync.WaitGroup
	for range r.o.Hashers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, r.o.BufferSize)
			for it := range jobs {
				r.hashOne(ctx, it, buf)
				done <- it
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, it := range work {
			select {
			case jobs <- it:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	rec := &scanRecorder{r: r, now: r.o.Now()}
	var recErr error
	for it := range done {
		if recErr != nil {
			continue // drain
		}
		recErr = rec.add(ctx, it)
	}
	if recErr == nil {
		recErr = rec.flush(ctx)
	}
	if recErr != nil {
		return recErr
	}
	return ctx.Err()
}

// hashOne reads one library file, checking it did not change meanwhile.
func (r *runner) hashOne(ctx context.Context, it *hashItem, buf []byte) {
	if ctx.Err() != nil {
		it.err = ctx.Err()
		return
	}
	f, err := r.libRoot.Open(it.stored)
	if err != nil {
		it.err = fmt.Errorf("cannot read it: %w", unwrapPath(err))
		return
	}
	defer f.Close()
	h := digest.New()
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		it.err = fmt.Errorf("read error: %w", unwrapPath(err))
		return
	}
	fi, err := f.Stat()
	if err != nil || n != it.size || fi.Size() != it.size || !fi.ModTime().Equal(it.mtime) {
		it.err = errors.New("it changed while it was being read (still being saved?): not backed up this time; the next backup picks it up")
		return
	}
	it.sum = h.Sum()
	if it.idx < 0 {
		it.capture = media.CaptureTime(filepath.Join(r.o.LibraryDir, filepath.FromSlash(it.stored)), it.mtime, r.o.Now())
	}
}

// scanRecorder writes the scan's findings to the catalog, batching the
// common cases into few transactions.
type scanRecorder struct {
	r     *runner
	now   time.Time
	files []catalog.File
	items []*hashItem
	stats []catalog.LibraryStat
	stIdx []int32
}

const recordBatch = 512

func (s *scanRecorder) add(ctx context.Context, it *hashItem) error {
	r := s.r
	lib := r.o.Library.Target.Name
	if it.err != nil {
		if errors.Is(it.err, context.Canceled) {
			return nil
		}
		r.problem(Problem{File: it.name, Dest: lib, Err: it.err.Error()})
		return nil
	}
	r.o.Sink.Emit(progress.Event{Kind: progress.Verified, Dest: lib, File: it.name, Bytes: it.size})
	mt := it.mtime.UnixNano()
	if it.idx < 0 {
		f := catalog.File{Path: it.name, Project: projectOf(it.name), Sum: it.sum, Size: it.size,
			Kind: string(media.KindOf(it.name)), CapturedAt: captureString(it.capture), DateSource: it.capture.Source,
			Camera: it.capture.Model, OriginalName: path.Base(it.name), Source: "library", AddedAt: s.now,
			RunID: r.res.RunID, LibSize: it.size, LibMtimeNs: mt}
		s.files = append(s.files, f)
		s.items = append(s.items, it)
		if len(s.files) >= recordBatch {
			return s.flush(ctx)
		}
		return nil
	}
	e := &r.entries[it.idx]
	libID := r.o.Library.Target.ID
	switch {
	case e.flags&fDeleted != 0:
		// Back after a deletion: un-delete it, with whatever it holds now.
		var err error
		if it.sum == e.sum {
			err = r.o.Catalog.Restore(ctx, e.id, libID, it.stored, it.size, mt, s.now)
		} else {
			err = r.o.Catalog.UpdateContent(ctx, e.id, it.sum, it.size, mt, libID, s.now)
			r.res.Scan.Changed++
			e.has = 0
		}
		if err != nil {
			return err
		}
		r.res.Scan.Restored++
		e.flags &^= fDeleted
		r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: lib,
			Message: fmt.Sprintf("%s is back in the library", it.name)})
	case it.sum == e.sum:
		s.stats = append(s.stats, catalog.LibraryStat{FileID: e.id, Size: it.size, MtimeNs: mt})
		r.res.Scan.Touched++
		if len(s.stats) >= recordBatch {
			if err := s.flush(ctx); err != nil {
				return err
			}
		}
	default:
		if err := r.o.Catalog.UpdateContent(ctx, e.id, it.sum, it.size, mt, libID, s.now); err != nil {
			return err
		}
		r.res.Scan.Changed++
		e.has = 0 // every copy now holds the old version
		r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: lib,
			Message: fmt.Sprintf("%s was edited: backing up the new version, keeping the old one", it.name)})
	}
	e.sum, e.libSize, e.libMtime = it.sum, it.size, mt
	e.flags |= fReady
	r.scanChanged = true
	return nil
}

func (s *scanRecorder) flush(ctx context.Context) error {
	r := s.r
	if len(s.files) > 0 {
		ids, err := r.o.Catalog.AddLibraryFiles(ctx, s.files, r.o.Library.Target.ID, s.now)
		if err != nil {
			return err
		}
		for i, it := range s.items {
			if it.stored != it.name {
				r.setStored(ids[i], it.stored)
			}
			r.entries = append(r.entries, entry{path: it.name, id: ids[i], sum: it.sum,
				libSize: it.size, libMtime: it.mtime.UnixNano(), flags: fSeen | fReady})
		}
		r.res.Scan.New += len(s.files)
		r.scanChanged = true
		s.files, s.items = s.files[:0], s.items[:0]
	}
	if len(s.stats) > 0 {
		if err := r.o.Catalog.SetLibraryStats(ctx, s.stats); err != nil {
			return err
		}
		s.stats = s.stats[:0]
	}
	return nil
}

// deletions marks files gone from the library deleted, unless the
// mass-deletion brake holds them.
func (r *runner) deletions(ctx context.Context) error {
	var gone []int32
	present := 0
	for i := range r.entries {
		e := &r.entries[i]
		if e.flags&fDeleted != 0 {
			continue
		}
		present++
		if e.flags&fSeen == 0 {
			gone = append(gone, int32(i))
		}
	}
	sc := &r.res.Scan
	sc.Gone = len(gone)
	if len(gone) == 0 {
		return nil
	}
	lib := r.o.Library.Target.Name
	massive := float64(len(gone)) > r.o.MaxGoneShare*float64(present) && len(gone) > r.o.MinGoneFiles
	empty := sc.Files == 0
	if !r.o.AcceptDeletions && (massive || empty) {
		sc.Held = true
		why := fmt.Sprintf("%s of %s files are gone from the library", commas(len(gone)), commas(present))
		if empty {
			why = fmt.Sprintf("the library %s looks empty: all %s files are gone", r.o.LibraryDir, commas(present))
		}
		msg := why + " — nothing was marked deleted and every backup keeps them. " +
			"If the library's disk is not mounted, mount it and run backup again; if you meant it, run `trove backup --accept-deletions`"
		r.mu.Lock()
		r.res.Warnings = append(r.res.Warnings, msg)
		r.mu.Unlock()
		r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: lib, Message: "WARNING: " + msg})
		return nil
	}
	ids := make([]int64, len(gone))
	for i, k := range gone {
		ids[i] = r.entries[k].id
	}
	now := r.o.Now()
	for start := 0; start < len(ids); start += recordBatch {
		end := min(start+recordBatch, len(ids))
		if err := r.o.Catalog.MarkDeletedFromLibrary(ctx, ids[start:end], r.o.Library.Target.ID, now); err != nil {
			return err
		}
	}
	for i, k := range gone {
		e := &r.entries[k]
		e.flags |= fDeleted
		if i < 20 {
			r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: lib,
				Message: fmt.Sprintf("%s was deleted from the library: its backups move to the versions area", e.path)})
		}
	}
	if len(gone) > 20 {
		r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: lib,
			Message: fmt.Sprintf("… and %s more files deleted from the library", commas(len(gone)-20))})
	}
	sc.Deleted = len(gone)
	r.scanChanged = true
	return nil
}

// datedFolder matches the default layout's shoot folder "2024-06-01 Smith Wedding".
var datedFolder = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} (.+)$`)

// projectOf derives the project of a file found in the library: for
// "{year}/{yyyy-mm-dd} {project}/…" the project name, otherwise the top
// folder's name ("Unsorted" for a file at the library's top level).
func projectOf(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) >= 3 && len(parts[0]) == 4 {
		if m := datedFolder.FindStringSubmatch(parts[1]); m != nil && strings.HasPrefix(parts[1], parts[0]) {
			return strings.TrimSpace(m[1])
		}
	}
	if len(parts) >= 2 {
		return parts[0]
	}
	return "Unsorted"
}

func captureString(c media.Capture) string {
	if c.Time.IsZero() {
		return ""
	}
	if c.HasOffset {
		return c.Time.Format("2006-01-02T15:04:05Z07:00")
	}
	return c.Time.Format("2006-01-02T15:04:05")
}

// commas renders 12000 as "12,000".
func commas(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// unwrapPath drops the *PathError wrapper (its path is the temporary
// absolute path; messages name the library path instead).
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
