//go:build linux

package local

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/trove-backup/trove/internal/store"
)

var _ store.StatWalker = (*Local)(nil)

// prefetchDirs is how many folders are read ahead of the listing, each by
// a goroutine of its own: the reading (getdents, one fstatat per file) is
// syscall-bound, so it spreads over the CPUs while the caller consumes the
// folders in order.
const prefetchDirs = 2

// WalkStat lists every object like Walk(ctx, "", ...) does, reading each
// folder with getdents and stating its files with fstatat relative to the
// folder's descriptor (no path resolution per file). Folders are read a
// little ahead, in parallel; fn is called from one goroutine at a time, in
// order. It allocates a few times per folder, not per file: the folder's
// names share one string.
func (l *Local) WalkStat(ctx context.Context, fn func(*store.StatEntry) error) error {
	d, err := l.root.Open(".")
	if err != nil {
		return l.classify("walk", err)
	}
	defer d.Close()
	w := &statWalk{l: l, ctx: ctx, fn: fn, tokens: make(chan struct{}, prefetchDirs)}
	ls := w.read(int(d.Fd()), "")
	if ls.err != nil {
		return ls.err
	}
	return w.emit(ls, "", "")
}

type statWalk struct {
	l      *Local
	ctx    context.Context
	fn     func(*store.StatEntry) error
	tokens chan struct{} // one per folder being read ahead
	e      store.StatEntry
}

// dent is one folder entry: base names (library and stored), its type and,
// for a file, what fstatat said.
type dent struct {
	name, stored string
	size, mtime  int64
	err          error // fstatat failed (reported when the entry's turn comes)
	typ          uint8 // DT_* from getdents; DT_UNKNOWN resolved by fstatat
	gone         bool  // removed or not a regular file any more: skipped
}

// listing is one folder read: its descriptor (open until its entries are
// emitted) and its entries in order.
type listing struct {
	fd   int
	ents []dent
	err  error
}

// future is a folder being read ahead.
type future struct {
	done chan struct{}
	ls   listing
}

// dirKeyCompare orders entries as Walk does: by base name, with "/" after
// a folder's name, which is the byte order of the full library names.
func dirKeyCompare(a, b *dent) int {
	aDir, bDir := a.typ == unix.DT_DIR, b.typ == unix.DT_DIR
	if !aDir && !bDir {
		return strings.Compare(a.name, b.name)
	}
	an, bn := a.name, b.name
	n := min(len(an), len(bn))
	if c := strings.Compare(an[:n], bn[:n]); c != 0 {
		return c
	}
	next := func(s string, dir bool) int {
		switch {
		case len(s) > n:
			return int(s[n])
		case dir:
			return '/'
		}
		return -1
	}
	return next(an, aDir) - next(bn, bDir)
}

// read lists the folder open at fd (dir is its library name, for errors):
// its entries sorted, its files stated. It keeps fd.
func (w *statWalk) read(fd int, dir string) listing {
	ls := listing{fd: fd}
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	var arena []byte // base names, each followed by a NUL
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			ls.err = w.l.classify("walk "+dir, &os.PathError{Op: "getdents", Path: dir, Err: err})
			return ls
		}
		if n <= 0 {
			break
		}
		for off := 0; off < n; {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			typ := buf[off+18]
			name := buf[off+19 : off+reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			off += reclen
			base := unsafe.String(unsafe.SliceData(name), len(name)) // a view: compared only
			if base == "." || base == ".." || (dir == "" && base == metaDir) || isTemp(base) {
				continue
			}
			if typ != unix.DT_REG && typ != unix.DT_DIR && typ != unix.DT_UNKNOWN {
				continue // symlinks and other non-regular files
			}
			// nul offsets are kept in size until the names are cut.
			ls.ents = append(ls.ents, dent{typ: typ, size: int64(len(arena))})
			arena = append(arena, name...)
			arena = append(arena, 0)
		}
	}
	if len(ls.ents) == 0 {
		return ls
	}
	// The names share one string, a view of the arena, which is never
	// written again; its NULs make each name a C string for fstatat.
	all := unsafe.String(&arena[0], len(arena))
	for i := range ls.ents {
		e := &ls.ents[i]
		start := int(e.size)
		end := start
		for all[end] != 0 {
			end++
		}
		e.stored, e.size = all[start:end], 0
		e.name = w.l.decode(e.stored)
		if e.typ == unix.DT_DIR {
			continue
		}
		var st unix.Stat_t
		err := lstatAt(fd, &arena[start], e.stored, &st)
		switch {
		case errors.Is(err, unix.ENOENT):
			e.gone = true // removed while walking
		case err != nil:
			if e.typ == unix.DT_REG {
				e.err = w.l.classify("walk "+joinPath(dir, e.name), &os.PathError{Op: "fstatat", Path: e.stored, Err: err})
			} else {
				e.gone = true
			}
		case st.Mode&unix.S_IFMT == unix.S_IFDIR && e.typ == unix.DT_UNKNOWN:
			e.typ = unix.DT_DIR
		case st.Mode&unix.S_IFMT == unix.S_IFREG:
			e.typ = unix.DT_REG
			e.size, e.mtime = st.Size, int64(st.Mtim.Sec)*1e9+int64(st.Mtim.Nsec)
		default:
			e.gone = true // not a regular file
		}
	}
	slices.SortFunc(ls.ents, func(a, b dent) int { return dirKeyCompare(&a, &b) })
	return ls
}

// direntBufs holds getdents buffers.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// open opens and reads the sub-folder e of the folder open at fd. A folder
// removed or replaced by a symlink meanwhile gives fd -1 and no error.
func (w *statWalk) open(fd int, dir string, e *dent) listing {
	sfd, err := unix.Openat(fd, e.stored, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	name := joinPath(dir, e.name)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return listing{fd: -1} // removed, or not a folder of ours any more
	case err != nil:
		return listing{fd: -1, err: w.l.classify("walk "+name, &os.PathError{Op: "openat", Path: e.stored, Err: err})}
	}
	return w.read(sfd, name)
}

// emit calls fn for the files of a folder read (and closes it), descending
// into its sub-folders in order, reading them ahead.
func (w *statWalk) emit(ls listing, dir, stored string) (err error) {
	defer unix.Close(ls.fd)
	var subs []int // indexes of the sub-folders
	for i := range ls.ents {
		if ls.ents[i].typ == unix.DT_DIR {
			subs = append(subs, i)
		}
	}
	futures := make([]*future, len(subs))
	next, si := 0, 0 // next sub-folder to read ahead; next to emit
	ahead := func() {
		for next < len(subs) {
			select {
			case w.tokens <- struct{}{}:
			default:
				return
			}
			f := &future{done: make(chan struct{})}
			futures[next] = f
			e := &ls.ents[subs[next]]
			go func() {
				defer close(f.done)
				f.ls = w.open(ls.fd, dir, e)
			}()
			next++
		}
	}
	defer func() { // on an early return: wait for the folders read ahead, close them
		for ; si < next; si++ {
			f := futures[si]
			<-f.done
			<-w.tokens
			if f.ls.fd >= 0 {
				unix.Close(f.ls.fd)
			}
		}
	}()
	ahead()
	for i := range ls.ents {
		e := &ls.ents[i]
		if e.typ == unix.DT_DIR {
			var sub listing
			if si < next {
				f := futures[si]
				<-f.done
				<-w.tokens
				sub = f.ls
			} else {
				sub = w.open(ls.fd, dir, e)
				next = si + 1
			}
			si++
			if sub.err != nil {
				if sub.fd >= 0 {
					unix.Close(sub.fd)
				}
				return sub.err
			}
			if sub.fd < 0 {
				continue
			}
			if err := w.ctx.Err(); err != nil {
				unix.Close(sub.fd)
				return err
			}
			ahead()
			if err := w.emit(sub, joinPath(dir, e.name), joinPath(stored, e.stored)); err != nil {
				return err
			}
			continue
		}
		if e.gone {
			continue
		}
		if e.err != nil {
			return e.err
		}
		w.e = store.StatEntry{Dir: dir, Base: e.name, StoredDir: stored, StoredBase: e.stored, Size: e.size, ModTimeNs: e.mtime}
		if err := w.fn(&w.e); err != nil {
			return err
		}
	}
	return nil
}

func joinPath(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}
