package store

import "context"

// StatEntry is one object reported by a StatWalker: its library name is
// Dir + "/" + Base (Base alone when Dir is ""), its stored name StoredDir +
// "/" + StoredBase likewise.
type StatEntry struct {
	Dir, Base             string
	StoredDir, StoredBase string
	Size                  int64
	ModTimeNs             int64 // modification time, nanoseconds since the Unix epoch
}

// Name is the object's library name.
func (e *StatEntry) Name() string { return joinName(e.Dir, e.Base) }

// Stored is the object's name as stored.
func (e *StatEntry) Stored() string { return joinName(e.StoredDir, e.StoredBase) }

func joinName(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}

// StatWalker is an optional ability of a Store: a cheap listing of every
// object with its size and mtime, for scans of whole libraries (hundreds of
// thousands of files) that must cost about a directory walk.
type StatWalker interface {
	// WalkStat calls fn for every object, like Walk(ctx, "", ...): the same
	// objects, skipping the same ones, in the same order (byte order of the
	// library names). It allocates about once per folder, not per object:
	// the strings of a StatEntry are shared by its folder's entries.
	WalkStat(ctx context.Context, fn func(e *StatEntry) error) error
}

// WalkStat lists s's objects through its StatWalker when it has one, and
// through Walk otherwise.
func WalkStat(ctx context.Context, s Store, fn func(e *StatEntry) error) error {
	if w, ok := s.(StatWalker); ok {
		return w.WalkStat(ctx, fn)
	}
	return s.Walk(ctx, "", func(info Info) error {
		e := StatEntry{Base: info.Name, StoredBase: info.Stored, Size: info.Size, ModTimeNs: info.ModTime.UnixNano()}
		return fn(&e)
	})
}
