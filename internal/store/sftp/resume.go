package sftp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	pkgsftp "github.com/pkg/sftp"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/vault"
)

var _ vault.Resumable = (*Blobs)(nil)

const (
	// DefaultResumeMin is the smallest object a vault uploads resumably
	// to an SFTP server (Blobs.ResumeMin).
	DefaultResumeMin = 8 << 20
	// uploadsDir holds the temporaries of resumable uploads, below the
	// Blobs' root. Vault keys never start with ".", so it cannot collide
	// with one, and List never enters it.
	uploadsDir = metaDir + "/uploads"
	// resumeOverlap is how many bytes before the end of a resumed
	// temporary are sent again: pkg/sftp keeps up to 64 writes of 32 KiB
	// in flight, and a server that does not apply them in order may leave
	// a hole just below the end of a cut upload.
	resumeOverlap = 2 << 20
	// uploadRandLen is the hex length of an upload ID's random part.
	uploadRandLen = 24
)

// ResumeMin is the smallest object worth a resumable upload
// (DefaultResumeMin unless a test lowered it).
func (b *Blobs) ResumeMin() int64 {
	if b.resumeMin > 0 {
		return b.resumeMin
	}
	return DefaultResumeMin
}

// newUploadID makes the ID of a new resumable upload of key: 96 random
// bits (hex), ".", then the key in unpadded base64url, so that Uploads can
// tell which key a temporary belongs to. ok is false for a key too long to
// fit in a file name.
func newUploadID(key string) (id string, ok bool) {
	var r [uploadRandLen / 2]byte
	rand.Read(r[:])
	id = hex.EncodeToString(r[:]) + "." + base64.RawURLEncoding.EncodeToString([]byte(key))
	return id, len(id) <= 240
}

// uploadKey returns the key an upload ID names, or "" for an ID that is
// not one of ours (which is never used as a path).
func uploadKey(id string) string {
	rnd, enc, ok := strings.Cut(id, ".")
	if !ok || len(rnd) != uploadRandLen || len(id) > 240 {
		return ""
	}
	if _, err := hex.DecodeString(rnd); err != nil || strings.ToLower(rnd) != rnd {
		return ""
	}
	k, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || validBlobKey(string(k)) != nil {
		return ""
	}
	return string(k)
}

func uploadPath(id string) string { return uploadsDir + "/" + id }

// PutResumable uploads size bytes of r under key (see vault.Resumable).
//
// The bytes go to .trove/uploads/<ID> below the root, a name List never
// shows and that no key can take; up.ID is that name. When up names a
// temporary that is still on the server and not longer than size, the
// upload continues from its current size (less resumeOverlap, sent again
// in case the server applied the last writes out of order): its prefix is
// trusted without being read, because the vault reads the finished object
// back before it counts, and drops the upload when that fails. A
// temporary that is missing, longer than size or not a regular file is
// removed and the upload starts from its first byte.
//
// When the temporary is complete it is fsynced (Caps.Fsync) and renamed
// to key with a plain rename, which never replaces (see the package doc).
// Only when key is already taken — by the same content uploaded by
// another process, or by an object whose read-back failed — is the whole
// temporary read back and compared with r; then, and only when it matches
// byte for byte, it replaces key atomically with posix-rename@openssh.com
// (without that extension: remove, then rename; a crash in between leaves
// key absent, never partial). A temporary that does not match is removed
// and the error wraps store.ErrCorrupt: the next attempt starts from zero.
//
// On any other failure (connection cut, ctx done) the temporary stays for
// the next attempt; AbortUpload removes it. A key too long for an upload
// ID is sent with Put (not resumable, save is not called).
func (b *Blobs) PutResumable(ctx context.Context, key string, r io.ReaderAt, size int64, up vault.Upload, save func(vault.Upload) error) error {
	if err := b.begin(ctx, key); err != nil {
		return err
	}
	s := b.s
	var (
		f   *pkgsftp.File
		off int64
		err error
	)
	if up.ID != "" && up.Key == key && uploadKey(up.ID) == key {
		f, off, err = b.reopen(up.ID, size)
		if err != nil {
			return err
		}
	} else if up.ID != "" && uploadKey(up.ID) != "" {
		// Another key's or a malformed record: its temporary holds other bytes.
		b.AbortUpload(ctx, up)
	}
	if f == nil {
		id, ok := newUploadID(key)
		if !ok {
			return b.Put(ctx, key, io.NewSectionReader(r, 0, size), size)
		}
		if free, ok := s.freeSpace(); ok && size > 0 && uint64(size) > free {
			return fmt.Errorf("upload %s to %s: %d bytes, %d free: %w", key, s.label(), size, free, store.ErrFull)
		}
		if err := s.mkdirAll(uploadsDir); err != nil {
			return s.classify("upload "+key, err)
		}
		f, err = s.c.OpenFile(s.abs(uploadPath(id)), os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			return s.classify("upload "+key, err)
		}
		up = vault.Upload{Key: key, ID: id, Started: time.Now()}
		if err := save(up); err != nil {
			f.Close()
			b.AbortUpload(context.WithoutCancel(ctx), up)
			return fmt.Errorf("upload %s: %w", key, err)
		}
		off = 0
	}
	tmp := uploadPath(up.ID)
	err = b.send(ctx, f, r, off, size)
	f.Close()
	if err != nil {
		return s.classify(fmt.Sprintf("upload %s (from byte %d of %d; the next attempt continues it)", key, off, size), err)
	}
	if err := s.mkdirAll(path.Dir(key)); err != nil {
		return s.classify("upload "+key, err)
	}
	err = s.publish(tmp, key)
	if errors.Is(err, store.ErrExist) {
		err = b.replaceChecked(ctx, tmp, key, r, size)
	}
	if err != nil {
		return s.classify("upload "+key, err)
	}
	return nil
}

// reopen opens the temporary of upload id for writing, returning the
// offset to continue from, or a nil file when the upload must start again
// (the temporary is then gone).
func (b *Blobs) reopen(id string, size int64) (*pkgsftp.File, int64, error) {
	s := b.s
	p := s.abs(uploadPath(id))
	fi, err := s.c.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, s.classify("resume upload "+id, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > size {
		if err := s.c.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, 0, s.classify("remove unusable upload "+id, err)
		}
		return nil, 0, nil
	}
	f, err := s.c.OpenFile(p, os.O_WRONLY)
	if err != nil {
		return nil, 0, s.classify("resume upload "+id, err)
	}
	return f, max(0, fi.Size()-resumeOverlap), nil
}

// send writes r's bytes [off, size) to f at off, several writes in
// flight, and makes them durable.
func (b *Blobs) send(ctx context.Context, f *pkgsftp.File, r io.ReaderAt, off, size int64) error {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	n, err := f.ReadFromWithConcurrency(ctxReader{ctx, io.NewSectionReader(r, off, size-off)}, 0)
	if err == nil && n != size-off {
		err = fmt.Errorf("sent %d bytes, want %d", n, size-off)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && b.s.caps.Fsync {
		err = f.Sync()
	}
	return err
}

// replaceChecked publishes the temporary over an existing key, but only
// after reading it back and finding r's exact bytes in it.
func (b *Blobs) replaceChecked(ctx context.Context, tmp, key string, r io.ReaderAt, size int64) error {
	s := b.s
	got, n, err := s.readBack(ctx, tmp)
	if err != nil {
		return fmt.Errorf("read back the upload: %w", err)
	}
	want, wn, err := digest.Reader(io.NewSectionReader(r, 0, size), make([]byte, 1<<20))
	if err != nil {
		return fmt.Errorf("read the local copy: %w", err)
	}
	if got != want || n != wn {
		s.c.Remove(s.abs(tmp))
		return fmt.Errorf("the uploaded temporary (%d bytes) does not match what was sent (%d bytes); removed, the next attempt starts again: %w", n, wn, store.ErrCorrupt)
	}
	return b.replace(tmp, key)
}

// Uploads lists the unfinished resumable uploads (the temporaries in
// .trove/uploads). Started is the temporary's last modification: SFTP
// reports no creation time.
func (b *Blobs) Uploads(ctx context.Context) ([]vault.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := b.s.alive(); err != nil {
		return nil, err
	}
	ents, err := b.s.c.ReadDir(b.s.abs(uploadsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, b.s.classify("list unfinished uploads", err)
	}
	var ups []vault.Upload
	for _, fi := range ents {
		k := uploadKey(fi.Name())
		if k == "" || !fi.Mode().IsRegular() {
			continue
		}
		ups = append(ups, vault.Upload{Key: k, ID: fi.Name(), Started: fi.ModTime()})
	}
	slices.SortFunc(ups, func(x, y vault.Upload) int { return strings.Compare(x.Key+x.ID, y.Key+y.ID) })
	return ups, nil
}

// AbortUpload removes an unfinished upload's temporary; one already gone
// is not an error. An ID that is not one of ours is refused with
// store.ErrBadName (it is never used as a path).
func (b *Blobs) AbortUpload(ctx context.Context, up vault.Upload) error {
	if uploadKey(up.ID) == "" {
		return fmt.Errorf("abort upload %q: not an upload ID of this store: %w", up.ID, store.ErrBadName)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.s.alive(); err != nil {
		return err
	}
	if err := b.s.c.Remove(b.s.abs(uploadPath(up.ID))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return b.s.classify("abort upload of "+up.Key, err)
	}
	return nil
}
