package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Upload is the state of one resumable upload: enough to find it on the
// server again and to cut the object into the same parts.
type Upload struct {
	Key      string    `json:"key"`       // blob key (below the Blobs' root)
	ID       string    `json:"upload_id"` // the server's upload ID ("" for none)
	PartSize int64     `json:"part_size"` // bytes per part (the last may be shorter)
	Started  time.Time `json:"started"`   // when the upload was created
}

// Resumable is a Blobs that can continue an interrupted upload of a large
// object from the parts already on the server (an S3 multipart upload).
// It is optional: the vault finds it by type assertion and uses it, when
// Options.SpoolDir is set, for content objects of at least ResumeMin
// bytes. A wrapper around a Blobs hides it unless it forwards it.
type Resumable interface {
	Blobs
	// ResumeMin is the smallest object worth a resumable upload (below it,
	// Put sends the object in one request).
	ResumeMin() int64
	// PutResumable uploads size bytes of r under key. up is an earlier
	// attempt at the same bytes (zero for none): when the server still
	// has that upload, every part already there whose size and MD5 match
	// r's bytes is kept and only the others are sent. Before the first
	// part of a new upload goes up, save receives its state; a failing
	// save aborts the upload. On success the object is visible whole and
	// the upload is finished; on failure the parts stay on the server for
	// the next attempt (AbortUpload drops them).
	PutResumable(ctx context.Context, key string, r io.ReaderAt, size int64, up Upload, save func(Upload) error) error
	// Uploads lists the unfinished uploads below the Blobs' root.
	Uploads(ctx context.Context) ([]Upload, error)
	// AbortUpload abandons an unfinished upload and deletes its parts; an
	// upload that is already gone is not an error.
	AbortUpload(ctx context.Context, up Upload) error
}

// DefaultSpoolMaxAge is how long a pending upload's spool is kept when
// Options.SpoolMaxAge is 0.
const DefaultSpoolMaxAge = 7 * 24 * time.Hour

// The spool holds, per content object whose resumable upload has not
// finished, its ciphertext (<hex>.age) and a record of the upload
// (<hex>.json); <hex> is the last segment of the content key. tmp-* files
// are objects being encrypted (Create before Commit).
const (
	spoolData   = ".age"
	spoolRecord = ".json"
	spoolTmp    = "tmp-"
	// spoolTmpAge is how old an abandoned tmp-* file must be before Attach
	// removes it (a live writer touches its file continuously).
	spoolTmpAge = time.Hour
)

// spoolRec is the JSON record beside a spool file.
type spoolRec struct {
	Key     string    `json:"key"`     // content key
	Size    int64     `json:"size"`    // ciphertext bytes
	Created time.Time `json:"created"` // when the spool file was made
	Upload  Upload    `json:"upload"`  // the server's upload (ID "" before it starts)
}

func (v *Vault) spooling() (Resumable, bool) {
	if v.opt.SpoolDir == "" {
		return nil, false
	}
	r, ok := v.b.(Resumable)
	return r, ok
}

// spoolPaths returns the spool file and record of a content key.
func (v *Vault) spoolPaths(key string) (data, rec string) {
	base := filepath.Join(v.opt.SpoolDir, path.Base(key))
	return base + spoolData, base + spoolRecord
}

// spoolTemp makes the named temporary file a large object is encrypted
// into (mode 0600, ciphertext only), so that Commit can keep it.
func (v *Vault) spoolTemp() (*os.File, error) {
	if err := os.MkdirAll(v.opt.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("upload spool: %w", err)
	}
	f, err := os.CreateTemp(v.opt.SpoolDir, spoolTmp+"*"+spoolData)
	if err != nil {
		return nil, fmt.Errorf("upload spool: %w", err)
	}
	return f, nil
}

func readRec(p string) (spoolRec, error) {
	var r spoolRec
	b, err := os.ReadFile(p)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("upload spool record %s: %w", filepath.Base(p), err)
	}
	return r, nil
}

// writeRec replaces a record durably (temporary file, fsync, rename,
// fsync of the folder).
func writeRec(p string, r spoolRec) error {
	b, _ := json.Marshal(r)
	f, err := os.CreateTemp(filepath.Dir(p), spoolTmp+"*"+spoolRecord)
	if err != nil {
		return fmt.Errorf("upload spool record: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err == nil {
		err = syncDir(filepath.Dir(p))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("upload spool record: %w", err)
	}
	return nil
}

// claimSpool makes the spool of key from the writer's temporary file f
// (size bytes of ciphertext), or, when a spool of an earlier attempt at
// the same content exists, returns that one instead (its ciphertext is
// what the server's parts hold) and removes f. The caller holds the
// key's upload lock.
func (v *Vault) claimSpool(key string, f *os.File, size int64) (*os.File, spoolRec, error) {
	dp, rp := v.spoolPaths(key)
	if rec, err := readRec(rp); err == nil && rec.Key == key {
		if old, err := os.Open(dp); err == nil {
			if fi, err := old.Stat(); err == nil && fi.Size() == rec.Size {
				f.Close()
				os.Remove(f.Name())
				return old, rec, nil
			}
			old.Close()
		}
	}
	// No usable earlier attempt: this ciphertext becomes the spool.
	if old, err := readRec(rp); err == nil && old.Upload.ID != "" {
		if r, ok := v.spooling(); ok {
			r.AbortUpload(context.Background(), old.Upload) // its parts hold other ciphertext
		}
	}
	rec := spoolRec{Key: key, Size: size, Created: v.opt.Now()}
	if err := writeRec(rp, rec); err != nil {
		return nil, rec, err
	}
	if err := f.Sync(); err != nil {
		return nil, rec, fmt.Errorf("upload spool: %w", err)
	}
	if err := os.Rename(f.Name(), dp); err != nil {
		return nil, rec, fmt.Errorf("upload spool: %w", err)
	}
	if err := syncDir(v.opt.SpoolDir); err != nil {
		return nil, rec, fmt.Errorf("upload spool: %w", err)
	}
	return f, rec, nil
}

// dropSpool removes key's spool file and record, and aborts the upload the
// record names (best effort: Attach aborts it later otherwise).
func (v *Vault) dropSpool(ctx context.Context, key string) {
	r, ok := v.spooling()
	if !ok {
		return
	}
	dp, rp := v.spoolPaths(key)
	if rec, err := readRec(rp); err == nil && rec.Upload.ID != "" {
		r.AbortUpload(context.WithoutCancel(ctx), rec.Upload)
	}
	os.Remove(rp)
	os.Remove(dp)
}

// putSpooled uploads a spooled object, continuing the upload its record
// names.
func (v *Vault) putSpooled(ctx context.Context, r Resumable, key string, f *os.File, rec *spoolRec) error {
	_, rp := v.spoolPaths(key)
	return r.PutResumable(ctx, key, f, rec.Size, rec.Upload, func(u Upload) error {
		nr := *rec
		nr.Upload = u
		if err := writeRec(rp, nr); err != nil {
			return err
		}
		*rec = nr
		return nil
	})
}

// tidySpool runs at Attach: it aborts every unfinished upload on the
// server that no live spool record names (a killed process's parts, an
// abandoned spool, an upload older than SpoolMaxAge), removes expired or
// incomplete spool entries, and abandoned temporary files. Failures are
// logged, not returned: a vault stays usable.
func (v *Vault) tidySpool(ctx context.Context) {
	r, ok := v.b.(Resumable)
	if !ok {
		return
	}
	now := v.opt.Now()
	live := map[string]bool{} // key + "\x00" + upload ID
	if v.opt.SpoolDir != "" {
		ents, err := os.ReadDir(v.opt.SpoolDir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			v.opt.Logf("upload spool %s: %v", v.opt.SpoolDir, err)
		}
		names := map[string]bool{}
		for _, e := range ents {
			names[e.Name()] = true
		}
		for _, e := range ents {
			n := e.Name()
			p := filepath.Join(v.opt.SpoolDir, n)
			fi, err := e.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			switch {
			case strings.HasPrefix(n, spoolTmp):
				if now.Sub(fi.ModTime()) > spoolTmpAge {
					os.Remove(p)
				}
			case strings.HasSuffix(n, spoolRecord):
				rec, err := readRec(p)
				base := strings.TrimSuffix(n, spoolRecord)
				if err != nil || path.Base(rec.Key) != base || !names[base+spoolData] || now.Sub(rec.Created) > v.opt.SpoolMaxAge {
					os.Remove(p)
					os.Remove(filepath.Join(v.opt.SpoolDir, base+spoolData))
					continue
				}
				if rec.Upload.ID != "" {
					live[rec.Upload.Key+"\x00"+rec.Upload.ID] = true
				}
			case strings.HasSuffix(n, spoolData):
				if !names[strings.TrimSuffix(n, spoolData)+spoolRecord] {
					os.Remove(p) // a spool without its record cannot be resumed
				}
			}
		}
	}
	ups, err := r.Uploads(ctx)
	if err != nil {
		v.opt.Logf("warning: %v", err)
		return
	}
	n := 0
	for _, u := range ups {
		if live[u.Key+"\x00"+u.ID] {
			continue
		}
		if err := r.AbortUpload(ctx, u); err != nil {
			v.opt.Logf("warning: %v", err)
			continue
		}
		n++
	}
	if n > 0 {
		v.opt.Logf("aborted %d unfinished upload(s) left by an interrupted run", n)
	}
}

// lockKey serialises uploads of one content key within the process (two
// names with the same content committed at once upload it once).
func (v *Vault) lockKey(ctx context.Context, key string) (unlock func(), err error) {
	for {
		v.mu.Lock()
		ch, busy := v.uploading[key]
		if !busy {
			ch = make(chan struct{})
			v.uploading[key] = ch
			v.mu.Unlock()
			return func() {
				v.mu.Lock()
				delete(v.uploading, key)
				v.mu.Unlock()
				close(ch)
			}, nil
		}
		v.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
