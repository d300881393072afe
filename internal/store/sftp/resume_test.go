package sftp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mrand "math/rand/v2"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/store/vault"
)

func seeded(n int, seed byte) []byte {
	b := make([]byte, n)
	mrand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// resumeRig is a vault on the test sshd reached through a cutProxy, with
// an upload spool: every attach is a new process's start.
type resumeRig struct {
	direct *Blobs // on the same folder, without the proxy
	cfg    Config // through the proxy
	p      *cutProxy
	spool  string
	min    int64 // ResumeMin for the Blobs
}

func newResumeRig(t *testing.T) *resumeRig {
	t.Helper()
	b, cfg := newBlobs(t) // direct connection: init, cleanup
	p := newCutProxy(t, net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	host, port, _ := net.SplitHostPort(p.addr())
	pc := cfg
	pc.Host, pc.HostKeyAlias = host, net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	pc.Port, _ = strconv.Atoi(port)
	if err := vault.Init(context.Background(), b, blobPass, vault.Options{ScryptLogN: 10}); err != nil {
		t.Fatal(err)
	}
	return &resumeRig{direct: b, cfg: pc, p: p, spool: filepath.Join(t.TempDir(), "spool"), min: 1 << 20}
}

func (r *resumeRig) attach(t *testing.T) (*Blobs, *vault.Vault) {
	t.Helper()
	b, err := OpenBlobs(context.Background(), r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.resumeMin = r.min
	v, err := vault.Attach(context.Background(), b, blobPass, vault.Options{TempDir: t.TempDir(), SpoolDir: r.spool, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return b, v
}

// commit writes data under name and commits; it returns the error and the
// client→server bytes the proxy saw meanwhile.
func (r *resumeRig) commit(t *testing.T, v *vault.Vault, name string, data []byte, cutAfter int64) (int64, error) {
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
	start := r.p.sent.Load()
	if cutAfter > 0 {
		r.p.cutAfter(cutAfter)
	}
	_, err = w.Commit(ctx, storetest.Sum(data))
	sent := r.p.sent.Load() - start
	r.p.limit.Store(0)
	return sent, err
}

// uploadsOnServer lists .trove/uploads (names → size) over a direct
// connection.
func uploadsOnServer(t *testing.T, b *Blobs) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	ents, err := b.s.c.ReadDir(b.s.abs(uploadsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, fi := range ents {
		out[fi.Name()] = fi.Size()
	}
	return out
}

// cut commits data through a connection cut after n bytes and checks
// that the temporary stays for the next attempt.
func (r *resumeRig) cut(t *testing.T, direct *Blobs, name string, data []byte, n int64) (sent int64, tmpSize int64) {
	t.Helper()
	_, v := r.attach(t)
	sent, err := r.commit(t, v, name, data, n)
	if !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("commit through a cut connection: %v, want ErrNotAttached", err)
	}
	ups := uploadsOnServer(t, direct)
	if len(ups) != 1 {
		t.Fatalf("after the cut: temporaries %v, want one", ups)
	}
	for _, size := range ups {
		tmpSize = size
	}
	if tmpSize == 0 || tmpSize >= int64(len(data)) {
		t.Fatalf("temporary holds %d of %d bytes after the cut", tmpSize, len(data))
	}
	return sent, tmpSize
}

// TestCutUploadResumes: the connection is cut in the middle of a large
// object; the next run sends only what the server lacks, and the object
// round-trips.
func TestCutUploadResumes(t *testing.T) {
	r := newResumeRig(t)
	direct := r.direct
	data := seeded(16<<20, 1)
	const name = "2024/2024-06-01 Smith Wedding/clip.mov"
	sent1, have := r.cut(t, direct, name, data, 10<<20)

	b, v := r.attach(t) // Attach keeps the upload the spool names
	if ups, err := b.Uploads(context.Background()); err != nil || len(ups) != 1 {
		t.Fatalf("Uploads after Attach: %v, %v; want the pending one", ups, err)
	}
	sent2, err := r.commit(t, v, name, data, 0)
	if err != nil {
		t.Fatal(err)
	}
	var cipher int64 // the padded ciphertext: 18 MiB
	if err := direct.List(context.Background(), "data/", func(_ string, size int64) error { cipher = size; return nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("cut after %d bytes sent (%d in the temporary); the resumed attempt sent %d; object %d", sent1, have, sent2, cipher)
	if sent2 >= cipher || sent2 > cipher-have+resumeOverlap+1<<20 {
		t.Fatalf("resumed upload sent %d bytes of %d (%d were on the server): not resumed", sent2, cipher, have)
	}
	if ups := uploadsOnServer(t, direct); len(ups) != 0 {
		t.Fatalf("temporaries after completion: %v", ups)
	}
	if got := storetest.Get(t, v, name); !bytes.Equal(got, data) {
		t.Fatal("resumed object does not round-trip")
	}
	_, v2 := r.attach(t)
	if got := storetest.Get(t, v2, name); !bytes.Equal(got, data) {
		t.Fatal("resumed object does not round-trip in the next run")
	}
}

// TestCorruptTemporaryRestarts: a byte of the interrupted upload's
// temporary is damaged on the server. The resumed upload publishes it,
// the vault's read-back refuses it, and the next attempt starts from zero,
// replaces the damaged object and succeeds.
func TestCorruptTemporaryRestarts(t *testing.T) {
	r := newResumeRig(t)
	direct := r.direct
	data := seeded(8<<20, 2)
	const name = "a/damaged.mov"
	_, have := r.cut(t, direct, name, data, 5<<20)
	for id := range uploadsOnServer(t, direct) {
		f, err := direct.s.c.OpenFile(direct.s.abs(uploadPath(id)), os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		f.ReadAt(b[:], 1000)
		b[0] ^= 0x40
		f.WriteAt(b[:], 1000)
		f.Close()
	}
	_, v := r.attach(t)
	sent, err := r.commit(t, v, name, data, 0)
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("resumed upload of a damaged temporary: %v, want ErrCorrupt from the read-back", err)
	}
	if sent >= int64(len(data)) {
		t.Fatalf("sent %d: the damaged upload was not resumed (test premise)", sent)
	}
	if _, err := v.Stat(context.Background(), name); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("a copy that failed its read-back was recorded: %v", err)
	}
	sent, err = r.commit(t, v, name, data, 0)
	if err != nil {
		t.Fatalf("the attempt after a failed read-back: %v", err)
	}
	if sent < int64(len(data)) {
		t.Fatalf("sent %d of %d bytes: it did not start from zero", sent, len(data))
	}
	if got := storetest.Get(t, v, name); !bytes.Equal(got, data) {
		t.Fatal("object does not round-trip after the restart")
	}
	if ups := uploadsOnServer(t, direct); len(ups) != 0 {
		t.Fatalf("temporaries left: %v", ups)
	}
	t.Logf("temporary held %d bytes before it was damaged", have)
}

// TestStaleTemporaries covers PutResumable directly: a temporary longer
// than the object, one that is gone, and a record of another key all
// start again from zero; a taken key is replaced only by a temporary that
// matches; AbortUpload and Uploads see only ours.
func TestStaleTemporaries(t *testing.T) {
	b, _ := newBlobs(t)
	ctx := context.Background()
	data := seeded(3<<20, 3)
	var saved []vault.Upload
	save := func(u vault.Upload) error { saved = append(saved, u); return nil }
	put := func(key string, up vault.Upload) error {
		return b.PutResumable(ctx, key, bytes.NewReader(data), int64(len(data)), up, save)
	}
	get := func(key string) []byte {
		rc, err := b.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		return buf.Bytes()
	}

	// A temporary longer than the object (another attempt's bytes).
	id, _ := newUploadID("data/aa/k1")
	stale := vault.Upload{Key: "data/aa/k1", ID: id}
	writeServer(t, b, uploadPath(id), seeded(4<<20, 9))
	if err := put("data/aa/k1", stale); err != nil {
		t.Fatal(err)
	}
	if len(saved) != 1 || saved[0].ID == id || saved[0].Key != "data/aa/k1" {
		t.Fatalf("saved %v: want one new upload", saved)
	}
	if !bytes.Equal(get("data/aa/k1"), data) {
		t.Fatal("k1 content")
	}

	// A record whose temporary is gone, and a record of another key.
	saved = nil
	id2, _ := newUploadID("data/aa/k2")
	if err := put("data/aa/k2", vault.Upload{Key: "data/aa/k2", ID: id2}); err != nil {
		t.Fatal(err)
	}
	id3, _ := newUploadID("data/aa/other")
	writeServer(t, b, uploadPath(id3), data[:1000])
	if err := put("data/aa/k3", vault.Upload{Key: "data/aa/other", ID: id3}); err != nil {
		t.Fatal(err)
	}
	if len(saved) != 2 || !bytes.Equal(get("data/aa/k2"), data) || !bytes.Equal(get("data/aa/k3"), data) {
		t.Fatalf("saved %v", saved)
	}
	if ups := uploadsOnServer(t, b); len(ups) != 0 {
		t.Fatalf("temporaries left: %v", ups)
	}

	// A taken key: a temporary that matches replaces it, one that does
	// not is removed with ErrCorrupt and the key keeps its bytes.
	writeServer(t, b, "data/aa/k4", []byte("damaged"))
	if err := put("data/aa/k4", vault.Upload{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(get("data/aa/k4"), data) {
		t.Fatal("k4 not replaced")
	}
	writeServer(t, b, "data/aa/k5", []byte("original"))
	id5, _ := newUploadID("data/aa/k5")
	bad := append([]byte(nil), data...)
	bad[10] ^= 1
	writeServer(t, b, uploadPath(id5), bad)
	err := put("data/aa/k5", vault.Upload{Key: "data/aa/k5", ID: id5})
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("damaged temporary over a taken key: %v, want ErrCorrupt", err)
	}
	if string(get("data/aa/k5")) != "original" {
		t.Fatal("a taken key was replaced by a damaged temporary")
	}
	if ups := uploadsOnServer(t, b); len(ups) != 0 {
		t.Fatalf("damaged temporary kept: %v", ups)
	}

	// Uploads lists ours only; AbortUpload removes them and tolerates
	// gone ones; foreign IDs are refused, never used as paths.
	id6, _ := newUploadID("data/bb/k6")
	writeServer(t, b, uploadPath(id6), data[:10])
	writeServer(t, b, uploadsDir+"/not-ours", nil)
	ups, err := b.Uploads(ctx)
	if err != nil || len(ups) != 1 || ups[0].ID != id6 || ups[0].Key != "data/bb/k6" {
		t.Fatalf("Uploads: %v, %v", ups, err)
	}
	if keys := listBlobs(t, b, ""); len(keys) != 5 {
		t.Fatalf("List shows %v", keys)
	}
	for range 2 {
		if err := b.AbortUpload(ctx, ups[0]); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"../../etc/passwd", "not-ours", "", id6 + "/x", strings.Repeat("a", 24) + ".Li4vLi4"} {
		if err := b.AbortUpload(ctx, vault.Upload{Key: "x", ID: bad}); !errors.Is(err, store.ErrBadName) {
			t.Errorf("AbortUpload(%q): %v, want ErrBadName", bad, err)
		}
	}
	if ups := uploadsOnServer(t, b); len(ups) != 1 {
		t.Fatalf("after AbortUpload: %v, want only the foreign file", ups)
	}
}

func writeServer(t *testing.T, b *Blobs, p string, data []byte) {
	t.Helper()
	if err := b.s.c.MkdirAll(b.s.abs(path.Dir(p))); err != nil {
		t.Fatal(err)
	}
	f, err := b.s.c.Create(b.s.abs(p))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestAbortLeavesNothing: an interrupted upload whose spool is gone is
// aborted at the next Attach; nothing stays on the server.
func TestAbortLeavesNothing(t *testing.T) {
	r := newResumeRig(t)
	direct := r.direct
	r.cut(t, direct, "a/x.mov", seeded(8<<20, 4), 5<<20)
	os.RemoveAll(r.spool)
	r.attach(t)
	if ups := uploadsOnServer(t, direct); len(ups) != 0 {
		t.Fatalf("temporaries after Attach without their spool: %v", ups)
	}
	if keys := listBlobs(t, direct, "data/"); len(keys) != 0 {
		t.Fatalf("content objects %v", keys)
	}
}

// TestBlobsVaultResumableConformance runs the store suite on a vault over
// SFTP whose objects of 64 KiB and more take the resumable path.
func TestBlobsVaultResumableConformance(t *testing.T) {
	envConfig(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		b, _ := newBlobs(t)
		b.resumeMin = 64 << 10
		ctx := context.Background()
		if err := vault.Init(ctx, b, blobPass, vault.Options{ScryptLogN: 10}); err != nil {
			t.Fatal(err)
		}
		v, err := vault.Attach(ctx, b, blobPass, vault.Options{TempDir: t.TempDir(), SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}

// slowReaderAt sleeps before every read after the first after bytes and
// counts the bytes read.
type slowReaderAt struct {
	r     *bytes.Reader
	after int64
	delay time.Duration
	read  atomic.Int64
}

func (s *slowReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.after {
		time.Sleep(s.delay)
	}
	n, err := s.r.ReadAt(p, off)
	s.read.Add(int64(n))
	return n, err
}

// TestDeadlineLeavesUploadToResume: the upload window closes (ctx
// deadline) in the middle of an object; the temporary stays, and the next
// attempt sends only the rest.
func TestDeadlineLeavesUploadToResume(t *testing.T) {
	b, _ := newBlobs(t)
	data := seeded(6<<20, 5)
	slow := &slowReaderAt{r: bytes.NewReader(data), after: 3 << 20, delay: 50 * time.Millisecond}
	var rec vault.Upload
	save := func(u vault.Upload) error { rec = u; return nil }
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := b.PutResumable(ctx, "data/cc/big", slow, int64(len(data)), vault.Upload{}, save)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("upload past its deadline: %v, want DeadlineExceeded", err)
	}
	ups := uploadsOnServer(t, b)
	if ups[rec.ID] < 1<<20 || len(ups) != 1 {
		t.Fatalf("after the deadline: temporaries %v, record %+v", ups, rec)
	}
	if _, err := b.Stat(context.Background(), "data/cc/big"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("a cut upload is visible: %v", err)
	}
	again := &slowReaderAt{r: bytes.NewReader(data), after: 1 << 62}
	if err := b.PutResumable(context.Background(), "data/cc/big", again, int64(len(data)), rec, save); err != nil {
		t.Fatal(err)
	}
	t.Logf("the temporary held %d bytes; the resumed attempt read %d of %d", ups[rec.ID], again.read.Load(), len(data))
	if again.read.Load() >= int64(len(data)) {
		t.Fatalf("the resumed attempt read all %d bytes", again.read.Load())
	}
	rc, err := b.Get(context.Background(), "data/cc/big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got bytes.Buffer
	got.ReadFrom(rc)
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("resumed object differs")
	}
}
