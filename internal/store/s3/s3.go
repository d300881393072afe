// Package s3 keeps a vault's blobs in an S3-compatible bucket (AWS S3,
// Backblaze B2, Wasabi, Cloudflare R2, MinIO, Ceph, Versity) through
// minio-go. It implements vault.Blobs; encryption is the vault's job.
//
// Transport: https by default; plain http only to a loopback address or
// with Config.AllowHTTP, which is logged loudly. Credentials: Config's
// static keys (from a 0600 config file), else AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY, else the AWS shared credentials and config files
// (AWS_PROFILE or Config.Profile). They are never taken from argv and never
// appear in error messages.
//
// Uploads: objects larger than the part size go up as multipart uploads
// with a known size. Put aborts a failed upload (its parts deleted).
// PutResumable (vault.Resumable) keeps a failed upload's parts so that the
// next attempt, with the same bytes, sends only the missing parts; the
// vault keeps the ciphertext and the upload's ID in its spool for that.
// New aborts every incomplete multipart upload below the prefix, which a
// killed process may have left, unless Config.KeepUploads: then
// vault.Attach aborts those that its spool cannot resume.
//
// Checks: Fingerprint and ListFingerprints (vault.Fingerprinter) report
// the objects' ETags, so that a vault's ServerCheck needs a listing (a
// request per 1000 objects) and no download.
//
// Failures of the network (a refused or cut connection, a server that
// stops answering for Config.StallTimeout) wrap store.ErrNotAttached,
// after minio-go's retries.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/vault"
)

// ErrAccessDenied: the server refused the credentials or the request.
var ErrAccessDenied = errors.New("access denied by the S3 server")

// DefaultPartSize is the multipart part size when Config.PartSize is 0.
const DefaultPartSize = 16 << 20

// Config says where a vault's bucket is and how to reach it.
type Config struct {
	// Endpoint is "https://host[:port]", "host[:port]" (https) or
	// "http://host[:port]" (loopback only, unless AllowHTTP).
	Endpoint string
	Bucket   string
	// Prefix is the folder inside the bucket ("" for the bucket's root).
	Prefix string
	Region string
	// AllowHTTP permits plain http to a non-loopback host. Requests are
	// signed, and the vault's data is encrypted, but request metadata and
	// timing travel in the clear. It is logged on every New.
	AllowHTTP bool
	// AccessKeyID and SecretAccessKey, when set, come from Trove's 0600
	// config file; otherwise the environment, then the AWS files.
	AccessKeyID, SecretAccessKey string
	// Profile selects the AWS shared credentials profile ("" means
	// AWS_PROFILE, else "default").
	Profile string
	// PartSize is the multipart part size (DefaultPartSize when 0; S3's
	// minimum is 5 MiB). Uploads use up to 4 parts in parallel.
	PartSize uint64
	// Logf receives warnings (log.Printf when nil).
	Logf func(format string, args ...any)
	// Transport carries the requests (minio-go's default, with
	// StallTimeout, when nil): a bandwidth limiter, a proxy, a test's
	// request counter.
	Transport http.RoundTripper
	// StallTimeout fails a request when its connection makes no progress
	// either way (no byte sent or received) for this long, and when a
	// server takes this long to start answering: a hung server or a dead
	// network (DefaultStallTimeout when 0; only with the default
	// Transport).
	StallTimeout time.Duration
	// MaxRetries is how many times a failing request is tried (minio-go's
	// default, 10, when 0; with growing pauses of at most a second).
	MaxRetries int
	// Pace, when set, paces the bytes sent to the server (request bodies:
	// every upload, plain or resumable), e.g. a bandwidth limiter's
	// Reader. Pacing here rather than around the Blobs keeps local reads
	// (checking the parts of a resumed upload) at disk speed.
	Pace func(ctx context.Context, r io.Reader) io.Reader
	// KeepUploads leaves incomplete multipart uploads to the vault, whose
	// Attach aborts those it cannot resume (set it together with
	// vault.Options.SpoolDir); otherwise New aborts them all.
	KeepUploads bool
}

// Blobs is a bucket prefix. It is safe for concurrent use.
type Blobs struct {
	c        *minio.Client
	bucket   string
	prefix   string // "" or "dir/"
	partSize uint64
	secret   string // only to scrub it from error messages
	label    string // endpoint/bucket/prefix for messages
}

var (
	_ vault.Blobs         = (*Blobs)(nil)
	_ vault.Fingerprinter = (*Blobs)(nil)
)

// ParseEndpoint checks an endpoint URL and returns host[:port] and whether
// to use TLS. Plain http is refused unless the host is a loopback address
// or allowHTTP.
func ParseEndpoint(endpoint string, allowHTTP bool) (hostport string, secure, loopback bool, err error) {
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The message of a parse error quotes the URL: do not show it, it
		// may hold a password.
		return "", false, false, errors.New("S3 endpoint: not a URL; want https://HOST[:PORT]")
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", false, false, fmt.Errorf("S3 endpoint %s: want https://HOST[:PORT] with no path, user or query", u.Redacted())
	}
	h := u.Hostname()
	ip := net.ParseIP(h)
	loopback = h == "localhost" || (ip != nil && ip.IsLoopback())
	switch u.Scheme {
	case "https":
		return u.Host, true, loopback, nil
	case "http":
		if !loopback && !allowHTTP {
			return "", false, false, fmt.Errorf("S3 endpoint %s uses plain http to a non-loopback host: use https, or opt in explicitly to insecure http", u.Host)
		}
		return u.Host, false, loopback, nil
	default:
		return "", false, false, fmt.Errorf("S3 endpoint %s: scheme %q is not http or https", u.Redacted(), u.Scheme)
	}
}

// New connects to the bucket, checks that it exists and that the
// credentials work, and aborts incomplete multipart uploads below the
// prefix (unless cfg.KeepUploads).
func New(ctx context.Context, cfg Config) (*Blobs, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = log.Printf
	}
	host, secure, loopback, err := ParseEndpoint(cfg.Endpoint, cfg.AllowHTTP)
	if err != nil {
		return nil, err
	}
	if !secure && !loopback {
		logf("WARNING: INSECURE: S3 endpoint %s is plain http (allowed by configuration): anyone on the network sees which objects are read and written", host)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("S3 target: no bucket given")
	}
	var creds *credentials.Credentials
	secret := cfg.SecretAccessKey
	switch {
	case cfg.AccessKeyID != "" || cfg.SecretAccessKey != "":
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	default:
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{Profile: cfg.Profile},
		})
		if v, err := creds.GetWithContext(nil); err == nil {
			secret = v.SecretAccessKey
		}
	}
	tr := cfg.Transport
	if tr == nil {
		stall := cfg.StallTimeout
		if stall <= 0 {
			stall = DefaultStallTimeout
		}
		if tr, err = transport(secure, stall); err != nil {
			return nil, fmt.Errorf("S3 endpoint %s: %w", host, err)
		}
	}
	if cfg.Pace != nil {
		tr = pacedTransport{rt: tr, pace: cfg.Pace}
	}
	c, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: cfg.Region, Transport: tr, MaxRetries: cfg.MaxRetries})
	if err != nil {
		return nil, fmt.Errorf("S3 endpoint %s: %s", host, scrub(err.Error(), secret))
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	part := cfg.PartSize
	if part == 0 {
		part = DefaultPartSize
	}
	b := &Blobs{c: c, bucket: cfg.Bucket, prefix: prefix, partSize: part, secret: secret,
		label: host + "/" + cfg.Bucket + "/" + prefix}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, b.wrap("open bucket", "", err)
	}
	if !ok {
		// Some servers answer HEAD with 404 for refused credentials too;
		// a listing tells them apart.
		lctx, cancel := context.WithCancel(ctx)
		for o := range c.ListObjects(lctx, cfg.Bucket, minio.ListObjectsOptions{MaxKeys: 1, Prefix: prefix}) {
			if o.Err != nil {
				cancel()
				return nil, b.wrap("open bucket", "", o.Err)
			}
			break
		}
		cancel()
		return nil, fmt.Errorf("bucket %s on %s does not exist: %w", cfg.Bucket, host, store.ErrNotAttached)
	}
	if cfg.KeepUploads {
		return b, nil
	}
	if n, err := b.AbortIncomplete(ctx); err != nil {
		logf("warning: %v", err)
	} else if n > 0 {
		logf("aborted %d incomplete multipart upload(s) left by an interrupted run in %s", n, b.label)
	}
	return b, nil
}

// AbortIncomplete aborts every incomplete multipart upload below the
// prefix (deleting its parts) and returns how many it aborted. Call it
// only while no upload of this vault is running.
func (b *Blobs) AbortIncomplete(ctx context.Context) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := map[string]bool{}
	for u := range b.c.ListIncompleteUploads(ctx, b.bucket, b.prefix, true) {
		if u.Err != nil {
			return 0, b.wrap("list incomplete uploads", "", u.Err)
		}
		seen[u.Key] = true
	}
	n := 0
	for key := range seen {
		if err := b.c.RemoveIncompleteUpload(ctx, b.bucket, key); err != nil {
			return n, b.wrap("abort incomplete upload", key, err)
		}
		n++
	}
	return n, nil
}

// Incomplete lists the keys (relative to the prefix) with incomplete
// multipart uploads.
func (b *Blobs) Incomplete(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var keys []string
	for u := range b.c.ListIncompleteUploads(ctx, b.bucket, b.prefix, true) {
		if u.Err != nil {
			return nil, b.wrap("list incomplete uploads", "", u.Err)
		}
		keys = append(keys, strings.TrimPrefix(u.Key, b.prefix))
	}
	return keys, nil
}

// Put uploads size bytes from r; more than PartSize goes multipart. A
// failed upload is aborted so that no parts stay behind.
func (b *Blobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	full := b.prefix + key
	info, err := b.c.PutObject(ctx, b.bucket, full, r, size, minio.PutObjectOptions{
		PartSize:    b.partSize,
		ContentType: "application/octet-stream",
	})
	if err != nil {
		// minio-go aborts the failed multipart upload itself; make sure,
		// also when ctx was canceled.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		b.c.RemoveIncompleteUpload(actx, b.bucket, full)
		cancel()
		return b.wrap("upload", key, err)
	}
	if info.Size != size {
		return fmt.Errorf("upload %s to %s: server stored %d bytes, sent %d", key, b.label, info.Size, size)
	}
	return nil
}

// Get streams the object from the server.
func (b *Blobs) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := b.c.GetObject(ctx, b.bucket, b.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, b.wrap("download", key, err)
	}
	// GetObject is lazy: Stat sends the request, so a missing key or
	// refused credentials surface here.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, b.wrap("download", key, err)
	}
	return &reader{obj: obj, b: b, key: key}, nil
}

type reader struct {
	obj *minio.Object
	b   *Blobs
	key string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.obj.Read(p)
	if err != nil && err != io.EOF {
		err = r.b.wrap("download", r.key, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.obj.Close() }

// Stat returns the object's size.
func (b *Blobs) Stat(ctx context.Context, key string) (int64, error) {
	info, err := b.c.StatObject(ctx, b.bucket, b.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return 0, b.wrap("stat", key, err)
	}
	return info.Size, nil
}

// List lists keys below prefix in the server's order (byte order on S3).
func (b *Blobs) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	return b.list(ctx, prefix, func(o minio.ObjectInfo, key string) error { return fn(key, o.Size) })
}

// Fingerprint returns the object's size and ETag as "etag:<ETag>" ("" when
// the server sends none), from one HEAD request (see vault.Fingerprinter).
func (b *Blobs) Fingerprint(ctx context.Context, key string) (int64, string, error) {
	info, err := b.c.StatObject(ctx, b.bucket, b.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return 0, "", b.wrap("stat", key, err)
	}
	return info.Size, etagFingerprint(info.ETag), nil
}

// ListFingerprints lists keys below prefix with their sizes and ETags
// (see Fingerprint): a ListObjectsV2 request per 1000 objects, no
// download.
func (b *Blobs) ListFingerprints(ctx context.Context, prefix string, fn func(key string, size int64, fp string) error) error {
	return b.list(ctx, prefix, func(o minio.ObjectInfo, key string) error { return fn(key, o.Size, etagFingerprint(o.ETag)) })
}

// etagFingerprint turns an ETag into a vault fingerprint. An ETag is the
// MD5 of a plain upload's bytes, or of a multipart upload's part MD5s
// with "-<parts>" (other forms with server-side encryption under KMS or
// a customer key); in every case a new upload gets a new one.
func etagFingerprint(etag string) string {
	etag = strings.Trim(etag, `"`)
	if etag == "" {
		return ""
	}
	return "etag:" + etag
}

func (b *Blobs) list(ctx context.Context, prefix string, fn func(o minio.ObjectInfo, key string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's lister when fn fails
	for o := range b.c.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return b.wrap("list", prefix, o.Err)
		}
		if strings.HasSuffix(o.Key, "/") {
			continue // a folder marker some tools create
		}
		if err := fn(o, strings.TrimPrefix(o.Key, b.prefix)); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete removes the object. S3 reports success for a missing key too.
func (b *Blobs) Delete(ctx context.Context, key string) error {
	if err := b.c.RemoveObject(ctx, b.bucket, b.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		return b.wrap("delete", key, err)
	}
	return nil
}

// wrap maps an S3 error to the store's sentinels and makes sure the secret
// key never shows in the message.
func (b *Blobs) wrap(op, key string, err error) error {
	what := op + " " + b.label + key
	if errors.Is(err, context.Canceled) || isCtxDeadline(err) {
		return fmt.Errorf("%s: %w", what, err)
	}
	resp := minio.ToErrorResponse(err)
	msg := scrub(err.Error(), b.secret)
	switch resp.Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s: %w", what, store.ErrNotExist)
	case "NoSuchBucket":
		return fmt.Errorf("%s: bucket %s does not exist: %w", what, b.bucket, store.ErrNotAttached)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
		"XAdminUserNotFound": // Versity's answer to an unknown access key
		return fmt.Errorf("%s: %s (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the credentials file): %w", what, msg, ErrAccessDenied)
	case "QuotaExceeded", "StorageFull", "XMinioStorageFull":
		return fmt.Errorf("%s: %s: %w", what, msg, store.ErrFull)
	}
	if resp.StatusCode == 401 || resp.StatusCode == 403 {
		return fmt.Errorf("%s: %s: %w", what, msg, ErrAccessDenied)
	}
	if resp.StatusCode == 0 {
		if why := netFailure(err); why != "" {
			return fmt.Errorf("%s: %s (%s): %w", what, why, msg, store.ErrNotAttached)
		}
	}
	return &scrubbed{msg: what + ": " + msg, err: err, secret: b.secret}
}

// netFailure says how err is a failure to reach the server ("" when it
// is not one).
func netFailure(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "the S3 server stopped answering"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the S3 server refused the connection"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(err.Error(), "server closed idle connection"): // net/http's unexported errServerClosedIdle
		return "the connection to the S3 server was cut"
	case errors.As(err, new(*net.OpError)), errors.As(err, new(*net.DNSError)):
		return "the S3 server is unreachable"
	case minio.IsNetworkOrHostDown(err, false):
		return "the connection to the S3 server was lost"
	}
	return ""
}

// isCtxDeadline tells the caller's context running out from a network
// timeout (some of which also match context.DeadlineExceeded with
// errors.Is).
func isCtxDeadline(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err == context.DeadlineExceeded {
			return true
		}
	}
	return false
}

// scrubbed keeps the cause for errors.Is/As while its message is the
// scrubbed one.
type scrubbed struct {
	msg    string
	err    error
	secret string
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error {
	if s.secret != "" && strings.Contains(s.err.Error(), s.secret) {
		return nil // never hand out a message with the secret in it
	}
	return s.err
}

func scrub(msg, secret string) string {
	if len(secret) < 4 {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "[REDACTED]")
}
