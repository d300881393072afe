// Package restore brings files back from their copies into a folder.
//
// For each file it tries the file's copies that count (state ok, verified,
// holding the file's current content) on the attached sources, most
// recently verified first. A copy is streamed into a temporary file next to
// the final name and hashed on the way; the temporary is fsynced, closed,
// and published under the final name only when the hash matched. On a
// mismatch or a read error the next copy is tried (and a mismatching copy is
// recorded corrupt in the catalog); when none works the file is reported by
// name.
//
// Safety of the destination:
//
//   - Every path from the catalog is untrusted: it must be local
//     (filepath.IsLocal), clean and relative, or the file is refused.
//   - All writes go through an os.Root opened on the destination folder, and
//     a symbolic link anywhere on the way (a planted "2024 -> /elsewhere")
//     makes Trove refuse that file with a clear message rather than write
//     through it.
//   - An existing file is never overwritten: it is skipped, or with
//     Overwrite it is first renamed to "<name>.trove-old-<time>" beside the
//     new one, and only after the new content is complete and verified. A
//     file that already holds the right content is left as it is.
//   - A full destination stops the run with an error naming the file; the
//     temporary is removed, so no half-written file ever has a final name.
package restore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
)

// Source is an attached target copies may be read from.
type Source struct {
	Target catalog.Target
	Store  store.Store
}

// Options configure a run.
type Options struct {
	Catalog   *catalog.Catalog
	Files     []catalog.File
	Sources   []Source         // attached targets to read from (only the --from one when given)
	Away      []catalog.Target // targets not attached (named when a file has no copy to restore from)
	Dir       string           // destination folder; created when missing
	Overwrite bool             // replace existing files, keeping each old one aside
	Sink      progress.Sink
	Now       func() time.Time
}

// Item is one file that was not simply restored.
type Item struct {
	File    string `json:"file"`
	Message string `json:"message"`
}

// Result is the outcome of a run.
type Result struct {
	Dir       string `json:"dir"`
	Restored  int    `json:"restored"`
	Bytes     int64  `json:"bytes"`
	Unchanged []Item `json:"unchanged"`  // already there with the right content
	Skipped   []Item `json:"skipped"`    // an existing file was kept (no --overwrite)
	KeptAside []Item `json:"kept_aside"` // with --overwrite: where each old file went
	Fallbacks []Item `json:"fallbacks"`  // a copy that failed before another one worked
	Failed    []Item `json:"failed"`     // not restored
}

// OK reports whether nothing failed.
func (r *Result) OK() bool { return len(r.Failed) == 0 }

// errFull stops the run: the destination has no room left.
var errFull = errors.New("no space left in the destination")

// Run restores o.Files into o.Dir. The error is for what stopped the run as
// a whole (the destination cannot be opened, cancelled); failures of
// single files are in the Result.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sink == nil {
		o.Sink = progress.Discard()
	}
	res := &Result{Dir: o.Dir, Unchanged: []Item{}, Skipped: []Item{}, KeptAside: []Item{}, Fallbacks: []Item{}, Failed: []Item{}}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("restore to %s: %w", o.Dir, err)
	}
	root, err := os.OpenRoot(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("restore to %s: %w", o.Dir, err)
	}
	defer root.Close()
	r := &runner{o: o, root: root, res: res, buf: make([]byte, 1<<20), dest: o.Dir,
		byID: map[string]Source{}, away: map[string]string{}}
	for _, s := range o.Sources {
		r.byID[s.Target.ID] = s
	}
	for _, t := range o.Away {
		r.away[t.ID] = t.Name
	}
	var total int64
	for _, f := range o.Files {
		total += f.Size
	}
	o.Sink.Emit(progress.Event{Kind: progress.Plan, Dest: r.dest, Files: len(o.Files), Bytes: total})
	for i, f := range o.Files {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		err := r.file(ctx, f)
		if errors.Is(err, errFull) {
			for _, rest := range o.Files[i+1:] {
				res.Failed = append(res.Failed, Item{File: rest.Path, Message: "not restored: the destination is full"})
			}
			break
		}
		if err != nil {
			return res, err
		}
	}
	return res, ctx.Err()
}

type runner struct {
	o    Options
	root *os.Root
	res  *Result
	buf  []byte
	dest string
	byID map[string]Source
	away map[string]string
}

func (r *runner) fail(f catalog.File, msg string) {
	r.res.Failed = append(r.res.Failed, Item{File: f.Path, Message: msg})
	r.o.Sink.Emit(progress.Event{Kind: progress.Problem, Dest: r.dest, File: f.Path, Err: msg})
}

// ValidPath reports whether a catalog path may be written below a folder:
// relative, clean, slash-separated, without "..", "." or empty segments.
func ValidPath(p string) bool {
	if p == "" || strings.ContainsRune(p, 0) || strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return filepath.IsLocal(filepath.FromSlash(p))
}

// file restores one file. It returns errFull (wrapped) when the run must
// stop, or the context's error; other failures are recorded.
func (r *runner) file(ctx context.Context, f catalog.File) error {
	if !ValidPath(f.Path) {
		r.fail(f, "refused: the catalog's path is not a safe relative path")
		return nil
	}
	name := filepath.FromSlash(f.Path)
	dir := filepath.Dir(name)
	if msg := r.checkParents(dir); msg != "" {
		r.fail(f, msg)
		return nil
	}
	exists := false
	if fi, err := r.root.Lstat(name); err == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			r.fail(f, fmt.Sprintf("refused: %s is a symbolic link; Trove does not write through links", r.show(name)))
			return nil
		case !fi.Mode().IsRegular():
			r.fail(f, fmt.Sprintf("refused: %s exists and is not a regular file", r.show(name)))
			return nil
		}
		if sum, err := r.hashExisting(name); err == nil && sum == f.Sum {
			r.res.Unchanged = append(r.res.Unchanged, Item{File: f.Path, Message: "already there with the same content"})
			r.o.Sink.Emit(progress.Event{Kind: progress.Verified, Dest: r.dest, File: f.Path, Bytes: f.Size})
			return nil
		}
		if !r.o.Overwrite {
			r.res.Skipped = append(r.res.Skipped, Item{File: f.Path, Message: "exists (use --overwrite)"})
			r.o.Sink.Emit(progress.Event{Kind: progress.Skipped, Dest: r.dest, File: f.Path, Message: "exists (use --overwrite)"})
			return nil
		}
		exists = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.fail(f, fmt.Sprintf("cannot check %s: %v", r.show(name), err))
		return nil
	}
	if err := r.root.MkdirAll(dir, 0o755); err != nil {
		if isFull(err) {
			r.fail(f, fmt.Sprintf("not restored: %s is full (%v)", r.dest, err))
			return errFull
		}
		r.fail(f, fmt.Sprintf("cannot create the folder %s: %v", r.show(dir), err))
		return nil
	}
	srcs := r.sources(f)
	if len(srcs) == 0 {
		r.fail(f, r.noCopy(f))
		return nil
	}
	var tried []string
	for _, s := range srcs {
		tmp, err := r.write(ctx, s, f, dir)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, errFull) {
				r.fail(f, fmt.Sprintf("not restored: %s is full (nothing half-written was left)", r.dest))
				return err
			}
			var de destError
			if errors.As(err, &de) {
				r.fail(f, fmt.Sprintf("not restored: %v", de.err))
				return nil
			}
			tried = append(tried, fmt.Sprintf("%s: %v", s.Target.Name, err))
			r.res.Fallbacks = append(r.res.Fallbacks, Item{File: f.Path, Message: fmt.Sprintf("copy on %s: %v", s.Target.Name, err)})
			r.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: r.dest,
				Message: fmt.Sprintf("%s: copy on %s failed (%v), trying the next one", f.Path, s.Target.Name, err)})
			continue
		}
		if err := r.publish(tmp, name, exists, f); err != nil {
			r.root.Remove(tmp)
			r.fail(f, fmt.Sprintf("not restored: %v", err))
			return nil
		}
		if f.LibMtimeNs > 0 {
			mt := time.Unix(0, f.LibMtimeNs)
			r.root.Chtimes(name, mt, mt) // best effort: the content is what matters
		}
		r.res.Restored++
		r.res.Bytes += f.Size
		r.o.Sink.Emit(progress.Event{Kind: progress.Verified, Dest: r.dest, File: f.Path, Bytes: f.Size})
		return nil
	}
	r.fail(f, "no copy could be read intact: "+strings.Join(tried, "; "))
	return nil
}

// show names a path inside the destination for messages.
func (r *runner) show(rel string) string { return filepath.Join(r.o.Dir, rel) }

// checkParents refuses a destination folder path that goes through a
// symbolic link or a file; it returns the message, or "" when fine.
func (r *runner) checkParents(dir string) string {
	if dir == "." {
		return ""
	}
	cur := ""
	for _, seg := range strings.Split(dir, string(filepath.Separator)) {
		cur = filepath.Join(cur, seg)
		fi, err := r.root.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return ""
		}
		if err != nil {
			return fmt.Sprintf("cannot check %s: %v", r.show(cur), err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			to, _ := r.root.Readlink(cur)
			return fmt.Sprintf("refused: %s is a symbolic link (to %s); Trove does not write through links", r.show(cur), to)
		}
		if !fi.IsDir() {
			return fmt.Sprintf("refused: %s is a file, not a folder", r.show(cur))
		}
	}
	return ""
}

func (r *runner) hashExisting(name string) (digest.Sum, error) {
	f, err := r.root.Open(name)
	if err != nil {
		return digest.Sum{}, err
	}
	defer f.Close()
	sum, _, err := digest.Reader(f, r.buf)
	return sum, err
}

// sources lists the copies of f that count, on attached sources, most
// recently verified first.
func (r *runner) sources(f catalog.File) []Source {
	cps, err := r.o.Catalog.Copies(f.ID)
	if err != nil {
		return nil
	}
	slices.SortStableFunc(cps, func(a, b catalog.Copy) int { return b.VerifiedAt.Compare(a.VerifiedAt) })
	var out []Source
	for _, cp := range cps {
		if s, ok := r.byID[cp.TargetID]; ok && cp.Counts(f) {
			out = append(out, s)
		}
	}
	return out
}

// noCopy explains why a file has no copy to restore from.
func (r *runner) noCopy(f catalog.File) string {
	var away, bad []string
	if cps, err := r.o.Catalog.Copies(f.ID); err == nil {
		for _, cp := range cps {
			if n, ok := r.away[cp.TargetID]; ok && cp.Counts(f) {
				away = append(away, n)
			}
			if s, ok := r.byID[cp.TargetID]; ok && cp.State != catalog.CopyOK {
				bad = append(bad, fmt.Sprintf("the copy on %s is %s", s.Target.Name, cp.State))
			}
		}
	}
	slices.SortFunc(away, cmp.Compare)
	var why []string
	if len(bad) > 0 {
		why = append(why, strings.Join(bad, ", "))
	}
	if len(away) > 0 {
		why = append(why, strings.Join(away, ", ")+" not attached")
	}
	if len(why) > 0 {
		return fmt.Sprintf("no verified copy on an attached target (%s)", strings.Join(why, "; "))
	}
	if !f.DeletedAt.IsZero() {
		return "no verified copy on an attached target (the file was deleted from the library; its old versions are in the targets' .trove/versions)"
	}
	return "no verified copy on an attached target"
}

// destError is a failure of the destination (not of the source copy): no
// other copy would do better.
type destError struct{ err error }

func (e destError) Error() string { return e.err.Error() }

// write streams the copy on s into a new temporary in dir, hashing on the
// way, and returns the temporary's name once it is synced, closed and its
// hash matched. Source failures are returned plainly (try the next copy);
// destination failures as destError or errFull.
func (r *runner) write(ctx context.Context, s Source, f catalog.File, dir string) (string, error) {
	rc, err := s.Store.Open(ctx, f.Path)
	if err != nil {
		return "", fmt.Errorf("cannot open: %w", err)
	}
	defer rc.Close()
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(filepath.FromSlash(f.Path))+".trove-restore-"+hex.EncodeToString(rnd[:]))
	out, err := r.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if isFull(err) {
			return "", errFull
		}
		return "", destError{fmt.Errorf("create a temporary in %s: %w", r.show(dir), err)}
	}
	h := digest.New()
	var werr, rerr error
	for {
		if err := ctx.Err(); err != nil {
			rerr = err
			break
		}
		n, err := rc.Read(r.buf)
		if n > 0 {
			h.Write(r.buf[:n])
			if _, err := out.Write(r.buf[:n]); err != nil {
				werr = err
				break
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	if werr == nil && rerr == nil {
		werr = out.Sync()
	}
	if cerr := out.Close(); werr == nil && rerr == nil {
		werr = cerr
	}
	if werr != nil || rerr != nil {
		r.root.Remove(tmp)
		switch {
		case werr != nil && isFull(werr):
			return "", errFull
		case werr != nil:
			return "", destError{fmt.Errorf("write %s: %w", r.show(filepath.FromSlash(f.Path)), werr)}
		}
		return "", fmt.Errorf("read error after %s bytes: %w", commas(h.Len()), rerr)
	}
	if got := h.Sum(); got != f.Sum {
		r.root.Remove(tmp)
		msg := fmt.Sprintf("content differs (found by restore: sha256 %s…, expected %s…)", got.String()[:12], f.Sum.String()[:12])
		if h.Len() != f.Size {
			msg = fmt.Sprintf("truncated or wrong size (found by restore: %s of %s bytes)", commas(h.Len()), commas(f.Size))
		}
		r.o.Catalog.SetCopyState(f.ID, s.Target.ID, catalog.CopyCorrupt, time.Time{}, msg)
		return "", errors.New(msg)
	}
	return tmp, nil
}

// publish gives the verified temporary its final name, never replacing
// anything: an existing file (with Overwrite) is first renamed aside.
func (r *runner) publish(tmp, name string, exists bool, f catalog.File) error {
	if exists {
		stamp := r.o.Now().Format("20060102T150405")
		aside := ""
		for n := 1; ; n++ {
			aside = name + ".trove-old-" + stamp
			if n > 1 {
				aside += fmt.Sprintf("-%d", n)
			}
			if _, err := r.root.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
				break
			}
		}
		if err := r.root.Rename(name, aside); err != nil {
			return fmt.Errorf("keep the existing %s aside: %w", r.show(name), err)
		}
		r.res.KeptAside = append(r.res.KeptAside, Item{File: f.Path, Message: r.show(aside)})
	}
	// Link fails rather than replace; where links are unsupported, check then rename.
	if err := r.root.Link(tmp, name); err == nil {
		r.root.Remove(tmp)
	} else if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s appeared meanwhile: left alone", r.show(name))
	} else {
		if _, err := r.root.Lstat(name); err == nil {
			return fmt.Errorf("%s appeared meanwhile: left alone", r.show(name))
		}
		if err := r.root.Rename(tmp, name); err != nil {
			return fmt.Errorf("publish %s: %w", r.show(name), err)
		}
	}
	d, err := r.root.Open(filepath.Dir(name))
	if err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func isFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
