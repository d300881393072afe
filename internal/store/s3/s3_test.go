package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/s3"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/store/vault"
	"github.com/trove-backup/trove/internal/testenv"
)

// server returns the test server's config (a fresh prefix per call), or
// skips (fails in CI) when .ci/s3.sh did not run.
func server(t testing.TB) s3.Config {
	t.Helper()
	ep, bucket := os.Getenv("TROVE_TEST_S3_ENDPOINT"), os.Getenv("TROVE_TEST_S3_BUCKET")
	if ep == "" || bucket == "" {
		testenv.Skip(t, "no S3 server: source .ci/s3.sh (sets TROVE_TEST_S3_ENDPOINT, TROVE_TEST_S3_BUCKET)")
	}
	var r [6]byte
	rand.Read(r[:])
	return s3.Config{Endpoint: ep, Bucket: bucket, Prefix: "test-" + hex.EncodeToString(r[:]), Region: "us-east-1", Logf: t.Logf}
}

func open(t testing.TB, cfg s3.Config) *s3.Blobs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := s3.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBlobs(t *testing.T) {
	ctx := context.Background()
	b := open(t, server(t))
	if _, err := b.Stat(ctx, "none"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("stat missing: %v", err)
	}
	if _, err := b.Get(ctx, "none"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("get missing: %v", err)
	}
	for _, k := range []string{"index/2", "data/ab/x", "index/1", "vault.json"} {
		if err := b.Put(ctx, k, strings.NewReader("v:"+k), int64(len("v:"+k))); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := b.List(ctx, "index/", func(k string, n int64) error { got = append(got, fmt.Sprintf("%s %d", k, n)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[index/1 9 index/2 9]" {
		t.Fatalf("list = %v", got)
	}
	stop := errors.New("stop")
	if err := b.List(ctx, "", func(string, int64) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("list with fn error: %v", err)
	}
	rc, err := b.Get(ctx, "data/ab/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != "v:data/ab/x" {
		t.Fatalf("get = %q", body)
	}
	if n, err := b.Stat(ctx, "vault.json"); err != nil || n != 12 {
		t.Fatalf("stat = %d, %v", n, err)
	}
	if err := b.Put(ctx, "vault.json", strings.NewReader("new"), 3); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Stat(ctx, "vault.json"); n != 3 {
		t.Fatalf("replaced object has %d bytes", n)
	}
	if err := b.Delete(ctx, "index/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "index/1"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("stat deleted: %v", err)
	}
}

// newVault makes a vault on a fresh prefix of the test server.
func newVault(t testing.TB, cfg s3.Config) *vault.Vault {
	t.Helper()
	ctx := context.Background()
	b := open(t, cfg)
	if err := vault.Init(ctx, b, "s3 test passphrase", vault.Options{ScryptLogN: 10}); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Attach(ctx, b, "s3 test passphrase", vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVaultConformance(t *testing.T) {
	server(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newVault(t, server(t)) })
}

// counter counts multipart requests.
type counter struct {
	parts, creates, aborts atomic.Int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		c.creates.Add(1)
	case r.Method == http.MethodPut && q.Has("partNumber"):
		c.parts.Add(1)
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		c.aborts.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rng := mrand.NewChaCha8([32]byte{1})
	rng.Read(b)
	return b
}

func TestLargeObjectGoesMultipart(t *testing.T) {
	ctx := context.Background()
	cfg := server(t)
	c := &counter{}
	cfg.Transport, cfg.PartSize = c, 5<<20
	b := open(t, cfg)
	data := randomBytes(40 << 20)
	f := filepath.Join(t.TempDir(), "big")
	os.WriteFile(f, data, 0o600)
	fh, _ := os.Open(f)
	defer fh.Close()
	if err := b.Put(ctx, "data/big", fh, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if c.creates.Load() != 1 || c.parts.Load() != 8 {
		t.Fatalf("%d multipart uploads with %d parts, want 1 with 8", c.creates.Load(), c.parts.Load())
	}
	rc, err := b.Get(ctx, "data/big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sum, n, err := digestOf(rc)
	if err != nil || n != int64(len(data)) || sum != storetest.Sum(data) {
		t.Fatalf("read back %d bytes, %v", n, err)
	}
	// Through the vault, with the default part size: a 40 MiB photo
	// (a video, really) round-trips, padded and multipart.
	cfg2 := server(t)
	c2 := &counter{}
	cfg2.Transport = c2
	v := newVault(t, cfg2)
	r := storetest.Put(t, v, "video/clip.mov", data)
	if c2.creates.Load() != 1 || c2.parts.Load() < 3 {
		t.Fatalf("vault upload: %d multipart uploads, %d parts", c2.creates.Load(), c2.parts.Load())
	}
	if got := storetest.Get(t, v, "video/clip.mov"); !bytes.Equal(got, data) {
		t.Fatal("vault round trip of 40 MiB differs")
	}
	t.Logf("stored as %s, %d parts", r.Stored, c2.parts.Load())
}

func digestOf(r io.Reader) (digest.Sum, int64, error) {
	return digest.Reader(r, nil)
}

// cancelAfter cancels ctx once n bytes were read.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
	once   sync.Once
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n -= int64(k)
	if c.n <= 0 {
		c.once.Do(c.cancel)
	}
	return k, err
}

func TestInterruptedUploadLeavesNoParts(t *testing.T) {
	cfg := server(t)
	c := &counter{}
	cfg.PartSize, cfg.Transport = 5<<20, c
	b := open(t, cfg)
	data := randomBytes(30 << 20)

	// 1. The context is canceled mid-upload (the user pressed ^C, the
	// upload window closed).
	ctx, cancel := context.WithCancel(context.Background())
	err := b.Put(ctx, "data/cut", &cancelAfter{r: bytes.NewReader(data), n: 12 << 20, cancel: cancel}, int64(len(data)))
	if err == nil {
		t.Fatal("canceled upload succeeded")
	}
	t.Logf("canceled upload after %d parts: %v", c.parts.Load(), err)
	if c.creates.Load() != 1 || c.parts.Load() == 0 {
		t.Fatalf("not cut mid-multipart: %d uploads, %d parts", c.creates.Load(), c.parts.Load())
	}
	if left, err := b.Incomplete(context.Background()); err != nil || len(left) != 0 {
		t.Fatalf("after a canceled upload: incomplete %v, %v", left, err)
	}
	if _, err := b.Stat(context.Background(), "data/cut"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("half-uploaded object visible: %v", err)
	}

	// 2. The process was killed between parts: the parts stay on the
	// server until the next start aborts them.
	core, err := minio.NewCore(strings.TrimPrefix(cfg.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewEnvAWS(), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	key := strings.Trim(cfg.Prefix, "/") + "/data/killed"
	id, err := core.NewMultipartUpload(context.Background(), cfg.Bucket, key, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.PutObjectPart(context.Background(), cfg.Bucket, key, id, 1, bytes.NewReader(data[:5<<20]), 5<<20, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	if left, _ := b.Incomplete(context.Background()); len(left) != 1 {
		t.Fatalf("incomplete uploads before restart: %v, want the killed one", left)
	}
	var logs []string
	cfg.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	b2 := open(t, cfg) // the next start
	if left, err := b2.Incomplete(context.Background()); err != nil || len(left) != 0 {
		t.Fatalf("after restart: incomplete %v, %v", left, err)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "aborted 1 incomplete") {
		t.Fatalf("restart did not report the abort: %q", logs)
	}
}

func TestPlainHTTPRefused(t *testing.T) {
	for _, ep := range []string{"http://s3.example.com", "http://10.0.0.5:9000", "ftp://127.0.0.1", "https://h/path", "https://user:pw@h"} {
		_, err := s3.New(context.Background(), s3.Config{Endpoint: ep, Bucket: "b"})
		if err == nil {
			t.Errorf("%s accepted", ep)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: error shows the password: %v", ep, err)
		}
	}
	for _, ep := range []string{"http://127.0.0.1:9000", "http://[::1]:9000", "http://localhost:9000", "s3.example.com", "https://s3.example.com:444"} {
		if _, _, _, err := s3.ParseEndpoint(ep, false); err != nil {
			t.Errorf("%s refused: %v", ep, err)
		}
	}
	// The explicit opt-in is accepted and logged loudly.
	var logs []string
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s3.New(ctx, s3.Config{Endpoint: "http://192.0.2.1:9", Bucket: "b", AllowHTTP: true, AccessKeyID: "a", SecretAccessKey: "bbbb",
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if len(logs) == 0 || !strings.Contains(logs[0], "INSECURE") {
		t.Fatalf("opt-in http not logged: %q", logs)
	}
}

func TestBadSecretNotInError(t *testing.T) {
	cfg := server(t)
	const bad = "Wr0ngSecretThatMustNeverBeShown"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	t.Setenv("AWS_SECRET_ACCESS_KEY", bad)
	_, err := s3.New(ctx, cfg)
	if !errors.Is(err, s3.ErrAccessDenied) {
		t.Fatalf("wrong secret: %v, want ErrAccessDenied", err)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), bad) {
		t.Fatalf("error shows the secret: %v", err)
	}
	t.Logf("refused in %v: %v", time.Since(start), err)
	if time.Since(start) > 5*time.Second {
		t.Fatalf("wrong credentials took %v: retry storm?", time.Since(start))
	}
}

func TestCredentialsFromProfile(t *testing.T) {
	cfg := server(t)
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	f := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(f, []byte("[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n[trove]\naws_access_key_id = "+id+"\naws_secret_access_key = "+secret+"\n"), 0o600)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", f)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	cfg.Profile = "trove"
	b := open(t, cfg)
	if err := b.Put(context.Background(), "x", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	cfg.Profile = "default"
	if _, err := s3.New(context.Background(), cfg); !errors.Is(err, s3.ErrAccessDenied) {
		t.Fatalf("wrong profile: %v", err)
	}
}

// TestVaultHoldsOnlyCiphertext scans the server's backing directory after
// storing a real photo under a client's name.
func TestVaultHoldsOnlyCiphertext(t *testing.T) {
	cfg := server(t)
	dir := os.Getenv("TROVE_TEST_S3_DIR")
	if dir == "" {
		testenv.Skip(t, "TROVE_TEST_S3_DIR not set (by .ci/s3.sh)")
	}
	ctx := context.Background()
	v := newVault(t, cfg)
	photo, err := os.ReadFile("../../../testdata/photos/exiftool_GPS.jpg")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../../testdata/photos/exiftool_CanonRaw.cr2")
	if err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, v, "2024/2024-06-01 Smith Wedding/IMG_0001.JPG", photo)
	storetest.Put(t, v, "2024/2024-06-01 Smith Wedding/IMG_0002.CR2", raw)
	storetest.Put(t, v, "2024/2024-06-01 Smith Wedding copy/IMG_0001.JPG", photo) // dedup
	if err := v.WriteMeta(ctx, ".trove/MANIFEST.sha256", strings.NewReader(storetest.Sum(photo).String()+"  2024/2024-06-01 Smith Wedding/IMG_0001.JPG\n")); err != nil {
		t.Fatal(err)
	}
	w, err := vault.Attach(ctx, open(t, cfg), "s3 test passphrase", vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := storetest.Get(t, w, "2024/2024-06-01 Smith Wedding copy/IMG_0001.JPG"); !bytes.Equal(got, photo) {
		t.Fatal("photo does not round-trip after reattach")
	}
	sum := storetest.Sum(photo)
	needles := [][]byte{[]byte("Smith"), []byte("IMG_0001"), []byte("Wedding"), []byte("Ian Britton"), []byte("FinePixS1Pro"),
		[]byte("Canon"), []byte(sum.String()), sum[:], {0xff, 0xd8, 0xff}, []byte("II*\x00\x10\x00\x00\x00CR")}
	for off := 0; off+24 <= len(photo); off += 24 {
		needles = append(needles, photo[off:off+24])
	}
	root := filepath.Join(dir, cfg.Bucket, cfg.Prefix)
	files := 0
	dataObjects := 0
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		for _, n := range needles {
			if bytes.Contains([]byte(rel), n) {
				t.Errorf("server path %s reveals %q", rel, n)
			}
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		files++
		if strings.HasPrefix(filepath.ToSlash(rel), "data/") {
			dataObjects++
		}
		b, _ := os.ReadFile(p)
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("server file %s reveals %q", rel, n)
			}
		}
		return nil
	})
	if files < 6 || dataObjects != 2 {
		t.Fatalf("%d files, %d content objects on the server; want ≥6 and 2 (dedup)", files, dataObjects)
	}
	t.Logf("%d files on the server, %d content objects, no plaintext", files, dataObjects)
}

func TestWrongPassphraseOverS3(t *testing.T) {
	cfg := server(t)
	newVault(t, cfg)
	_, err := vault.Attach(context.Background(), open(t, cfg), "not the passphrase", vault.Options{})
	if !errors.Is(err, vault.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}
