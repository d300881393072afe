package main

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/schedule"
	"github.com/trove-backup/trove/internal/store/vault"
)

// resumableBlobs, fingerprintBlobs and bothBlobs are vault.Blobs over a
// folder with the optional abilities of the SFTP and rclone blobs.
type resumableBlobs struct {
	vault.DirBlobs
	got []byte
}

func (r *resumableBlobs) ResumeMin() int64 { return 1 }
func (r *resumableBlobs) PutResumable(ctx context.Context, key string, ra io.ReaderAt, size int64, up vault.Upload, save func(vault.Upload) error) error {
	r.got = make([]byte, size)
	n, err := ra.ReadAt(r.got, 0)
	if int64(n) != size || (err != nil && err != io.EOF) {
		return io.ErrShortBuffer
	}
	// Reading past the end says io.EOF, as a ReaderAt must.
	if _, err := ra.ReadAt(make([]byte, 4), size-2); err != io.EOF {
		return io.ErrNoProgress
	}
	return nil
}
func (r *resumableBlobs) Uploads(context.Context) ([]vault.Upload, error) { return nil, nil }
func (r *resumableBlobs) AbortUpload(context.Context, vault.Upload) error { return nil }

type fingerprintBlobs struct{ vault.DirBlobs }

func (fingerprintBlobs) Fingerprint(context.Context, string) (int64, string, error) {
	return 7, "md5:x", nil
}
func (fingerprintBlobs) ListFingerprints(ctx context.Context, prefix string, fn func(string, int64, string) error) error {
	return fn("data/aa/k", 7, "md5:x")
}

type bothBlobs struct {
	*resumableBlobs
	fingerprintBlobs
}

func (b bothBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return b.resumableBlobs.Put(ctx, key, r, size)
}
func (b bothBlobs) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return b.resumableBlobs.Get(ctx, key)
}
func (b bothBlobs) Stat(ctx context.Context, key string) (int64, error) {
	return b.resumableBlobs.Stat(ctx, key)
}
func (b bothBlobs) List(ctx context.Context, prefix string, fn func(string, int64) error) error {
	return b.resumableBlobs.List(ctx, prefix, fn)
}
func (b bothBlobs) Delete(ctx context.Context, key string) error {
	return b.resumableBlobs.Delete(ctx, key)
}

// A bandwidth limit must not hide what the wrapped blobs can do: resuming
// (SFTP) and the service's checksums (rclone).
func TestPaceKeepsAbilities(t *testing.T) {
	plan, err := schedule.ParseBandwidthPlan("1GiB/s")
	if err != nil {
		t.Fatal(err)
	}
	lim := schedule.NewLimiter(plan, time.Now, func(ctx context.Context, d time.Duration) error { return nil })
	dir := vault.DirBlobs{Dir: t.TempDir()}
	rb := &resumableBlobs{DirBlobs: dir}
	for _, c := range []struct {
		name                 string
		b                    vault.Blobs
		resumable, fingerprt bool
	}{
		{"plain", dir, false, false},
		{"resumable", rb, true, false},
		{"fingerprints", fingerprintBlobs{dir}, false, true},
		{"both", bothBlobs{rb, fingerprintBlobs{dir}}, true, true},
	} {
		p := pace(c.b, lim)
		r, isR := p.(vault.Resumable)
		f, isF := p.(vault.Fingerprinter)
		if isR != c.resumable || isF != c.fingerprt {
			t.Errorf("%s: paced blobs resumable=%v fingerprints=%v, want %v %v", c.name, isR, isF, c.resumable, c.fingerprt)
			continue
		}
		if isR {
			data := []byte("ciphertext bytes")
			if err := r.PutResumable(context.Background(), "data/aa/k", bytes.NewReader(data), int64(len(data)), vault.Upload{}, nil); err != nil {
				t.Errorf("%s: PutResumable through the limiter: %v", c.name, err)
			}
			if !bytes.Equal(rb.got, data) {
				t.Errorf("%s: resumable upload got %q", c.name, rb.got)
			}
		}
		if isF {
			if n, fp, err := f.Fingerprint(context.Background(), "data/aa/k"); n != 7 || fp != "md5:x" || err != nil {
				t.Errorf("%s: Fingerprint = %d %q %v", c.name, n, fp, err)
			}
		}
	}
}
