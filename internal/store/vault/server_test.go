package vault_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/store/vault"
)

// etagBlobs behaves like an S3 bucket on a folder: each object's
// fingerprint is the MD5 of the bytes uploaded, kept beside it as
// metadata (so damage to the file on disk does not change it), and
// objects it has not seen uploaded get the MD5 of their file the first
// time it is asked. It counts downloads.
type etagBlobs struct {
	vault.DirBlobs
	mu    sync.Mutex
	etags map[string]string
	gets  atomic.Int64
	heads atomic.Int64
	lists atomic.Int64
}

var _ vault.Fingerprinter = (*etagBlobs)(nil)

func newEtagBlobs(dir string) *etagBlobs {
	return &etagBlobs{DirBlobs: vault.DirBlobs{Dir: dir}, etags: map[string]string{}}
}

func (e *etagBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	h := md5.New()
	if err := e.DirBlobs.Put(ctx, key, io.TeeReader(r, h), size); err != nil {
		return err
	}
	e.mu.Lock()
	e.etags[key] = "etag:" + hex.EncodeToString(h.Sum(nil))
	e.mu.Unlock()
	return nil
}

func (e *etagBlobs) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	e.gets.Add(1)
	return e.DirBlobs.Get(ctx, key)
}

func (e *etagBlobs) etag(key string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.etags[key]; ok {
		return t
	}
	b, err := os.ReadFile(filepath.Join(e.Dir, filepath.FromSlash(key)))
	if err != nil {
		return ""
	}
	sum := md5.Sum(b)
	e.etags[key] = "etag:" + hex.EncodeToString(sum[:])
	return e.etags[key]
}

// rewrite gives an object a new ETag without changing its bytes (as a
// service that re-encrypts or migrates objects at rest might).
func (e *etagBlobs) rewrite(key string) {
	e.mu.Lock()
	e.etags[key] = "etag:rewritten"
	e.mu.Unlock()
}

func (e *etagBlobs) Fingerprint(ctx context.Context, key string) (int64, string, error) {
	e.heads.Add(1)
	size, err := e.DirBlobs.Stat(ctx, key)
	if err != nil {
		return 0, "", err
	}
	return size, e.etag(key), nil
}

func (e *etagBlobs) ListFingerprints(ctx context.Context, prefix string, fn func(string, int64, string) error) error {
	e.lists.Add(1)
	return e.DirBlobs.List(ctx, prefix, func(key string, size int64) error {
		return fn(key, size, e.etag(key))
	})
}

// check runs a ServerCheck and returns the findings by name.
func check(t *testing.T, v *vault.Vault, names ...string) map[string]store.ServerFinding {
	t.Helper()
	got := map[string]store.ServerFinding{}
	err := v.ServerCheck(context.Background(), names, func(f store.ServerFinding) error {
		if _, dup := got[f.Name]; dup {
			t.Errorf("%s reported twice", f.Name)
		}
		got[f.Name] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(names) {
		t.Fatalf("%d findings for %d names", len(got), len(names))
	}
	return got
}

func wantState(t *testing.T, got map[string]store.ServerFinding, name string, state store.ServerState, detail string) {
	t.Helper()
	f := got[name]
	if f.State != state || !strings.Contains(f.Detail, detail) {
		t.Errorf("%s: %s (%s); want %s with %q", name, f.State, f.Detail, state, detail)
	}
}

func TestServerCheck(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := newEtagBlobs(dir)
	v := newVault(t, b)
	a := bytes.Repeat([]byte("photo A "), 100_000)
	ra := storetest.Put(t, v, "2024/a.CR3", a)
	rb := storetest.Put(t, v, "2024/b.CR3", bytes.Repeat([]byte("photo B "), 100_000))
	rc := storetest.Put(t, v, "2024/copy of a.CR3", a) // dedup
	storetest.Put(t, v, "2024/small.xmp", []byte("<x/>"))
	if ra.Stored != rc.Stored {
		t.Fatal("no dedup")
	}
	names := []string{"2024/a.CR3", "2024/b.CR3", "2024/copy of a.CR3", "2024/small.xmp", "2024/never stored.CR3"}

	gets, lists := b.gets.Load(), b.lists.Load()
	got := check(t, v, names...)
	for _, n := range names[:4] {
		wantState(t, got, n, store.ServerOK, "")
	}
	wantState(t, got, "2024/never stored.CR3", store.ServerMissing, "not in the vault's index")
	if g, l := b.gets.Load()-gets, b.lists.Load()-lists; g != 0 || l != 1 {
		t.Fatalf("ServerCheck made %d downloads and %d listings; want 0 and 1", g, l)
	}

	// Truncated on the server's disk: its ETag (metadata) is unchanged,
	// its size is not.
	pb := filepath.Join(dir, filepath.FromSlash(rb.Stored))
	full, _ := os.ReadFile(pb)
	os.WriteFile(pb, full[:1234], 0o600)
	// Replaced with other bytes of the same size (through the service).
	other := bytes.Clone(full)
	other[100] ^= 1
	if err := b.Put(ctx, ra.Stored, bytes.NewReader(other), int64(len(other))); err != nil {
		t.Fatal(err)
	}
	got = check(t, v, names...)
	wantState(t, got, "2024/b.CR3", store.ServerChanged, "size 1,234 bytes on the server, ")
	wantState(t, got, "2024/a.CR3", store.ServerChanged, "checksum changed")
	wantState(t, got, "2024/copy of a.CR3", store.ServerChanged, "checksum changed")
	wantState(t, got, "2024/small.xmp", store.ServerOK, "")
	t.Logf("b: %s", got["2024/b.CR3"].Detail)

	os.Remove(pb)
	got = check(t, v, "2024/b.CR3")
	wantState(t, got, "2024/b.CR3", store.ServerMissing, "is not on the server")

	// The findings survive a reattach (the proofs are in the index).
	w, err := vault.Attach(ctx, b, pass, vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got = check(t, w, names...)
	wantState(t, got, "2024/small.xmp", store.ServerOK, "")
	wantState(t, got, "2024/a.CR3", store.ServerChanged, "checksum")

	// An empty list checks nothing and lists nothing.
	lists = b.lists.Load()
	if err := w.ServerCheck(ctx, nil, func(store.ServerFinding) error { t.Error("finding for no name"); return nil }); err != nil {
		t.Fatal(err)
	}
	if b.lists.Load() != lists {
		t.Error("an empty check listed the bucket")
	}
	// fn's error stops the check.
	stop := errors.New("stop")
	if err := w.ServerCheck(ctx, names, func(store.ServerFinding) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn error: %v", err)
	}
}

// TestServerCheckOldIndex: names recorded before the vault kept sizes and
// fingerprints are unknown (a size or absence is still caught) until a
// download proves them and RecordProven records what the service lists.
func TestServerCheckOldIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := newEtagBlobs(dir)
	v := newVault(t, b)
	data := bytes.Repeat([]byte("old photo "), 40_000)
	r := storetest.Put(t, v, "old/a.CR3", data)
	storetest.Put(t, v, "old/copy.CR3", data)
	rt := storetest.Put(t, v, "old/truncated.CR3", []byte("truncated later"))
	for _, n := range []string{"old/a.CR3", "old/copy.CR3", "old/truncated.CR3"} {
		if err := vault.WriteOldPut(ctx, v, n); err != nil {
			t.Fatal(err)
		}
	}
	pt := filepath.Join(dir, filepath.FromSlash(rt.Stored))
	full, _ := os.ReadFile(pt)
	os.WriteFile(pt, full[:len(full)-1], 0o600)

	got := check(t, v, "old/a.CR3", "old/copy.CR3", "old/truncated.CR3")
	wantState(t, got, "old/a.CR3", store.ServerUnknown, "no checksum recorded")
	wantState(t, got, "old/copy.CR3", store.ServerUnknown, "no checksum recorded")
	wantState(t, got, "old/truncated.CR3", store.ServerChanged, "size")

	// verify downloads a.CR3 and truncated.CR3 (which fails) and records
	// the one that matched.
	if !bytes.Equal(storetest.Get(t, v, "old/a.CR3"), data) {
		t.Fatal("content differs")
	}
	if _, err := readAll(v, "old/truncated.CR3"); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("truncated object read: %v", err)
	}
	heads, lists := b.heads.Load(), b.lists.Load()
	if err := v.RecordProven(ctx, []string{"old/a.CR3"}); err != nil {
		t.Fatal(err)
	}
	if b.heads.Load() != heads || b.lists.Load() != lists {
		t.Error("RecordProven asked the service again instead of using the check's listing")
	}
	// The content object is shared: its copy is proven with it.
	got = check(t, v, "old/a.CR3", "old/copy.CR3", "old/truncated.CR3")
	wantState(t, got, "old/a.CR3", store.ServerOK, "")
	wantState(t, got, "old/copy.CR3", store.ServerOK, "")
	wantState(t, got, "old/truncated.CR3", store.ServerChanged, "size")

	// A truncated object is never blessed, even if asked.
	if err := v.RecordProven(ctx, []string{"old/truncated.CR3"}); err != nil {
		t.Fatal(err)
	}
	// Recorded durably, and kept by compaction.
	if err := v.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := vault.Attach(ctx, b, pass, vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got = check(t, w, "old/a.CR3", "old/copy.CR3", "old/truncated.CR3")
	wantState(t, got, "old/a.CR3", store.ServerOK, "")
	wantState(t, got, "old/copy.CR3", store.ServerOK, "")
	wantState(t, got, "old/truncated.CR3", store.ServerChanged, "size")
	if r.Stored == rt.Stored {
		t.Fatal("distinct contents share an object")
	}
}

// TestRecordProvenTakesTheListingFromBeforeTheDownload: a fingerprint is
// recorded only for bytes a download saw. An object replaced between the
// check and RecordProven keeps being reported; an object the service
// rewrote with the same bytes is accepted once a download proves it.
func TestRecordProvenTakesTheListingFromBeforeTheDownload(t *testing.T) {
	ctx := context.Background()
	b := newEtagBlobs(t.TempDir())
	v := newVault(t, b)
	storetest.Put(t, v, "a.jpg", bytes.Repeat([]byte("a"), 10_000))
	rb := storetest.Put(t, v, "b.jpg", bytes.Repeat([]byte("b"), 10_000))

	b.rewrite(rb.Stored)
	got := check(t, v, "a.jpg", "b.jpg")
	wantState(t, got, "b.jpg", store.ServerChanged, "checksum changed")
	// verify downloads b.jpg: the same content.
	storetest.Get(t, v, "b.jpg")
	// Meanwhile someone replaces it with other bytes of the same size.
	raw, _ := os.ReadFile(filepath.Join(b.Dir, filepath.FromSlash(rb.Stored)))
	raw[len(raw)/2] ^= 1
	if err := b.Put(ctx, rb.Stored, bytes.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	if err := v.RecordProven(ctx, []string{"b.jpg"}); err != nil {
		t.Fatal(err)
	}
	got = check(t, v, "a.jpg", "b.jpg")
	wantState(t, got, "a.jpg", store.ServerOK, "")
	wantState(t, got, "b.jpg", store.ServerChanged, "checksum changed")

	// Without a check first, RecordProven asks the service (one HEAD for
	// a few names of a large vault, else one listing).
	b2 := newEtagBlobs(t.TempDir())
	v2 := newVault(t, b2)
	for i := range 60 {
		storetest.Put(t, v2, "many/"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".jpg", []byte{byte(i)})
	}
	b2.rewrite(mustStat(t, v2, "many/a.jpg"))
	heads, lists := b2.heads.Load(), b2.lists.Load()
	if err := v2.RecordProven(ctx, []string{"many/a.jpg"}); err != nil {
		t.Fatal(err)
	}
	if h, l := b2.heads.Load()-heads, b2.lists.Load()-lists; h != 1 || l != 0 {
		t.Errorf("RecordProven of 1 name in 60: %d HEADs, %d listings; want 1, 0", h, l)
	}
	wantState(t, check(t, v2, "many/a.jpg"), "many/a.jpg", store.ServerOK, "")
}

func mustStat(t *testing.T, v *vault.Vault, name string) string {
	t.Helper()
	i, err := v.Stat(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return i.Stored
}

// TestServerCheckUnsupported: a vault on storage without checksums (a
// folder, SFTP) has no server-side check.
func TestServerCheckUnsupported(t *testing.T) {
	v := newVault(t, vault.DirBlobs{Dir: t.TempDir()})
	storetest.Put(t, v, "a.jpg", []byte("a"))
	err := v.ServerCheck(context.Background(), []string{"a.jpg"}, func(store.ServerFinding) error {
		t.Error("finding without a check")
		return nil
	})
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("ServerCheck on a folder: %v, want ErrUnsupported", err)
	}
	if err := v.RecordProven(context.Background(), []string{"a.jpg"}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("RecordProven on a folder: %v, want ErrUnsupported", err)
	}
}
