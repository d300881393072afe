package s3

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/trove-backup/trove/internal/store/vault"
)

var _ vault.Resumable = (*Blobs)(nil)

// maxParts is S3's limit of parts per upload; minPartSize its smallest
// part but the last.
const (
	maxParts    = 10000
	minPartSize = 5 << 20
	partWorkers = 4
)

// ResumeMin is the part size: larger objects go multipart, and only those
// can be resumed.
func (b *Blobs) ResumeMin() int64 { return int64(b.partSize) }

// PutResumable uploads size bytes of r under key as a multipart upload
// (see vault.Resumable). A part already on the server is kept only when
// its size and ETag equal the size and MD5 of r's bytes for it; every
// part is sent with its Content-MD5, so the server refuses a damaged one.
// Up to 4 parts go up at once. When the answer to the final
// CompleteMultipartUpload is lost, an object of the right size under key
// counts as done (the vault reads it back before trusting it).
func (b *Blobs) PutResumable(ctx context.Context, key string, r io.ReaderAt, size int64, up vault.Upload, save func(vault.Upload) error) error {
	full := b.prefix + key
	core := minio.Core{Client: b.c}
	var have map[int]minio.ObjectPart
	if up.ID != "" && up.Key == key && up.PartSize >= minPartSize && partsOf(size, up.PartSize) <= maxParts {
		parts, err := b.listParts(ctx, full, up.ID)
		switch {
		case err == nil:
			have = parts
		case minio.ToErrorResponse(err).Code == "NoSuchUpload":
			up.ID = "" // aborted or expired on the server: start again
		default:
			return b.wrap("resume upload", key, err)
		}
	} else {
		up.ID = ""
	}
	if up.ID == "" {
		ps := int64(b.partSize)
		for partsOf(size, ps) > maxParts {
			ps *= 2
		}
		id, err := core.NewMultipartUpload(ctx, b.bucket, full, minio.PutObjectOptions{ContentType: "application/octet-stream"})
		if err != nil {
			return b.wrap("start upload", key, err)
		}
		up = vault.Upload{Key: key, ID: id, PartSize: ps, Started: time.Now()}
		if err := save(up); err != nil {
			b.AbortUpload(context.WithoutCancel(ctx), up)
			return fmt.Errorf("upload %s: %w", key, err)
		}
	}

	n := partsOf(size, up.PartSize)
	done := make([]minio.CompletePart, n)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	next := make(chan int)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(partWorkers, n) {
		wg.Go(func() {
			for i := range next {
				p, err := b.putPart(ctx, core, full, up, r, size, i, have[i])
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel()
					continue
				}
				done[i-1] = p
			}
		})
	}
feed:
	for i := 1; i <= n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return b.wrap("upload", key, errs[0])
	}
	if err := ctx.Err(); err != nil { // the caller's: ours is canceled only on errs
		return b.wrap("upload", key, err)
	}
	if _, err := core.CompleteMultipartUpload(ctx, b.bucket, full, up.ID, done, minio.PutObjectOptions{}); err != nil {
		// A retried Complete whose first answer was lost finds the
		// upload gone: the object is there.
		if got, serr := b.Stat(ctx, key); serr == nil && got == size {
			return nil
		}
		return b.wrap("finish upload", key, err)
	}
	return nil
}

func partsOf(size, ps int64) int {
	return int(max(1, (size+ps-1)/ps))
}

// putPart sends part i unless the server's copy of it (have) matches.
func (b *Blobs) putPart(ctx context.Context, core minio.Core, full string, up vault.Upload, r io.ReaderAt, size int64, i int, have minio.ObjectPart) (minio.CompletePart, error) {
	off := int64(i-1) * up.PartSize
	n := min(up.PartSize, size-off)
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, off, n)); err != nil {
		return minio.CompletePart{}, fmt.Errorf("read part %d: %w", i, err)
	}
	sum := h.Sum(nil)
	if have.PartNumber == i && have.Size == n && strings.EqualFold(strings.Trim(have.ETag, `"`), hex.EncodeToString(sum)) {
		return minio.CompletePart{PartNumber: i, ETag: have.ETag}, nil
	}
	p, err := core.PutObjectPart(ctx, b.bucket, full, up.ID, i, io.NewSectionReader(r, off, n), n,
		minio.PutObjectPartOptions{Md5Base64: base64.StdEncoding.EncodeToString(sum)})
	if err != nil {
		return minio.CompletePart{}, fmt.Errorf("part %d: %w", i, err)
	}
	return minio.CompletePart{PartNumber: i, ETag: p.ETag}, nil
}

// listParts returns the parts of an upload already on the server.
func (b *Blobs) listParts(ctx context.Context, full, id string) (map[int]minio.ObjectPart, error) {
	core := minio.Core{Client: b.c}
	parts := map[int]minio.ObjectPart{}
	marker := 0
	for {
		res, err := core.ListObjectParts(ctx, b.bucket, full, id, marker, 1000)
		if err != nil {
			return nil, err
		}
		for _, p := range res.ObjectParts {
			parts[p.PartNumber] = p
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			return parts, nil
		}
		marker = res.NextPartNumberMarker
	}
}

// Uploads lists the unfinished multipart uploads below the prefix.
func (b *Blobs) Uploads(ctx context.Context) ([]vault.Upload, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ups []vault.Upload
	for u := range b.c.ListIncompleteUploads(ctx, b.bucket, b.prefix, true) {
		if u.Err != nil {
			return nil, b.wrap("list unfinished uploads", "", u.Err)
		}
		ups = append(ups, vault.Upload{Key: strings.TrimPrefix(u.Key, b.prefix), ID: u.UploadID, Started: u.Initiated})
	}
	slices.SortFunc(ups, func(x, y vault.Upload) int { return strings.Compare(x.Key+x.ID, y.Key+y.ID) })
	return ups, nil
}

// AbortUpload abandons one multipart upload, deleting its parts.
func (b *Blobs) AbortUpload(ctx context.Context, up vault.Upload) error {
	err := minio.Core{Client: b.c}.AbortMultipartUpload(ctx, b.bucket, b.prefix+up.Key, up.ID)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return b.wrap("abort upload", up.Key, err)
	}
	return nil
}

// DefaultStallTimeout is Config.StallTimeout's default.
const DefaultStallTimeout = 2 * time.Minute

// transport is minio-go's default transport whose connections fail when
// neither a read nor a write makes progress for stall (a hung server, a
// dead network): a deadline pushed forward by every byte either way.
func transport(secure bool, stall time.Duration) (http.RoundTripper, error) {
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: min(30*time.Second, stall), KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: c, stall: stall}, nil
	}
	tr.ResponseHeaderTimeout = stall
	return tr, nil
}

type stallConn struct {
	net.Conn
	stall time.Duration
}

func (c *stallConn) Read(p []byte) (int, error) {
	c.Conn.SetDeadline(time.Now().Add(c.stall))
	return c.Conn.Read(p)
}

func (c *stallConn) Write(p []byte) (int, error) {
	c.Conn.SetDeadline(time.Now().Add(c.stall))
	return c.Conn.Write(p)
}

// pacedTransport passes request bodies through pace.
type pacedTransport struct {
	rt   http.RoundTripper
	pace func(ctx context.Context, r io.Reader) io.Reader
}

func (p pacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return p.rt.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Body = pacedBody{Reader: p.pace(req.Context(), req.Body), c: req.Body}
	return p.rt.RoundTrip(r)
}

type pacedBody struct {
	io.Reader
	c io.Closer
}

func (b pacedBody) Close() error { return b.c.Close() }
