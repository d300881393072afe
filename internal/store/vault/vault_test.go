package vault_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/store/vault"
)

const pass = "correct horse battery staple"

// fast keeps the passphrase KDF cheap in tests.
var fast = vault.Options{ScryptLogN: 10}

func newVault(t testing.TB, b vault.Blobs) *vault.Vault {
	t.Helper()
	ctx := context.Background()
	if err := vault.Init(ctx, b, pass, fast); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Attach(ctx, b, pass, vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return newVault(t, vault.DirBlobs{Dir: t.TempDir()})
	})
}

// files returns every stored blob: key → bytes.
func files(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = b
		}
		return nil
	})
	return out
}

func TestNoPlaintextInVault(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	v := newVault(t, vault.DirBlobs{Dir: dir})
	photo, err := os.ReadFile("../../../testdata/photos/exiftool_GPS.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(photo, []byte("Ian Britton")) {
		t.Fatal("sample photo lacks the EXIF string the test looks for")
	}
	name := "2024/2024-06-01 Smith Wedding/IMG_0001.JPG"
	storetest.Put(t, v, name, photo)
	storetest.Put(t, v, "2024/2024-06-01 Smith Wedding/IMG_0001.xmp", []byte("<x:xmpmeta>Smith Wedding GPS 51.5N</x:xmpmeta>"))
	if err := v.Rename(ctx, "2024/2024-06-01 Smith Wedding/IMG_0001.xmp", "2024/2024-06-01 Smith Wedding/IMG_0001b.xmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Preserve(ctx, "2024/2024-06-01 Smith Wedding/IMG_0001b.xmp", time.Now()); err != nil {
		t.Fatal(err)
	}
	sum := storetest.Sum(photo)
	manifest := sum.String() + "  " + name + "\n"
	if err := v.WriteMeta(ctx, ".trove/MANIFEST.sha256", strings.NewReader(manifest)); err != nil {
		t.Fatal(err)
	}
	if err := v.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, v, "2024/2024-06-01 Smith Wedding/IMG_0002.JPG", photo[:1000])

	needles := [][]byte{
		[]byte("Smith"), []byte("IMG_0001"), []byte("IMG_0002"), []byte("2024-06-01"), []byte("Wedding"),
		[]byte("Ian Britton"), []byte("FinePixS1Pro"), []byte("FUJIFILM"), []byte("51.5N"), []byte("xmpmeta"),
		[]byte(sum.String()), sum[:], []byte("MANIFEST"),
		{0xff, 0xd8, 0xff}, // JPEG magic
	}
	// Any 24-byte window of the photo (its GPS IFD included) is a needle.
	for off := 0; off+24 <= len(photo); off += 24 {
		needles = append(needles, photo[off:off+24])
	}
	blobs := files(t, dir)
	if len(blobs) < 5 {
		t.Fatalf("only %d blobs stored", len(blobs))
	}
	for key, b := range blobs {
		for _, n := range needles {
			if bytes.Contains([]byte(key), n) || bytes.Contains(b, n) {
				t.Errorf("blob %s reveals %q", key, n)
			}
		}
	}
	t.Logf("%d blobs, none holds any of %d needles", len(blobs), len(needles))
	if got := storetest.Get(t, v, name); !bytes.Equal(got, photo) {
		t.Fatal("photo does not round-trip")
	}
}

func TestPaddedSizes(t *testing.T) {
	dir := t.TempDir()
	v := newVault(t, vault.DirBlobs{Dir: dir})
	sizeOf := func(n int) int64 {
		data := bytes.Repeat([]byte{byte(n)}, n)
		r := storetest.Put(t, v, fmt.Sprintf("p/%d", n), data)
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(r.Stored)))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Small files all look alike.
	small := sizeOf(0)
	for _, n := range []int{1, 17, 1000, 4000} {
		if s := sizeOf(n); s != small {
			t.Errorf("%d-byte content stored as %d bytes, 0-byte as %d: sizes leak", n, s, small)
		}
	}
	// Nearby large sizes share a bucket; overhead stays small.
	a, b := sizeOf(3_000_000), sizeOf(3_000_000+20_000)
	if a != b {
		t.Errorf("3000000 and 3020000 bytes stored as %d and %d: want one bucket", a, b)
	}
	if over := float64(a)/3_000_000 - 1; over > 0.13 || over < 0 {
		t.Errorf("overhead %.1f%%", over*100)
	}
	t.Logf("stored sizes: small %d, ~3MB %d (%.2f%% overhead)", small, a, (float64(a)/3_000_000-1)*100)
}

func TestDedup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cb := &countingBlobs{Blobs: vault.DirBlobs{Dir: dir}}
	v := newVault(t, cb)
	data := bytes.Repeat([]byte("same photo "), 50_000)
	r1 := storetest.Put(t, v, "a/IMG_1.CR3", data)
	puts := cb.puts.Load()
	r2 := storetest.Put(t, v, "b/copy of IMG_1.CR3", data)
	if r1.Stored != r2.Stored {
		t.Fatalf("same content stored as %s and %s", r1.Stored, r2.Stored)
	}
	if got := cb.puts.Load() - puts; got != 1 { // only the index log
		t.Fatalf("second commit of the same content made %d uploads, want 1 (index only)", got)
	}
	n := 0
	for k := range files(t, dir) {
		if strings.HasPrefix(k, "data/") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d content objects, want 1", n)
	}
	// Removing one name keeps the shared content.
	if err := v.Remove(ctx, "a/IMG_1.CR3"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(storetest.Get(t, v, "b/copy of IMG_1.CR3"), data) {
		t.Fatal("shared content lost")
	}
}

type countingBlobs struct {
	vault.Blobs
	puts atomic.Int64
}

func (c *countingBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	c.puts.Add(1)
	return c.Blobs.Put(ctx, key, r, size)
}

func TestWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	b := vault.DirBlobs{Dir: t.TempDir()}
	v := newVault(t, b)
	storetest.Put(t, v, "x.jpg", []byte("x"))
	start := time.Now()
	_, err := vault.Attach(ctx, b, "correct horse battery stapler", vault.Options{})
	if !errors.Is(err, vault.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if strings.Contains(err.Error(), "stapler") {
		t.Fatalf("error shows the passphrase: %v", err)
	}
	t.Logf("refused in %v: %v", time.Since(start), err)
	if _, err := vault.Attach(ctx, vault.DirBlobs{Dir: t.TempDir()}, pass, vault.Options{}); !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("empty folder: %v, want ErrNotAttached", err)
	}
	if err := vault.Init(ctx, b, pass, fast); !errors.Is(err, store.ErrExist) {
		t.Fatalf("second Init: %v, want ErrExist", err)
	}
}

func readAll(v store.Store, name string) ([]byte, error) {
	rc, err := v.Open(context.Background(), name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestTamperedObjectsRefused(t *testing.T) {
	dir := t.TempDir()
	v := newVault(t, vault.DirBlobs{Dir: dir})
	a := bytes.Repeat([]byte("A"), 200_000)
	b := bytes.Repeat([]byte("B"), 200_000)
	ra := storetest.Put(t, v, "a.jpg", a)
	rb := storetest.Put(t, v, "b.jpg", b)
	pa := filepath.Join(dir, filepath.FromSlash(ra.Stored))
	pb := filepath.Join(dir, filepath.FromSlash(rb.Stored))
	orig, _ := os.ReadFile(pa)

	check := func(what string) {
		t.Helper()
		got, err := readAll(v, "a.jpg")
		if !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("%s: read gave %d bytes, %v; want ErrCorrupt", what, len(got), err)
		}
		t.Logf("%s: %v", what, err)
	}
	for _, off := range []int{10, len(orig) / 2, len(orig) - 1} { // header, body, last chunk
		bad := bytes.Clone(orig)
		bad[off] ^= 1
		os.WriteFile(pa, bad, 0o600)
		check(fmt.Sprintf("flipped byte at %d", off))
	}
	os.WriteFile(pa, orig[:len(orig)-70_000], 0o600)
	check("truncated")
	other, _ := os.ReadFile(pb)
	os.WriteFile(pa, other, 0o600) // a valid object of the vault, wrong content
	check("swapped")
	os.Remove(pa)
	check("missing")
	os.WriteFile(pa, orig, 0o600)
	if got, err := readAll(v, "a.jpg"); err != nil || !bytes.Equal(got, a) {
		t.Fatalf("restored object: %v", err)
	}
}

// flipBlobs corrupts every data object on upload.
type flipBlobs struct{ vault.Blobs }

func (f flipBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if !strings.HasPrefix(key, "data/") {
		return f.Blobs.Put(ctx, key, r, size)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	b[len(b)/2] ^= 0x40
	return f.Blobs.Put(ctx, key, bytes.NewReader(b), size)
}

// failBlobs fails uploads of data objects.
type failBlobs struct{ vault.Blobs }

func (f failBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if strings.HasPrefix(key, "data/") {
		io.CopyN(io.Discard, r, size/2)
		return errors.New("connection reset by peer")
	}
	return f.Blobs.Put(ctx, key, r, size)
}

func TestCommitRefusesBadUpload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := vault.DirBlobs{Dir: dir}
	newVault(t, b)
	for _, wrap := range []struct {
		name string
		b    vault.Blobs
		want error
	}{{"flip", flipBlobs{b}, store.ErrCorrupt}, {"fail", failBlobs{b}, nil}} {
		v, err := vault.Attach(ctx, wrap.b, pass, vault.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = storetest.TryPut(ctx, v, "x/IMG_9.CR3", bytes.Repeat([]byte{9}, 100_000))
		if err == nil || (wrap.want != nil && !errors.Is(err, wrap.want)) {
			t.Fatalf("%s: commit gave %v, want %v", wrap.name, err, wrap.want)
		}
		t.Logf("%s: %v", wrap.name, err)
		if names := storetest.List(t, v, ""); len(names) != 0 {
			t.Fatalf("%s: name recorded after a failed commit: %v", wrap.name, names)
		}
	}
	// A later good run (the interrupted upload resumed) succeeds and
	// replaces the corrupt object.
	v, err := vault.Attach(ctx, b, pass, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(storetest.List(t, v, "")) != 0 {
		t.Fatal("failed commits visible after reattach")
	}
	storetest.Put(t, v, "x/IMG_9.CR3", bytes.Repeat([]byte{9}, 100_000))
	if got := storetest.Get(t, v, "x/IMG_9.CR3"); len(got) != 100_000 {
		t.Fatal("bad read")
	}
}

func TestIndexSurvivesReattachAndCompaction(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := vault.DirBlobs{Dir: dir}
	v := newVault(t, b)
	for i := range 10 {
		storetest.Put(t, v, fmt.Sprintf("s/%02d.jpg", i), []byte{byte(i)})
	}
	v.Rename(ctx, "s/00.jpg", "t/00.jpg")
	v.Remove(ctx, "s/01.jpg")
	want := storetest.List(t, v, "")
	reopen := func(b vault.Blobs) *vault.Vault {
		t.Helper()
		w, err := vault.Attach(ctx, b, pass, vault.Options{CompactAfter: 5})
		if err != nil {
			t.Fatal(err)
		}
		if got := storetest.List(t, w, ""); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after reattach: %v, want %v", got, want)
		}
		return w
	}
	reopen(b)
	// Compaction interrupted after the snapshot (deletes fail): readers
	// ignore the logs the snapshot covers.
	if err := v.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	w := reopen(b)
	storetest.Put(t, w, "u/new.jpg", []byte("n"))
	want = append(want, "u/new.jpg")
	w2 := reopen(noDelete{b})
	if err := w2.Compact(ctx); err == nil {
		t.Fatal("compaction with failing deletes reported success")
	}
	reopen(b)
	// Automatic compaction at 5 logs keeps the index small.
	for i := range 6 {
		storetest.Put(t, w2, fmt.Sprintf("v/%d.jpg", i), []byte{byte(i)})
		want = append(want, fmt.Sprintf("v/%d.jpg", i))
	}
	w3 := reopen(b)
	if err := w3.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range files(t, dir) {
		if strings.HasPrefix(k, "index/") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d index objects after compaction, want 1", n)
	}
	reopen(b)
}

type noDelete struct{ vault.Blobs }

func (noDelete) Delete(context.Context, string) error { return errors.New("delete refused") }

func TestMetaAndVersions(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, vault.DirBlobs{Dir: t.TempDir()})
	big := bytes.Repeat([]byte("catalog page "), 100_000)
	for _, body := range [][]byte{[]byte("old"), big} {
		if err := v.WriteMeta(ctx, ".trove/catalog/trove.db", bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := v.ReadMeta(ctx, ".trove/catalog/trove.db")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("meta read %d bytes, %v", len(got), err)
	}
	if _, err := v.ReadMeta(ctx, ".trove/none"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("missing meta: %v", err)
	}
	for _, bad := range []string{"photo.jpg", ".trove/../x", ".trove/versions/a"} {
		if err := v.WriteMeta(ctx, bad, strings.NewReader("x")); !errors.Is(err, store.ErrBadName) {
			t.Errorf("WriteMeta(%q) = %v", bad, err)
		}
	}
	at := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	var kept []string
	for _, body := range []string{"v1", "v2"} {
		storetest.Put(t, v, "2024/a.jpg", []byte(body))
		p, err := v.Preserve(ctx, "2024/a.jpg", at)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, p)
	}
	for i, p := range kept {
		rc, err := v.OpenVersion(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if want := []string{"v1", "v2"}[i]; err != nil || string(b) != want {
			t.Fatalf("version %s = %q %v, want %q", p, b, err, want)
		}
	}
	if names := storetest.List(t, v, ""); len(names) != 0 {
		t.Fatalf("Walk lists versions: %v", names)
	}
	if _, err := v.OpenVersion(ctx, ".trove/versions/../x"); !errors.Is(err, store.ErrBadName) {
		t.Fatalf("OpenVersion escape: %v", err)
	}
	if _, err := v.Preserve(ctx, "missing.jpg", at); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Preserve(missing) = %v", err)
	}
}

func TestTempFilesHoldNoPlaintext(t *testing.T) {
	// The writer's temporary file is unlinked at once and holds only
	// ciphertext: nothing is left in TempDir after commits and aborts.
	ctx := context.Background()
	tmp := t.TempDir()
	b := vault.DirBlobs{Dir: t.TempDir()}
	if err := vault.Init(ctx, b, pass, fast); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Attach(ctx, b, pass, vault.Options{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	w, err := v.Create(ctx, "a.jpg", 5)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Smith"))
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Fatalf("temporary visible: %v", ents)
	}
	w.Abort()
	storetest.Put(t, v, "b.jpg", []byte("Smith"))
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Fatalf("temporary left: %v", ents)
	}
}

// TestFormatReadableWithAgeAlone follows docs/vault.md with nothing but
// the age library, JSON and SHA-256: the key file opens with the
// passphrase, the index names the content object, the object decrypts to
// content || zeros || trailer.
func TestFormatReadableWithAgeAlone(t *testing.T) {
	dir := t.TempDir()
	v := newVault(t, vault.DirBlobs{Dir: dir})
	photo := bytes.Repeat([]byte("photo"), 30_000)
	storetest.Put(t, v, "2024/Smith/IMG_1.CR3", photo)

	// 1. The key file: age -d with the passphrase gives an identity file.
	kf, _ := os.Open(filepath.Join(dir, "keys", "vault-key.age"))
	sid, _ := age.NewScryptIdentity(pass)
	r, err := age.Decrypt(kf, sid)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(r)
	if err != nil {
		t.Fatal(err)
	}
	// 2. Each index object decrypts to JSON lines ahead of zeros and the
	// 48-byte trailer.
	unseal := func(p string) []byte {
		t.Helper()
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		dec, err := age.Decrypt(f, ids...)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(dec)
		if err != nil {
			t.Fatal(err)
		}
		tr := plain[len(plain)-48:]
		if string(tr[:8]) != "trove-v1" {
			t.Fatalf("%s: no trailer", p)
		}
		n := binary.BigEndian.Uint64(tr[8:16])
		content := plain[:n]
		if sum := sha256.Sum256(content); !bytes.Equal(sum[:], tr[16:]) {
			t.Fatalf("%s: trailer hash mismatch", p)
		}
		return content
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "index", "*-l"))
	if len(logs) != 1 {
		t.Fatalf("index logs: %v", logs)
	}
	var rec struct{ Op, Name, Key, SHA256 string }
	if err := json.Unmarshal(bytes.SplitN(unseal(logs[0]), []byte("\n"), 2)[0], &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Op != "put" || rec.Name != "2024/Smith/IMG_1.CR3" {
		t.Fatalf("record %+v", rec)
	}
	// 3. The content object.
	got := unseal(filepath.Join(dir, filepath.FromSlash(rec.Key)))
	if !bytes.Equal(got, photo) || rec.SHA256 != storetest.Sum(photo).String() {
		t.Fatal("content differs")
	}
}

// TestSpoolNeedsResumableBlobs: a SpoolDir with a Blobs that cannot resume
// (a folder, rclone) changes nothing: large objects are encrypted into
// unlinked temporary files and the spool stays empty.
func TestSpoolNeedsResumableBlobs(t *testing.T) {
	ctx := context.Background()
	b := vault.DirBlobs{Dir: t.TempDir()}
	if err := vault.Init(ctx, b, pass, fast); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(t.TempDir(), "spool")
	v, err := vault.Attach(ctx, b, pass, vault.Options{TempDir: t.TempDir(), SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("large photo "), 3<<20)
	storetest.Put(t, v, "a/big.tif", data)
	if got := storetest.Get(t, v, "a/big.tif"); !bytes.Equal(got, data) {
		t.Fatal("round trip differs")
	}
	if _, err := os.Stat(spool); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("spool made for a Blobs that cannot resume: %v", err)
	}
}
