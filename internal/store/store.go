// Package store defines the small contract every target kind keeps (folder
// drives and NAS mounts today; SFTP and S3 vaults later) and the errors
// callers can test for with errors.Is.
//
// Names passed to a Store are slash-separated, relative, NFC-normalised
// library paths such as "2024/2024-06-01 Smith Wedding/IMG_0001.CR3". A store
// may have to store a name differently (a FAT/exFAT drive cannot hold ":"):
// it maps names reversibly and reports the stored name in a Receipt, so the
// catalog records exactly where each copy is.
//
// Stores never import the catalog or policy packages.
package store

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/trove-backup/trove/internal/digest"
)

// Errors a Store returns, wrapped with context; test with errors.Is.
var (
	// ErrNotExist: no object under that name.
	ErrNotExist = errors.New("not found")
	// ErrExist: the final name is taken; nothing was overwritten.
	ErrExist = errors.New("already exists")
	// ErrNotAttached: the target's folder is missing, empty or has no
	// identity file (an unplugged drive, an empty mount point).
	ErrNotAttached = errors.New("target not attached")
	// ErrWrongTarget: a different Trove target (another drive) is at the path.
	ErrWrongTarget = errors.New("a different drive is at the target's path")
	// ErrDeviceChanged: the filesystem under the target changed during the run
	// (the drive was unplugged and the path now points elsewhere).
	ErrDeviceChanged = errors.New("target's device changed during the run")
	// ErrFull: no space left on the target.
	ErrFull = errors.New("target is full")
	// ErrTooLarge: the target's filesystem cannot hold a file this large
	// (FAT32's 4 GiB limit).
	ErrTooLarge = errors.New("file too large for the target's filesystem")
	// ErrCorrupt: a read-back did not match the expected hash.
	ErrCorrupt = errors.New("read-back does not match")
	// ErrBadName: the name is not a valid relative path.
	ErrBadName = errors.New("invalid name")
)

// Info describes one stored object.
type Info struct {
	Name    string    // library name (after reverse mapping)
	Stored  string    // name as stored on the target
	Size    int64     // bytes
	ModTime time.Time // as the target reports it (may be coarse)
}

// Receipt proves that a copy was written and read back from the device.
type Receipt struct {
	Stored     string     // name as stored on the target
	Sum        digest.Sum // hash of what was read back (equals the expected one)
	Size       int64      // bytes read back
	VerifiedAt time.Time  // when the read-back finished
}

// Store is one target's storage.
type Store interface {
	// Create starts writing a new object. Nothing is visible under name until
	// Commit succeeds; Abort (or a crash) leaves no final name behind. size is
	// the expected length, so a store can refuse early (ErrTooLarge, ErrFull).
	Create(ctx context.Context, name string, size int64) (Writer, error)
	// Open reads an object from the device, bypassing caches where the
	// platform allows; verification relies on this.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Stat describes one object, or returns ErrNotExist.
	Stat(ctx context.Context, name string) (Info, error)
	// Walk calls fn for every object below prefix ("" for all), skipping the
	// store's own metadata (.trove) and unfinished temporary files.
	Walk(ctx context.Context, prefix string, fn func(Info) error) error
	// Rename moves an object; it fails with ErrExist rather than replace.
	Rename(ctx context.Context, from, to string) error
	// Remove deletes one object. Only retention and repair call it, after the
	// policy allowed it.
	Remove(ctx context.Context, name string) error
}

// Writer receives one object's bytes.
type Writer interface {
	io.Writer
	// Commit makes the object durable (fsync), reads it back from the device
	// and compares with want, then publishes it under its final name without
	// replacing anything. It returns ErrCorrupt on a mismatch and ErrExist when
	// the name is taken (nothing is overwritten; the temporary is removed).
	Commit(ctx context.Context, want digest.Sum) (Receipt, error)
	// Abort discards the temporary object. Safe to call after Commit.
	Abort() error
}

// Preserver is a store that keeps old versions: instead of deleting or
// replacing an object, it moves it into a versions area that Walk does not
// list, and returns where it went.
type Preserver interface {
	Preserve(ctx context.Context, name string, at time.Time) (versionPath string, err error)
	// OpenVersion reads a kept version from the device.
	OpenVersion(ctx context.Context, versionPath string) (io.ReadCloser, error)
}

// MetaStore is a store with a place for Trove's own files beside the photos:
// the manifest, catalog snapshots, a README for humans. Names are "README.txt"
// or paths below ".trove/". Writes are durable and replace the old file.
type MetaStore interface {
	WriteMeta(ctx context.Context, name string, r io.Reader) error
	ReadMeta(ctx context.Context, name string) (io.ReadCloser, error)
}

// ServerChecker is a store whose backend keeps its own checksum of every
// object (S3's ETag, the hashes an rclone remote reports) that can be
// compared, without downloading anything, with the one recorded when the
// copy was written and read back. A match shows that the object is still
// there, whole (same size) and not replaced since that read-back, as far as
// the service's checksum tells; it does not re-read the bytes: rot inside
// the service is for the service to catch, and sampled downloads catch
// what it misses. verify runs it over every copy of such a target on every
// run, because a listing costs next to nothing.
type ServerChecker interface {
	// ServerCheck compares the objects behind names with what was recorded
	// when they were written, in one pass over the backend's listing (no
	// download). It calls fn once per name, in any order. The error is for
	// failures of the target as a whole (unreachable, cancelled).
	ServerCheck(ctx context.Context, names []string, fn func(ServerFinding) error) error
	// RecordProven tells the store that the copies under names were just
	// downloaded and matched their content: the backend's current
	// checksums become the ones to compare with (objects uploaded before
	// checksums were recorded get one; an object the service rewrote with
	// the same bytes gets its new one). One durable write for the batch.
	RecordProven(ctx context.Context, names []string) error
}

// ServerState is the outcome of a ServerCheck for one name.
type ServerState string

const (
	// ServerOK: the backend's checksum and size equal the recorded ones.
	ServerOK ServerState = "ok"
	// ServerMissing: no object behind the name on the backend (or the
	// name is not in the store's index).
	ServerMissing ServerState = "missing"
	// ServerChanged: the object's size or checksum differs from the one
	// recorded after its verified upload: truncated, replaced or damaged.
	ServerChanged ServerState = "changed"
	// ServerUnknown: nothing recorded to compare with (uploaded before
	// checksums were kept) or the backend reports no checksum for it;
	// only a download can check it.
	ServerUnknown ServerState = "unknown"
)

// ServerFinding is what a ServerCheck found for one name.
type ServerFinding struct {
	Name   string
	State  ServerState
	Detail string // for ServerChanged and ServerUnknown: what differs, in words
}

// RemoteHasher is a store whose server can hash an object's bytes itself
// (an SFTP server that runs sha256sum): the server re-reads the file from
// its disk and only the hash crosses the network. verify uses it instead
// of downloading a copy; the result counts as a re-read of the copy.
type RemoteHasher interface {
	// RemoteSum returns the SHA-256 and size of the object as the server
	// computed them now. It returns an error wrapping errors.ErrUnsupported
	// when the server cannot hash (no shell, no sha256sum): callers then
	// download. Other errors are as for Open (ErrNotExist when absent).
	RemoteSum(ctx context.Context, name string) (digest.Sum, int64, error)
}
