package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/s3"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/store/vault"
	"github.com/trove-backup/trove/internal/testenv"
)

// requests counts object downloads (and their bytes), HEADs and listings.
type requests struct {
	gets, getBytes, heads, lists atomic.Int64
}

func (c *requests) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	switch {
	case r.Method == http.MethodHead:
		c.heads.Add(1)
	case r.Method == http.MethodGet && r.URL.Query().Has("list-type"):
		c.lists.Add(1)
	case r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0:
		c.gets.Add(1)
		if err == nil {
			resp.Body = countingBody{resp.Body, &c.getBytes}
		}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	k, err := b.ReadCloser.Read(p)
	b.n.Add(int64(k))
	return k, err
}

func (c *requests) snap() [4]int64 {
	return [4]int64{c.gets.Load(), c.getBytes.Load(), c.heads.Load(), c.lists.Load()}
}

func findings(t *testing.T, v *vault.Vault, names ...string) map[string]store.ServerFinding {
	t.Helper()
	got := map[string]store.ServerFinding{}
	if err := v.ServerCheck(context.Background(), names, func(f store.ServerFinding) error {
		got[f.Name] = f
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(names) {
		t.Fatalf("%d findings for %d names", len(got), len(names))
	}
	return got
}

func expect(t *testing.T, got map[string]store.ServerFinding, name string, state store.ServerState, detail string) {
	t.Helper()
	if f := got[name]; f.State != state || !strings.Contains(f.Detail, detail) {
		t.Errorf("%s: %s (%s); want %s with %q", name, f.State, f.Detail, state, detail)
	}
}

// backing returns the file behind a vault's object in Versity's posix
// directory.
func backing(t *testing.T, cfg s3.Config, key string) string {
	t.Helper()
	dir := os.Getenv("TROVE_TEST_S3_DIR")
	if dir == "" {
		testenv.Skip(t, "TROVE_TEST_S3_DIR not set (by .ci/s3.sh)")
	}
	return filepath.Join(dir, cfg.Bucket, cfg.Prefix, filepath.FromSlash(key))
}

// TestServerCheckOverS3: ServerCheck compares the ETags and sizes that
// one listing reports with those recorded at upload, without a download,
// against the real S3 server, plain and multipart objects alike.
func TestServerCheckOverS3(t *testing.T) {
	ctx := context.Background()
	cfg := server(t)
	c := &requests{}
	cfg.Transport, cfg.PartSize = c, 5<<20
	v := newVault(t, cfg)
	raw := randomBytes(12 << 20) // multipart: 3 parts
	photo := randomBytes(300_000)
	rr := storetest.Put(t, v, "2024/Smith/clip.MOV", raw)
	rp := storetest.Put(t, v, "2024/Smith/IMG_1.JPG", photo)
	storetest.Put(t, v, "2024/Smith copy/IMG_1.JPG", photo) // dedup
	rx := storetest.Put(t, v, "2024/Smith/IMG_1.xmp", []byte("<x:xmpmeta/>"))
	names := []string{"2024/Smith/clip.MOV", "2024/Smith/IMG_1.JPG", "2024/Smith copy/IMG_1.JPG", "2024/Smith/IMG_1.xmp"}

	before := c.snap()
	got := findings(t, v, names...)
	after := c.snap()
	for _, n := range names {
		expect(t, got, n, store.ServerOK, "")
	}
	if gets, bytes, heads, lists := after[0]-before[0], after[1]-before[1], after[2]-before[2], after[3]-before[3]; gets != 0 || bytes != 0 || heads != 0 || lists != 1 {
		t.Fatalf("ServerCheck: %d downloads (%d bytes), %d HEADs, %d listings; want 0, 0, 0, 1", gets, bytes, heads, lists)
	}
	b := open(t, cfg)
	b.ListFingerprints(ctx, "data/", func(key string, size int64, fp string) error {
		t.Logf("%s %d %s", key[:12], size, fp)
		if !strings.HasPrefix(fp, "etag:") {
			t.Errorf("%s: fingerprint %q", key, fp)
		}
		return nil
	})
	if _, fp, err := b.Fingerprint(ctx, rr.Stored); err != nil || !strings.HasSuffix(fp, "-3") {
		t.Errorf("multipart object's fingerprint %q, %v; want a 3-part ETag", fp, err)
	}
	if _, _, err := b.Fingerprint(ctx, "data/no/such"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("fingerprint of a missing key: %v", err)
	}

	// On the server: the multipart object truncated on its disk, the
	// photo replaced through S3 with other bytes of the same size, the
	// sidecar deleted.
	pr := backing(t, cfg, rr.Stored)
	if err := os.Truncate(pr, 1234); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(backing(t, cfg, rp.Stored))
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(old)
	other[len(other)/2] ^= 1
	if err := b.Put(ctx, rp.Stored, bytes.NewReader(other), int64(len(other))); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, rx.Stored); err != nil {
		t.Fatal(err)
	}
	got = findings(t, v, names...)
	expect(t, got, "2024/Smith/clip.MOV", store.ServerChanged, "size 1,234 bytes on the server, ")
	expect(t, got, "2024/Smith/IMG_1.JPG", store.ServerChanged, "checksum changed")
	expect(t, got, "2024/Smith copy/IMG_1.JPG", store.ServerChanged, "checksum changed")
	expect(t, got, "2024/Smith/IMG_1.xmp", store.ServerMissing, "not on the server")
	for _, n := range names {
		t.Logf("%s: %s %s", n, got[n].State, got[n].Detail)
	}
}

// TestServerCheckLimitsOverS3 documents what an ETag does not prove: the
// server keeps it as metadata, so bytes that rot in place on its disk
// keep their ETag and size. Only a download catches them (and does).
func TestServerCheckLimitsOverS3(t *testing.T) {
	cfg := server(t)
	v := newVault(t, cfg)
	data := randomBytes(200_000)
	r := storetest.Put(t, v, "a.JPG", data)
	p := backing(t, cfg, r.Stored)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	f.ReadAt(one[:], 100_000)
	one[0] ^= 0x10
	f.WriteAt(one[:], 100_000)
	f.Close()
	expect(t, findings(t, v, "a.JPG"), "a.JPG", store.ServerOK, "")
	rc, err := v.Open(context.Background(), "a.JPG")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("download of a rotted object: %v, want ErrCorrupt", err)
	}
}

// hideFingerprints makes a Blobs look like one without checksums, as the
// vault saw every Blobs before it recorded them.
type hideFingerprints struct{ vault.Blobs }

// TestServerCheckOldVaultOverS3: copies recorded without ETags are
// unknown until a download proves them; RecordProven then records the
// ETags of the check's listing, with one index write and no request to
// the server besides it.
func TestServerCheckOldVaultOverS3(t *testing.T) {
	ctx := context.Background()
	cfg := server(t)
	b := open(t, cfg)
	if err := vault.Init(ctx, b, "s3 test passphrase", vault.Options{ScryptLogN: 10}); err != nil {
		t.Fatal(err)
	}
	old, err := vault.Attach(ctx, hideFingerprints{b}, "s3 test passphrase", vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a, x := randomBytes(100_000), []byte("sidecar")
	storetest.Put(t, old, "old/a.JPG", a)
	storetest.Put(t, old, "old/a.xmp", x)
	if err := old.ServerCheck(ctx, []string{"old/a.JPG"}, func(store.ServerFinding) error { return nil }); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("ServerCheck without fingerprints: %v, want ErrUnsupported", err)
	}

	c := &requests{}
	cfg.Transport = c
	v, err := vault.Attach(ctx, open(t, cfg), "s3 test passphrase", vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got := findings(t, v, "old/a.JPG", "old/a.xmp")
	expect(t, got, "old/a.JPG", store.ServerUnknown, "no checksum recorded")
	expect(t, got, "old/a.xmp", store.ServerUnknown, "no checksum recorded")
	if !bytes.Equal(storetest.Get(t, v, "old/a.JPG"), a) {
		t.Fatal("content differs")
	}
	before := c.snap()
	if err := v.RecordProven(ctx, []string{"old/a.JPG"}); err != nil {
		t.Fatal(err)
	}
	after := c.snap()
	if after != before {
		t.Errorf("RecordProven made requests besides its index write: before %v, after %v (gets, bytes, heads, lists)", before, after)
	}
	got = findings(t, v, "old/a.JPG", "old/a.xmp")
	expect(t, got, "old/a.JPG", store.ServerOK, "")
	expect(t, got, "old/a.xmp", store.ServerUnknown, "no checksum recorded")

	// Durable: a fresh attach sees the recorded ETag; new commits record
	// theirs at once (also a dedup hit of old content).
	w, err := vault.Attach(ctx, open(t, cfg), "s3 test passphrase", vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, w, "new/copy of a.xmp", x)
	got = findings(t, w, "old/a.JPG", "old/a.xmp", "new/copy of a.xmp")
	expect(t, got, "old/a.JPG", store.ServerOK, "")
	expect(t, got, "old/a.xmp", store.ServerOK, "")
	expect(t, got, "new/copy of a.xmp", store.ServerOK, "")
}
