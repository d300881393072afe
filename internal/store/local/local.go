// Package local stores copies in a folder: an external drive, a mounted NAS
// share, or the library itself.
//
// # Layout and identity
//
// A folder becomes a target with Prepare, which writes <root>/.trove/target.json
// (the Identity). Attach refuses a folder without it (ErrNotAttached: an
// unplugged drive leaves an empty mount point) or with another target's
// identity (ErrWrongTarget), records the device of the root, and takes an
// exclusive flock on .trove/lock for the run (ErrLocked when another Trove
// process holds it).
//
// # Writes
//
// Create writes to ".<base>.trove-tmp-<random>" in the final directory.
// Commit fsyncs and closes it, re-opens it, drops its page cache
// (posix_fadvise DONTNEED on Linux, F_NOCACHE on macOS), hashes what it reads
// back and compares with the expected sum, then publishes it without
// replacing anything (renameat2 RENAME_NOREPLACE on Linux, renameatx_np
// RENAME_EXCL on macOS; where the filesystem refuses those flags, as FUSE
// exFAT and FAT drivers do: link+unlink; where links are unsupported too: a
// check that the name is free followed by a rename. That last step is guarded
// against other Trove processes by the flock, but not against another program
// creating the same name in between). The directory is fsynced last. Every
// failure removes the temporary. Before publishing, Commit checks that the
// root path still sits on the recorded device and still holds the identity
// file: a drive pulled mid-run yields ErrNotAttached or ErrDeviceChanged,
// never a copy recorded on a detached filesystem.
//
// Temporaries left by a crash (kill -9, power loss) are removed the first
// time a Local creates a file in their directory: the flock guarantees no
// other Trove process is writing there.
//
// # Names
//
// Names are stored as given (NFC stays NFC). When the filesystem cannot hold
// some characters (Caps.RestrictedNames: FAT, exFAT, SMB shares), each
// segment is mapped reversibly:
//
//	: ? * " < > | \   ->  U+FF1A U+FF1F U+FF0A U+FF02 U+FF1C U+FF1E U+FF5C U+FF3C (full-width forms)
//	control 0x01-0x1F ->  U+2401-U+241F (control pictures)
//	trailing '.'      ->  U+FF0E (full-width full stop)
//	trailing ' '      ->  U+2420 (symbol for space)
//
// Walk and Info.Name give the library name back; Info.Stored and
// Receipt.Stored give the name on the drive. On such a target a name that
// already contains one of the mapped-to characters would be ambiguous and is
// refused with ErrBadName. On case-insensitive filesystems "a.jpg" and
// "A.jpg" are one object: the second Commit gets ErrExist.
//
// Every file operation goes through os.Root, so no symlink leads outside the
// target's root. Walk skips symlinks and other non-regular files.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trove-backup/trove/internal/store"
)

// IdentityFormat is the current format of target.json.
const IdentityFormat = 1

const (
	identityFile = metaDir + "/target.json"
	lockFile     = metaDir + "/lock"
)

// ErrLocked: another Trove process has the target attached.
var ErrLocked = errors.New("target is in use by another Trove process")

// Identity is what <root>/.trove/target.json says about the target.
type Identity struct {
	Format    int       `json:"format"`
	TargetID  string    `json:"target_id"`
	Name      string    `json:"name"`
	LibraryID string    `json:"library_id"`
	CreatedAt time.Time `json:"created_at"`
}

// Caps are the abilities of the filesystem under a target, probed at
// Prepare and Attach.
type Caps struct {
	// FSType is a best-effort name: "ext4", "exfat", "vfat", "tmpfs",
	// "fuseblk:exfat", "fuse.fusefat", ... (statfs and /proc/self/mountinfo
	// on Linux, f_fstypename on macOS, "" where unknown).
	FSType string
	// CaseInsensitive: "Aa" and "aA" name the same file.
	CaseInsensitive bool
	// RestrictedNames: names with : ? * " < > | \ or a trailing dot or space
	// cannot be created; names are then mapped (see package doc).
	RestrictedNames bool
	// MaxFileSize is the largest file the filesystem holds; 0 = no known
	// limit. FAT32: 4 GiB - 1.
	MaxFileSize int64
	// CoarseTime is the probed mtime granularity (0 = exact to the
	// nanosecond; exFAT/FAT 2s). Informational: Trove never uses target
	// mtimes for identity.
	CoarseTime time.Duration
}

// Local is an attached folder target. Its methods are safe for concurrent use.
type Local struct {
	dir  string // absolute root path
	id   Identity
	root *os.Root
	dev  uint64
	caps Caps
	lock *os.File

	mu      sync.Mutex
	cleaned map[string]bool     // stored dirs whose stale temporaries were removed
	live    map[string]struct{} // temporaries of open writers (stored names)
	closed  bool
}

var _ store.Store = (*Local)(nil)

// Prepare makes dir a Trove target (trove target add). dir must exist and be
// a directory. It writes .trove/target.json durably; it is idempotent for
// the same TargetID and refuses (ErrWrongTarget) when a different identity
// is already there. It probes and returns the filesystem's abilities.
func Prepare(dir string, id Identity) (Caps, error) {
	if id.TargetID == "" {
		return Caps{}, fmt.Errorf("prepare %s: empty target id", dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return Caps{}, fmt.Errorf("prepare %s: %w: %w", dir, store.ErrNotAttached, err)
	}
	if !fi.IsDir() {
		return Caps{}, fmt.Errorf("prepare %s: not a directory", dir)
	}
	old, err := ReadIdentity(dir)
	haveIdentity := err == nil
	switch {
	case err == nil && old.TargetID != id.TargetID:
		return Caps{}, fmt.Errorf("prepare %s: it already belongs to target %q (%s), not %q: %w", dir, old.Name, old.TargetID, id.TargetID, store.ErrWrongTarget)
	case err != nil && !errors.Is(err, store.ErrNotAttached):
		return Caps{}, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Caps{}, fmt.Errorf("prepare %s: %w", dir, err)
	}
	defer root.Close()
	if err := mkdirDurable(root, metaDir); err != nil {
		return Caps{}, fmt.Errorf("prepare %s: %w", dir, err)
	}
	if !haveIdentity {
		if id.Format == 0 {
			id.Format = IdentityFormat
		}
		if id.CreatedAt.IsZero() {
			id.CreatedAt = time.Now().UTC().Truncate(time.Second)
		}
		b, err := json.MarshalIndent(id, "", "  ")
		if err != nil {
			return Caps{}, fmt.Errorf("prepare %s: %w", dir, err)
		}
		if err := writeFileDurable(root, identityFile, append(b, '\n')); err != nil {
			return Caps{}, fmt.Errorf("prepare %s: write identity: %w", dir, err)
		}
	}
	caps, err := probeCaps(root, dir)
	if err != nil {
		return Caps{}, fmt.Errorf("prepare %s: %w", dir, err)
	}
	return caps, nil
}

// ReadIdentity reads dir's .trove/target.json. A missing dir or a missing
// identity yields ErrNotAttached.
func ReadIdentity(dir string) (Identity, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Identity{}, fmt.Errorf("%s is not attached: %w: %w", dir, store.ErrNotAttached, err)
	}
	defer root.Close()
	b, err := root.ReadFile(identityFile)
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, fmt.Errorf("%s has no %s (empty mount point?): %w", dir, identityFile, store.ErrNotAttached)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("read identity of %s: %w", dir, err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return Identity{}, fmt.Errorf("read identity of %s: %s is damaged: %w", dir, identityFile, err)
	}
	if id.Format < 1 || id.Format > IdentityFormat {
		return Identity{}, fmt.Errorf("read identity of %s: unsupported format %d (newer Trove?)", dir, id.Format)
	}
	if id.TargetID == "" {
		return Identity{}, fmt.Errorf("read identity of %s: no target id in %s", dir, identityFile)
	}
	return id, nil
}

// Attach opens the prepared target at dir for a run. See the package doc.
func Attach(dir, targetID string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", dir, err)
	}
	id, err := ReadIdentity(abs)
	if err != nil {
		if errors.Is(err, store.ErrNotAttached) {
			return nil, fmt.Errorf("%s is not attached: %w", targetID, err)
		}
		return nil, err
	}
	if id.TargetID != targetID {
		return nil, fmt.Errorf("attach %s: found target %q (%s) there, expected %s: %w", abs, id.Name, id.TargetID, targetID, store.ErrWrongTarget)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", abs, err)
	}
	l := &Local{dir: abs, id: id, root: root, cleaned: map[string]bool{}, live: map[string]struct{}{}}
	fail := func(err error) (*Local, error) {
		if l.lock != nil {
			l.lock.Close()
		}
		root.Close()
		return nil, err
	}
	fi, err := root.Stat(".")
	if err != nil {
		return fail(fmt.Errorf("attach %s: %w", abs, err))
	}
	if l.dev, err = devOf(fi); err != nil {
		return fail(fmt.Errorf("attach %s: %w", abs, err))
	}
	l.lock, err = root.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fail(fmt.Errorf("attach %s: open lock: %w", abs, err))
	}
	if err := lockFileNB(l.lock); err != nil {
		if errors.Is(err, ErrLocked) {
			return fail(fmt.Errorf("attach %s (%s): %w", l.label(), abs, err))
		}
		return fail(fmt.Errorf("attach %s: lock: %w", abs, err))
	}
	if l.caps, err = probeCaps(root, abs); err != nil {
		return fail(fmt.Errorf("attach %s: %w", abs, err))
	}
	return l, nil
}

// Close releases the lock and the root. It is safe to call twice.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := unlockFile(l.lock)
	err = errors.Join(err, l.lock.Close(), l.root.Close())
	if err != nil {
		return fmt.Errorf("close %s: %w", l.label(), err)
	}
	return nil
}

// Root returns the target's absolute root path.
func (l *Local) Root() string { return l.dir }

// Identity returns the identity read at Attach.
func (l *Local) Identity() Identity { return l.id }

// Caps returns the abilities probed at Attach.
func (l *Local) Caps() Caps { return l.caps }

// Device returns a stable string naming the root's filesystem ("dev:8:17"),
// for "same filesystem" checks.
func (l *Local) Device() string { return devString(l.dev) }

// Usage reports free (available to us) and total bytes of the filesystem.
func (l *Local) Usage() (free, total uint64, err error) {
	free, total, err = usage(l.dir)
	if err != nil {
		return 0, 0, fmt.Errorf("usage of %s: %w", l.label(), err)
	}
	return free, total, nil
}

// DeviceOf returns the Device string for any path (used to tell whether two
// folders share a filesystem).
func DeviceOf(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("device of %s: %w", p, err)
	}
	d, err := devOf(fi)
	if err != nil {
		return "", fmt.Errorf("device of %s: %w", p, err)
	}
	return devString(d), nil
}

// label names the target in messages.
func (l *Local) label() string {
	if l.id.Name != "" {
		return l.id.Name
	}
	return l.id.TargetID
}

// checkAttached checks, by path (not through the open root, which would keep
// seeing a lazily detached filesystem), that the root is still on the
// recorded device and still holds the identity file.
func (l *Local) checkAttached() error {
	fi, err := os.Stat(l.dir)
	if err != nil {
		return fmt.Errorf("%s vanished mid-run: %w: %w", l.label(), store.ErrNotAttached, err)
	}
	d, err := devOf(fi)
	if err != nil {
		return fmt.Errorf("check %s: %w", l.label(), err)
	}
	if d != l.dev {
		return fmt.Errorf("%s: %s is now on %s, was on %s (drive unplugged?): %w", l.label(), l.dir, devString(d), devString(l.dev), store.ErrDeviceChanged)
	}
	if _, err := os.Stat(filepath.Join(l.dir, filepath.FromSlash(identityFile))); err != nil {
		return fmt.Errorf("%s vanished mid-run: %s has no %s: %w: %w", l.label(), l.dir, identityFile, store.ErrNotAttached, err)
	}
	return nil
}

// randomSuffix returns 16 hex characters.
func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// mkdirDurable creates dir (a slash path inside root) and any missing
// parents, fsyncing the parent of every directory it creates.
func mkdirDurable(root *os.Root, dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	if fi, err := root.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: a file has that name", dir)
		}
		return nil
	}
	if err := mkdirDurable(root, path.Dir(dir)); err != nil {
		return err
	}
	err := root.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		return nil // created concurrently (or a case variant exists)
	}
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return syncDir(root, path.Dir(dir))
}

// syncDir fsyncs a directory inside root. Filesystems or platforms that
// cannot fsync a directory are tolerated.
func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s for fsync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !dirSyncUnsupported(err) {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// writeFileDurable writes name (replacing it) through a temporary, fsync,
// rename and directory fsync. Used for Trove's own metadata only.
func writeFileDurable(root *os.Root, name string, data []byte) error {
	tmp := path.Join(path.Dir(name), tmpBase(path.Base(name), randomSuffix()))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
		return err
	}
	return syncDir(root, path.Dir(name))
}

// Open reads an object with its page cache dropped first, so reads come
// from the device.
func (l *Local) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stored, err := l.encode(name)
	if err != nil {
		return nil, err
	}
	if _, err := l.statStored(name, stored); err != nil {
		return nil, err
	}
	f, err := l.root.Open(stored)
	if err != nil {
		return nil, l.classify("open "+name, err)
	}
	dropCache(f)
	return f, nil
}

// statStored lstat's a stored name and requires a regular file.
func (l *Local) statStored(name, stored string) (store.Info, error) {
	fi, err := l.root.Lstat(stored)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrInvalid) || (err == nil && !fi.Mode().IsRegular()) {
		return store.Info{}, fmt.Errorf("%s on %s: %w", name, l.label(), store.ErrNotExist)
	}
	if err != nil {
		return store.Info{}, l.classify("stat "+name, err)
	}
	return store.Info{Name: name, Stored: stored, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Stat describes one object, or returns ErrNotExist.
func (l *Local) Stat(ctx context.Context, name string) (store.Info, error) {
	if err := ctx.Err(); err != nil {
		return store.Info{}, err
	}
	stored, err := l.encode(name)
	if err != nil {
		return store.Info{}, err
	}
	return l.statStored(name, stored)
}

// Walk calls fn for every object whose library name starts with prefix (a
// plain string prefix, "" for all), in lexical (byte) order of the library
// names. It skips .trove, temporaries, symlinks and other non-regular files.
func (l *Local) Walk(ctx context.Context, prefix string, fn func(store.Info) error) error {
	if strings.HasPrefix(prefix, "/") || strings.ContainsRune(prefix, 0) {
		return fmt.Errorf("walk prefix %q: %w", prefix, store.ErrBadName)
	}
	startDir, startStored := "", "."
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		startDir = prefix[:i]
		s, err := l.encode(startDir)
		if err != nil {
			return fmt.Errorf("walk prefix %q: %w", prefix, err)
		}
		startStored = s
	}
	return l.walkDir(ctx, startDir, startStored, prefix, fn)
}

type walkEntry struct {
	name, stored string // library and stored names (full paths)
	key          string // sort key: base name, plus "/" for directories
	dir          bool
	ent          fs.DirEntry
}

func (l *Local) walkDir(ctx context.Context, dir, stored, prefix string, fn func(store.Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d, err := l.root.Open(stored)
	if errors.Is(err, fs.ErrNotExist) && dir != "" {
		return nil
	}
	if err != nil {
		return l.classify("walk "+dir, err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return l.classify("walk "+dir, err)
	}
	list := make([]walkEntry, 0, len(ents))
	for _, e := range ents {
		base := e.Name()
		if (dir == "" && base == metaDir) || isTemp(base) {
			continue
		}
		w := walkEntry{ent: e, dir: e.IsDir()}
		dec := l.decode(base)
		w.key = dec
		if w.dir {
			w.key += "/"
		}
		if dir == "" {
			w.name, w.stored = dec, base
		} else {
			w.name, w.stored = dir+"/"+dec, stored+"/"+base
		}
		list = append(list, w)
	}
	slices.SortFunc(list, func(a, b walkEntry) int { return strings.Compare(a.key, b.key) })
	for _, w := range list {
		if w.dir {
			// Descend only where names below could match the prefix.
			p := w.name + "/"
			if strings.HasPrefix(p, prefix) || strings.HasPrefix(prefix, p) {
				if err := l.walkDir(ctx, w.name, w.stored, prefix, fn); err != nil {
					return err
				}
			}
			continue
		}
		if !w.ent.Type().IsRegular() || !strings.HasPrefix(w.name, prefix) {
			continue
		}
		fi, err := w.ent.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while walking
		}
		if err != nil {
			return l.classify("walk "+w.name, err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := fn(store.Info{Name: w.name, Stored: w.stored, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Rename moves an object; it fails with ErrExist rather than replace.
func (l *Local) Rename(ctx context.Context, from, to string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sf, err := l.encode(from)
	if err != nil {
		return err
	}
	st, err := l.encode(to)
	if err != nil {
		return err
	}
	if _, err := l.statStored(from, sf); err != nil {
		return err
	}
	if err := l.checkAttached(); err != nil {
		return err
	}
	if err := mkdirDurable(l.root, path.Dir(st)); err != nil {
		return l.classify("rename "+from+" to "+to, err)
	}
	if err := l.publish(sf, st); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("rename %s to %s on %s: %w", from, to, l.label(), store.ErrExist)
		}
		return l.classify("rename "+from+" to "+to, err)
	}
	err = syncDir(l.root, path.Dir(st))
	if path.Dir(sf) != path.Dir(st) {
		err = errors.Join(err, syncDir(l.root, path.Dir(sf)))
	}
	if err != nil {
		return l.classify("rename "+from+" to "+to, err)
	}
	return nil
}

// Remove deletes one object (never a directory) and fsyncs its directory.
func (l *Local) Remove(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stored, err := l.encode(name)
	if err != nil {
		return err
	}
	if _, err := l.statStored(name, stored); err != nil {
		return err
	}
	if err := l.root.Remove(stored); err != nil {
		return l.classify("remove "+name, err)
	}
	if err := syncDir(l.root, path.Dir(stored)); err != nil {
		return l.classify("remove "+name, err)
	}
	return nil
}

// publish moves the stored name from to the stored name to without ever
// replacing an existing file; a taken name yields an error matching
// fs.ErrExist.
func (l *Local) publish(from, to string) error {
	err := renameNoReplace(l.root, from, to)
	if !errors.Is(err, errUnsupported) {
		return err
	}
	return l.publishFallback(from, to, true)
}

// publishFallback publishes with link+unlink (when tryLink), else with a
// check followed by a rename.
func (l *Local) publishFallback(from, to string, tryLink bool) error {
	if !tryLink {
		return l.checkThenRename(from, to)
	}
	err := l.root.Link(from, to)
	if err == nil {
		if err := l.root.Remove(from); err != nil {
			return fmt.Errorf("remove temporary after link: %w", err)
		}
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	// No hard links either (exFAT, FAT).
	return l.checkThenRename(from, to)
}

// checkThenRename renames unless to exists. The flock keeps other Trove
// processes out; another program could still create to in between, and
// would then be replaced.
func (l *Local) checkThenRename(from, to string) error {
	if _, err := l.root.Lstat(to); err == nil {
		return &fs.PathError{Op: "rename", Path: to, Err: fs.ErrExist}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return l.root.Rename(from, to)
}

// errUnsupported: the platform or filesystem has no atomic no-replace rename.
var errUnsupported = errors.New("no-replace rename unsupported")
