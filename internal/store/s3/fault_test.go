package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mrand "math/rand/v2"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/s3"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/store/vault"
)

const faultPass = "fault test passphrase"

// faultRig is a vault on the real server reached through a fault proxy.
type faultRig struct {
	cfg   s3.Config
	p     *proxy
	opt   vault.Options
	spool string
}

func newRig(t *testing.T) *faultRig {
	t.Helper()
	cfg := server(t)
	p := newProxy(t, cfg.Endpoint)
	cfg.Endpoint = p.URL
	cfg.PartSize = 5 << 20
	cfg.MaxRetries = 2 // bounded test time; production keeps minio-go's 10
	cfg.StallTimeout = 2 * time.Second
	cfg.KeepUploads = true
	spool := filepath.Join(t.TempDir(), "spool")
	r := &faultRig{cfg: cfg, p: p, spool: spool,
		opt: vault.Options{TempDir: t.TempDir(), SpoolDir: spool, Logf: t.Logf}}
	if err := vault.Init(context.Background(), open(t, cfg), faultPass, vault.Options{ScryptLogN: 10}); err != nil {
		t.Fatal(err)
	}
	return r
}

// attach is a new process's start: New, then Attach with the spool.
func (r *faultRig) attach(t *testing.T, opt vault.Options) (*s3.Blobs, *vault.Vault) {
	t.Helper()
	b := open(t, r.cfg)
	v, err := vault.Attach(context.Background(), b, faultPass, opt)
	if err != nil {
		t.Fatal(err)
	}
	return b, v
}

func seeded(n int, seed byte) []byte {
	b := make([]byte, n)
	mrand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// commit writes data under name and commits it; it returns the error and
// how many bytes went to the server meanwhile.
func (r *faultRig) commit(t *testing.T, v *vault.Vault, name string, data []byte, before func()) (int64, error) {
	t.Helper()
	ctx := context.Background()
	w, err := v.Create(ctx, name, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	start := r.p.up.Load()
	if before != nil {
		before()
	}
	_, err = w.Commit(ctx, storetest.Sum(data))
	return r.p.up.Load() - start, err
}

// spoolFiles lists the spool folder (names → mode).
func spoolFiles(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, _ := e.Info()
		out[e.Name()] = fi.Mode().Perm()
	}
	return out
}

func dataObjects(t *testing.T, b *s3.Blobs) []string {
	t.Helper()
	var keys []string
	if err := b.List(context.Background(), "data/", func(k string, _ int64) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func noUploads(t *testing.T, b *s3.Blobs, when string) {
	t.Helper()
	if left, err := b.Incomplete(context.Background()); err != nil || len(left) != 0 {
		t.Fatalf("%s: unfinished uploads %v, %v", when, left, err)
	}
}

// cutUpload commits data through a connection that the proxy cuts after
// cutAfter bytes of the upload, and checks the failure.
func (r *faultRig) cutUpload(t *testing.T, v *vault.Vault, name string, data []byte, cutAfter int64) int64 {
	t.Helper()
	sent, err := r.commit(t, v, name, data, func() { r.p.At(cutAfter, down) })
	if err == nil {
		t.Fatal("commit through a cut connection succeeded")
	}
	t.Logf("cut after %d bytes sent: %v", sent, err)
	if !errors.Is(err, store.ErrNotAttached) || !strings.Contains(err.Error(), "S3 server") {
		t.Fatalf("cut connection: %v, want an unreachable-server error wrapping store.ErrNotAttached", err)
	}
	if _, err := v.Stat(context.Background(), name); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("failed commit recorded in the index: %v", err)
	}
	r.p.Set(pass)
	return sent
}

// TestCutUploadResumes: the connection is cut in the middle of a
// multipart upload; the next run (a new process) sends only the parts the
// server lacks, and nothing is left behind.
func TestCutUploadResumes(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	b, v := r.attach(t, r.opt)
	data := seeded(32<<20, 7) // 36 MiB of ciphertext: 8 parts of 5 MiB
	const name = "2024/2024-06-01 Smith Wedding/clip.mov"
	sent1 := r.cutUpload(t, v, name, data, 27<<20)

	// The spool keeps the ciphertext and the upload's record, 0600.
	files := spoolFiles(t, r.spool)
	if len(files) != 2 {
		t.Fatalf("spool after the cut: %v, want one .age and one .json", files)
	}
	for n, m := range files {
		if m != 0o600 || !(strings.HasSuffix(n, ".age") || strings.HasSuffix(n, ".json")) {
			t.Fatalf("spool file %s mode %v", n, m)
		}
		if strings.HasSuffix(n, ".age") {
			raw, _ := os.ReadFile(filepath.Join(r.spool, n))
			if !bytes.HasPrefix(raw, []byte("age-encryption.org/v1\n")) || bytes.Contains(raw, data[:64]) {
				t.Fatalf("spool file %s is not age ciphertext", n)
			}
		}
	}
	if left, _ := b.Incomplete(ctx); len(left) != 1 {
		t.Fatalf("after the cut: unfinished uploads %v, want the one to resume", left)
	}

	// The next run: Attach keeps the upload the spool can continue.
	b2, v2 := r.attach(t, r.opt)
	if left, _ := b2.Incomplete(ctx); len(left) != 1 {
		t.Fatalf("Attach aborted the resumable upload: %v", left)
	}
	sent2, err := r.commit(t, v2, name, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	cipher := int64(36 << 20)
	t.Logf("first attempt sent %d bytes before the cut, the resumed one %d (ciphertext %d)", sent1, sent2, cipher)
	if sent2 > cipher-15<<20 {
		t.Fatalf("resumed upload sent %d bytes of %d: parts were not reused", sent2, cipher)
	}
	if sent1+sent2 < cipher {
		t.Fatalf("sent %d+%d < %d bytes of ciphertext: impossible count", sent1, sent2, cipher)
	}
	noUploads(t, b2, "after the resumed upload")
	if files := spoolFiles(t, r.spool); len(files) != 0 {
		t.Fatalf("spool after completion: %v", files)
	}
	if keys := dataObjects(t, b2); len(keys) != 1 {
		t.Fatalf("content objects %v, want 1", keys)
	}
	_, v3 := r.attach(t, vault.Options{TempDir: t.TempDir(), Logf: t.Logf})
	if got := storetest.Get(t, v3, name); !bytes.Equal(got, data) {
		t.Fatal("resumed object does not round-trip")
	}
}

// TestAbandonedUploadsAborted: an upload whose spool is gone, or older
// than SpoolMaxAge, is aborted at the next Attach; its spool is removed.
func TestAbandonedUploadsAborted(t *testing.T) {
	r := newRig(t)
	_, v := r.attach(t, r.opt)
	data := seeded(12<<20, 8)
	r.cutUpload(t, v, "a/old.mov", data, 6<<20)

	// Nine days later: too old to resume.
	late := r.opt
	late.Now = func() time.Time { return time.Now().Add(9 * 24 * time.Hour) }
	b, _ := r.attach(t, late)
	noUploads(t, b, "Attach after SpoolMaxAge")
	if files := spoolFiles(t, r.spool); len(files) != 0 {
		t.Fatalf("expired spool kept: %v", files)
	}

	// The spool is deleted (a new computer, a cleaned disk).
	_, v = r.attach(t, r.opt)
	r.cutUpload(t, v, "a/gone.mov", data, 6<<20)
	if left, _ := b.Incomplete(context.Background()); len(left) != 1 {
		t.Fatalf("unfinished uploads %v, want 1", left)
	}
	os.RemoveAll(r.spool)
	b, _ = r.attach(t, r.opt)
	noUploads(t, b, "Attach without the spool")

	// Without KeepUploads, New aborts them as before.
	_, v = r.attach(t, r.opt)
	r.cutUpload(t, v, "a/new.mov", data, 6<<20)
	cfg := r.cfg
	cfg.KeepUploads = false
	noUploads(t, open(t, cfg), "New without KeepUploads")
}

// lostAnswer drops the server's answers from the moment a request
// matching match starts: the server does the work, the client sees a cut.
type lostAnswer struct {
	p     *proxy
	match func(*http.Request) bool
	rt    http.RoundTripper
}

func (l *lostAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	if l.match(req) {
		l.p.Set(drop)
	}
	return l.rt.RoundTrip(req)
}

// TestLostAnswerNoDuplicate: the server stores an object but its answer
// is lost (for the last request of a multipart upload, and for a plain
// PUT). The commit fails without recording anything; the next commit finds
// the object, reads it back and records it without uploading it again.
func TestLostAnswerNoDuplicate(t *testing.T) {
	for _, c := range []struct {
		name  string
		size  int
		match func(*http.Request) bool
	}{
		{"multipart complete", 12 << 20, func(r *http.Request) bool {
			return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
		}},
		{"single put", 1 << 20, func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/data/")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			tr := http.DefaultTransport.(*http.Transport).Clone()
			r.cfg.Transport = &lostAnswer{p: r.p, match: c.match, rt: tr}
			t.Cleanup(tr.CloseIdleConnections)
			b, v := r.attach(t, r.opt)
			data := seeded(c.size, 9)
			const name = "2024/x/IMG_0001.CR3"
			sent1, err := r.commit(t, v, name, data, nil)
			t.Logf("lost answer after %d bytes: %v", sent1, err)
			if !errors.Is(err, store.ErrNotAttached) {
				t.Fatalf("lost answer: %v, want store.ErrNotAttached", err)
			}
			if _, err := v.Stat(ctx, name); !errors.Is(err, store.ErrNotExist) {
				t.Fatalf("failed commit recorded: %v", err)
			}
			r.p.Set(pass)
			r.cfg.Transport = nil
			b2, v2 := r.attach(t, r.opt)
			if keys := dataObjects(t, b2); len(keys) != 1 {
				t.Fatalf("content objects after the lost answer: %v, want the one the server stored", keys)
			}
			sent2, err := r.commit(t, v2, name, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sent2 > 256<<10 {
				t.Fatalf("second commit sent %d bytes: the content went up again", sent2)
			}
			if keys := dataObjects(t, b2); len(keys) != 1 {
				t.Fatalf("content objects %v, want 1", keys)
			}
			noUploads(t, b, "after the second commit")
			if files := spoolFiles(t, r.spool); len(files) != 0 {
				t.Fatalf("spool left: %v", files)
			}
			_, v3 := r.attach(t, r.opt)
			if got := storetest.Get(t, v3, name); !bytes.Equal(got, data) {
				t.Fatal("content does not round-trip")
			}
			if l := storetest.List(t, v3, ""); len(l) != 1 || l[0] != name {
				t.Fatalf("index %v", l)
			}
		})
	}
}

// TestHungServer: the server accepts connections and reads requests but
// never answers, in the middle of an upload. The commit fails within the
// stall timeout (times minio-go's tries), with a clear error, and leaves
// no goroutine behind.
func TestHungServer(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newRig(t)
	r.cfg.StallTimeout = 500 * time.Millisecond
	_, v := r.attach(t, r.opt)
	data := seeded(8<<20, 10)
	start := time.Now()
	_, err := r.commit(t, v, "hung/IMG_0001.CR3", data, func() { r.p.At(3<<20, hang) })
	took := time.Since(start)
	t.Logf("hung server: failed after %v: %v", took, err)
	if !errors.Is(err, store.ErrNotAttached) || !strings.Contains(err.Error(), "stopped answering") {
		t.Fatalf("hung server: %v, want a timeout wrapping store.ErrNotAttached", err)
	}
	if took > 10*time.Second {
		t.Fatalf("hung server took %v to fail", took)
	}
	r.p.Close()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after the test, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestPaceSeesEveryUpload: Config.Pace receives the bytes of plain and
// resumable uploads (the bandwidth limit), not local reads or downloads.
func TestPaceSeesEveryUpload(t *testing.T) {
	r := newRig(t)
	var paced atomic.Int64
	r.cfg.Pace = func(_ context.Context, rd io.Reader) io.Reader { return &countReader{r: rd, n: &paced} }
	_, v := r.attach(t, r.opt)
	big, small := seeded(12<<20, 11), seeded(100<<10, 12)
	storetest.Put(t, v, "p/big.mov", big)
	storetest.Put(t, v, "p/small.jpg", small)
	got := paced.Load()
	if got < int64(len(big)+len(small)) || got > int64(len(big)+len(small))*3/2 {
		t.Fatalf("paced %d bytes for %d bytes of content", got, len(big)+len(small))
	}
}

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}
