package backup

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/media"
	"github.com/trove-backup/trove/internal/store"
)

// The library scan is a merge join of two streams in the same order (the
// byte order of library paths): the catalog's files (SQLite reads its
// UNIQUE path index in BINARY order) and the library walk (store.Walk's
// order). Both are produced concurrently and consumed as they come, so
// neither is held in memory whole: only the entries (which the target phase
// needs) grow with the library, and no map of paths is built.

// joinChunk is how many items travel together between the goroutines.
const joinChunk = 1024

// walkedFile is one file found by the library walk. Its strings are shared
// with its folder's other files (store.StatWalker).
type walkedFile struct {
	dir, base             string
	storedDir, storedBase string
	size, mtime           int64
}

func (w *walkedFile) name() string   { return joinName(w.dir, w.base) }
func (w *walkedFile) stored() string { return joinName(w.storedDir, w.storedBase) }

func joinName(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}

// cmpPath compares p with the name dir + "/" + base (base alone when dir is
// "") in byte order, without building the name.
func cmpPath(p, dir, base string) int {
	if dir != "" {
		n := min(len(p), len(dir))
		if c := strings.Compare(p[:n], dir[:n]); c != 0 {
			return c
		}
		if len(p) <= len(dir) {
			return -1 // p is dir itself or a prefix of it
		}
		if p[len(dir)] != '/' {
			return int(p[len(dir)]) - '/'
		}
		p = p[len(dir)+1:]
	}
	return strings.Compare(p, base)
}

// idxMsg is what the catalog reader sends the merge, in this order: the
// catalog's extent, entries (in path order), then the verified copies on
// the run's targets.
type idxMsg struct {
	count  int
	maxID  int64
	ents   []entry
	copies []copyRow
}

// copyRow is a verified copy on target t of file id, holding sum.
type copyRow struct {
	id  int64
	sum digest.Sum
	t   int
}

// join walks the library and reads the catalog's index at once, merging
// them: it fills r.entries (catalog files in path order, flagged fSeen and
// fReady when unchanged, with their targets' has bits) and returns the
// files to read (new, changed, back after a deletion).
func (r *runner) join(ctx context.Context) ([]*hashItem, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idxCh := make(chan idxMsg, 4)
	idxErr := make(chan error, 1)
	m := &merge{r: r, free: make(chan idxMsg, 4)}
	go func() {
		defer close(idxCh)
		idxErr <- r.readIndex(ctx, idxCh, m.free)
	}()
	walkCh := make(chan []walkedFile, 2)
	free := make(chan []walkedFile, 4)
	walkErr := make(chan error, 1)
	go func() {
		defer close(walkCh)
		walkErr <- r.walkLibrary(ctx, walkCh, free)
	}()

	sc := &r.res.Scan
	var work []*hashItem
	k := 0 // next catalog entry not yet matched
	var prevDir, prevBase string
	started := false
	walkRecv, idxRecv := (<-chan []walkedFile)(walkCh), (<-chan idxMsg)(idxCh)
	for walkRecv != nil || idxRecv != nil {
		// Take the catalog's messages as they come (the reader moves on to
		// the copies while the walk goes on), the walk's chunks in turn.
		var chunk []walkedFile
		select {
		case msg, ok := <-idxRecv:
			m.take(msg, ok)
			if m.closed {
				idxRecv = nil
			}
			continue
		case c, ok := <-walkRecv:
			if !ok {
				if err := <-walkErr; err != nil {
					return nil, err
				}
				walkRecv = nil
				continue
			}
			chunk = c
		}
		for i := range chunk {
			w := &chunk[i]
			// The merge relies on the walk's order: a walk out of order
			// would mark present files deleted. Never trust it blindly.
			if started {
				var c int
				if w.dir == prevDir {
					c = strings.Compare(prevBase, w.base)
				} else {
					c = cmpPath(joinName(prevDir, prevBase), w.dir, w.base)
				}
				if c >= 0 {
					return nil, fmt.Errorf("read the library %s: the walk listed %q after %q, out of order",
						r.o.LibraryDir, w.name(), joinName(prevDir, prevBase))
				}
			}
			started, prevDir, prevBase = true, w.dir, w.base
			sc.Files++
			sc.Bytes += w.size
			c := 1
			for {
				if k >= len(r.entries) && !m.wait(idxCh, k) {
					break
				}
				if m.closed {
					idxRecv = nil
				}
				if c = cmpPath(r.entries[k].path, w.dir, w.base); c >= 0 {
					break
				}
				k++ // in the catalog, not in the library (fSeen stays clear)
			}
			if c != 0 { // not in the catalog: new
				work = append(work, &hashItem{idx: -1, name: w.name(), stored: w.stored(), size: w.size,
					mtime: time.Unix(0, w.mtime)})
				continue
			}
			e := &r.entries[k]
			e.flags |= fSeen
			if w.storedBase != w.base || w.storedDir != w.dir {
				r.setStored(e.id, w.stored())
			}
			if e.flags&fDeleted == 0 && e.libSize == w.size && e.libMtime == w.mtime {
				e.flags |= fReady
				sc.Unchanged++
			} else {
				work = append(work, &hashItem{idx: int32(k), name: e.path, stored: r.storedName(e), size: w.size,
					mtime: time.Unix(0, w.mtime)})
			}
			k++
		}
		select {
		case free <- chunk[:0]:
		default:
		}
	}
	if err := <-idxErr; err != nil {
		return nil, err
	}
	return work, nil
}

// merge is the catalog side of the join: the entries received so far and
// where each file ID sits among them.
type merge struct {
	r        *runner
	closed   bool
	filesEnd bool // every entry has arrived
	// pos maps a file ID to its entry (dense IDs); posMap when sparse.
	pos    []int32
	posMap map[int64]int32
	// free takes the reader's chunks back once applied (less garbage).
	free chan idxMsg
}

// wait receives from the catalog reader until entry k exists; false when
// the catalog has no more entries.
func (m *merge) wait(idxCh <-chan idxMsg, k int) bool {
	for k >= len(m.r.entries) {
		if m.filesEnd || m.closed {
			return false
		}
		msg, ok := <-idxCh
		m.take(msg, ok)
	}
	return true
}

// take applies one message of the catalog reader.
func (m *merge) take(msg idxMsg, ok bool) {
	r := m.r
	switch {
	case !ok:
		m.closed, m.filesEnd = true, true
	case msg.ents != nil:
		for i := range msg.ents {
			k := int32(len(r.entries))
			if id := msg.ents[i].id; m.pos != nil && id >= 0 && id < int64(len(m.pos)) {
				m.pos[id] = k
			} else {
				if m.posMap == nil {
					m.posMap = make(map[int64]int32)
				}
				m.posMap[id] = k
			}
			r.entries = append(r.entries, msg.ents[i])
		}
		m.recycle(idxMsg{ents: msg.ents[:0]})
	case msg.copies != nil:
		m.filesEnd = true // copies follow the last entry
		for _, c := range msg.copies {
			k := int32(-1)
			if c.id >= 0 && c.id < int64(len(m.pos)) {
				k = m.pos[c.id]
			} else if p, ok := m.posMap[c.id]; ok {
				k = p
			}
			if k >= 0 && r.entries[k].sum == c.sum {
				r.entries[k].has |= 1 << c.t
			}
		}
		m.recycle(idxMsg{copies: msg.copies[:0]})
	default: // the extent comes first
		// Sized up front: growing by doubling briefly holds both arrays.
		r.entries = make([]entry, 0, msg.count)
		// File IDs are dense (SQLite rowids): an array indexed by ID is a
		// fraction of a map's size and needs no hashing; IDs beyond it
		// (sparse, or added meanwhile) go to a map.
		if msg.maxID <= 4*int64(msg.count)+1024 {
			m.pos = make([]int32, msg.maxID+1)
			for i := range m.pos {
				m.pos[i] = -1
			}
		}
	}
}

func (m *merge) recycle(msg idxMsg) {
	select {
	case m.free <- msg:
	default:
	}
}

// readIndex sends the catalog's extent, then its files in path order with
// the has bits of the run's targets, in chunks, then an empty copies
// message that marks the end of the entries (copies come as has bits:
// catalog.ReadBackupIndex, served from its cache on a run with nothing to
// do).
func (r *runner) readIndex(ctx context.Context, out chan<- idxMsg, free <-chan idxMsg) error {
	// reuse returns a chunk the merge is done with, or nil.
	reuse := func() (m idxMsg) {
		select {
		case m = <-free:
		default:
		}
		return m
	}
	send := func(m idxMsg) error {
		select {
		case out <- m:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ids := make([]string, len(r.o.Targets))
	for t, d := range r.o.Targets {
		ids[t] = d.Target.ID
	}
	chunk := make([]entry, 0, joinChunk)
	_, err := r.o.Catalog.ReadBackupIndex(ctx, ids, func(count int, maxID int64) error {
		return send(idxMsg{count: count, maxID: maxID})
	}, func(be *catalog.BackupEntry) error {
		e := entry{path: be.Path, id: be.ID, sum: be.Sum, libSize: be.LibSize, libMtime: be.LibMtimeNs, has: be.Has}
		if be.Deleted {
			e.flags |= fDeleted
		}
		chunk = append(chunk, e)
		if len(chunk) == joinChunk {
			err := send(idxMsg{ents: chunk})
			if chunk = reuse().ents; chunk == nil {
				chunk = make([]entry, 0, joinChunk)
			}
			return err
		}
		return nil
	})
	if err == nil && len(chunk) > 0 {
		err = send(idxMsg{ents: chunk})
	}
	if err != nil {
		return err
	}
	return send(idxMsg{copies: []copyRow{}})
}

// walkLibrary sends the library's files to back up, in the walk's order,
// in chunks (taken from free when it has one).
func (r *runner) walkLibrary(ctx context.Context, out chan<- []walkedFile, free chan []walkedFile) error {
	chunk := make([]walkedFile, 0, joinChunk)
	send := func() error {
		select {
		case out <- chunk:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case chunk = <-free:
		default:
			chunk = make([]walkedFile, 0, joinChunk)
		}
		return nil
	}
	// Whether a folder is clutter (.Trashes, @eaDir, ...) is decided once
	// per folder, not per file.
	lastDir, lastJunk := "\x00", false
	err := store.WalkStat(ctx, r.o.Library.Store, func(e *store.StatEntry) error {
		if e.Dir != lastDir {
			lastDir = e.Dir
			lastJunk = e.Dir != "" && media.IsJunk(e.Dir, true)
		}
		// Trove's README sits at the top only (e.Dir is "" and e.Base the
		// whole name when the store has no StatWalker).
		if lastJunk || (e.Dir == "" && skipLibrary(e.Base)) || (e.Dir != "" && junkFile(e.Base)) {
			return nil
		}
		chunk = append(chunk, walkedFile{dir: e.Dir, base: e.Base, storedDir: e.StoredDir, storedBase: e.StoredBase,
			size: e.Size, mtime: e.ModTimeNs})
		if len(chunk) == joinChunk {
			return send()
		}
		return nil
	})
	if err == nil && len(chunk) > 0 {
		err = send()
	}
	if err != nil {
		return fmt.Errorf("read the library %s: %w", r.o.LibraryDir, err)
	}
	return nil
}

// junkFile is media.IsJunk(base, false) for a base name. Common names are
// lowercased here, on the stack, which saves IsJunk's copy per file.
func junkFile(base string) bool {
	var buf [32]byte
	if len(base) > len(buf) {
		return media.IsJunk(base, false)
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if c >= utf8.RuneSelf {
			return media.IsJunk(base, false)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return media.IsJunk(string(buf[:len(base)]), false)
}
