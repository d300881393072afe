package sftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/store/vault"
)

const blobPass = "correct horse battery staple"

// newBlobs prepares a fresh folder below TROVE_TEST_SFTP_DIR and opens
// Blobs on it; the folder is removed at the end of the test.
func newBlobs(t *testing.T) (*Blobs, Config) {
	t.Helper()
	cfg, dir := envConfig(t)
	testCounter++
	cfg.Path = path.Join(dir, fmt.Sprintf("blobs-%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano(), testCounter))
	ctx := context.Background()
	caps, err := PrepareBlobs(ctx, cfg)
	if err != nil {
		t.Fatalf("prepare blobs: %v", err)
	}
	if !caps.Fsync || !caps.PosixRename {
		t.Errorf("OpenSSH should offer fsync and posix-rename: %+v", caps)
	}
	b, err := OpenBlobs(ctx, cfg)
	if err != nil {
		t.Fatalf("open blobs: %v", err)
	}
	t.Cleanup(func() {
		b.s.c.RemoveAll(cfg.Path)
		b.Close()
	})
	return b, cfg
}

func newBlobVault(t *testing.T, b vault.Blobs) *vault.Vault {
	t.Helper()
	ctx := context.Background()
	if err := vault.Init(ctx, b, blobPass, vault.Options{ScryptLogN: 10}); err != nil {
		t.Fatalf("vault init: %v", err)
	}
	v, err := vault.Attach(ctx, b, blobPass, vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("vault attach: %v", err)
	}
	return v
}

// TestBlobsVaultConformance runs the store suite on a vault that lives on
// the SFTP server.
func TestBlobsVaultConformance(t *testing.T) {
	envConfig(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		b, _ := newBlobs(t)
		return newBlobVault(t, b)
	})
}

// serverFiles reads every regular file below root on the server over a
// separate connection: path below root → bytes.
func serverFiles(t *testing.T, b *Blobs, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	w := b.s.c.Walk(root)
	for w.Step() {
		if err := w.Err(); err != nil {
			t.Fatal(err)
		}
		if !w.Stat().Mode().IsRegular() {
			continue
		}
		f, err := b.s.c.Open(w.Path())
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(w.Path(), root+"/")] = data
	}
	return out
}

func TestBlobsNoPlaintextOnServer(t *testing.T) {
	b, cfg := newBlobs(t)
	ctx := context.Background()
	v := newBlobVault(t, b)
	photo, err := os.ReadFile("../../../testdata/photos/exiftool_GPS.jpg")
	if err != nil {
		t.Fatal(err)
	}
	name := "2024/2024-06-01 Smith Wedding/IMG_0001.JPG"
	storetest.Put(t, v, name, photo)
	storetest.Put(t, v, "2024/2024-06-01 Smith Wedding/IMG_0001.xmp", []byte("<x:xmpmeta>Smith Wedding GPS 51.5N</x:xmpmeta>"))
	if err := v.WriteMeta(ctx, ".trove/MANIFEST.sha256", strings.NewReader(storetest.Sum(photo).String()+"  "+name+"\n")); err != nil {
		t.Fatal(err)
	}
	// Replacing a meta file exercises Put over an existing key.
	if err := v.WriteMeta(ctx, ".trove/MANIFEST.sha256", strings.NewReader("replaced "+name+"\n")); err != nil {
		t.Fatal(err)
	}
	if err := v.Compact(ctx); err != nil {
		t.Fatal(err)
	}

	sum := storetest.Sum(photo)
	needles := [][]byte{
		[]byte("Smith"), []byte("IMG_0001"), []byte("2024-06-01"), []byte("Wedding"), []byte("xmpmeta"),
		[]byte("MANIFEST"), []byte(".trove"), []byte("replaced"), []byte(sum.String()), sum[:],
		{0xff, 0xd8, 0xff},
	}
	for off := 0; off+24 <= len(photo); off += 24 {
		needles = append(needles, photo[off:off+24])
	}
	files := serverFiles(t, b, cfg.Path)
	if len(files) < 5 {
		t.Fatalf("only %d files on the server: %q", len(files), slices.Collect(mapKeys(files)))
	}
	for p, data := range files {
		if isTemp(path.Base(p)) {
			t.Errorf("temporary %s left on the server", p)
		}
		for _, n := range needles {
			if bytes.Contains([]byte(p), n) || bytes.Contains(data, n) {
				t.Errorf("server file %s reveals %q", p, n)
			}
		}
	}
	if got := storetest.Get(t, v, name); !bytes.Equal(got, photo) {
		t.Fatal("photo does not round-trip")
	}
	rc, err := v.ReadMeta(ctx, ".trove/MANIFEST.sha256")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "replaced "+name+"\n" {
		t.Fatalf("meta after replace: %q", got)
	}

	// Another connection, as the next run, opens the same vault.
	b2, err := OpenBlobs(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	v2, err := vault.Attach(ctx, b2, blobPass, vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := storetest.Get(t, v2, name); !bytes.Equal(got, photo) {
		t.Fatal("photo does not round-trip through a second connection")
	}
}

func mapKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func listBlobs(t *testing.T, b *Blobs, prefix string) []string {
	t.Helper()
	var keys []string
	if err := b.List(context.Background(), prefix, func(k string, size int64) error {
		keys = append(keys, fmt.Sprintf("%s=%d", k, size))
		return nil
	}); err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return keys
}

func TestBlobsContract(t *testing.T) {
	b, cfg := newBlobs(t)
	ctx := context.Background()
	put := func(key, data string) {
		t.Helper()
		if err := b.Put(ctx, key, strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	get := func(key string) string {
		t.Helper()
		rc, err := b.Get(ctx, key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		defer rc.Close()
		d, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		return string(d)
	}
	for _, k := range []string{"data/ab/ab2", "data/ab/ab1", "data/a-/x", "data/ab-", "index/1-l", "vault.json", "data/b0/b01", "data0"} {
		put(k, k)
	}
	want := []string{"data/a-/x=9", "data/ab-=8", "data/ab/ab1=11", "data/ab/ab2=11", "data/b0/b01=11"}
	if got := listBlobs(t, b, "data/"); !slices.Equal(got, want) {
		t.Errorf("list data/: %q, want %q", got, want)
	}
	if got := listBlobs(t, b, "data/ab"); !slices.Equal(got, want[1:4]) {
		t.Errorf("list data/ab: %q, want %q", got, want[1:4])
	}
	all := listBlobs(t, b, "")
	if len(all) != 8 || !slices.IsSorted(all) || all[0] != "data/a-/x=9" || all[7] != "vault.json=10" {
		t.Errorf("list all: %q", all)
	}
	if got := listBlobs(t, b, "nope/"); len(got) != 0 {
		t.Errorf("list nope/: %q", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := b.List(ctx, "", func(string, int64) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("list stopped by fn: %v after %d calls", err, n)
	}

	// Replace.
	put("vault.json", "new contents")
	if got := get("vault.json"); got != "new contents" {
		t.Errorf("after replace: %q", got)
	}
	if size, err := b.Stat(ctx, "vault.json"); err != nil || size != 12 {
		t.Errorf("stat: %d, %v", size, err)
	}

	// Wrong size: nothing visible, the old object stays, no temporary.
	for _, data := range []string{"short", "far too long for the size"} {
		err := b.Put(ctx, "vault.json", strings.NewReader(data), 12)
		if err == nil {
			t.Errorf("put of %d bytes as 12 succeeded", len(data))
		}
	}
	if err := b.Put(ctx, "data/zz/zz1", strings.NewReader("abc"), 4); err == nil {
		t.Error("put of 3 bytes as 4 succeeded")
	}
	if got := get("vault.json"); got != "new contents" {
		t.Errorf("after failed puts: %q", got)
	}
	if _, err := b.Stat(ctx, "data/zz/zz1"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("stat after failed put: %v", err)
	}
	// A reader that fails midway leaves nothing either.
	failing := io.MultiReader(strings.NewReader("part"), errReader{errors.New("source broke")})
	if err := b.Put(ctx, "data/zz/zz2", failing, 100); err == nil || !strings.Contains(err.Error(), "source broke") {
		t.Errorf("put from a failing reader: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Put(cctx, "data/zz/zz3", strings.NewReader("x"), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("put with a cancelled context: %v", err)
	}
	for p := range serverFiles(t, b, cfg.Path) {
		if isTemp(path.Base(p)) {
			t.Errorf("temporary %s left after failed puts", p)
		}
	}

	// Missing keys and Delete.
	if _, err := b.Stat(ctx, "data/none"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("stat missing: %v", err)
	}
	if _, err := b.Get(ctx, "data/none"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("get missing: %v", err)
	}
	if _, err := b.Stat(ctx, "data/ab"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("stat of a folder: %v", err)
	}
	if err := b.Delete(ctx, "data/ab/ab1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "data/ab/ab1"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("delete twice: %v", err)
	}
	if err := b.Delete(ctx, "data/ab"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("delete of a folder: %v", err)
	}
	if got := listBlobs(t, b, "data/ab/"); !slices.Equal(got, []string{"data/ab/ab2=11"}) {
		t.Errorf("after delete: %q", got)
	}

	// Bad keys never reach the server.
	for _, k := range []string{"", "/abs", "a//b", "../x", "a/./b", "a/.hidden", ".trove/x", "a\\b", "sp ace", "é"} {
		if err := b.Put(ctx, k, strings.NewReader("x"), 1); !errors.Is(err, store.ErrBadName) {
			t.Errorf("put %q: %v, want ErrBadName", k, err)
		}
		if _, err := b.Stat(ctx, k); !errors.Is(err, store.ErrBadName) {
			t.Errorf("stat %q: %v, want ErrBadName", k, err)
		}
	}
	if err := b.List(ctx, "/x", func(string, int64) error { return nil }); !errors.Is(err, store.ErrBadName) {
		t.Errorf("list /x: %v", err)
	}

	// A leftover temporary and a symlink are not listed.
	tmp := path.Join(cfg.Path, "data", tmpBase("cc1"))
	f, err := b.s.c.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := b.s.c.Symlink(path.Join(cfg.Path, "vault.json"), path.Join(cfg.Path, "data", "link")); err != nil {
		t.Fatal(err)
	}
	if got := listBlobs(t, b, "data/"); len(got) != 4 || slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "link") || strings.Contains(s, tmpMarker) }) {
		t.Errorf("list with a temporary and a symlink: %q", got)
	}
	if n, err := b.CleanTemporaries(ctx, 0); err != nil || n != 1 {
		t.Errorf("clean temporaries: %d, %v", n, err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestBlobsMissingFolder(t *testing.T) {
	cfg, dir := envConfig(t)
	cfg.Path = path.Join(dir, "no-such-folder", "vault")
	_, err := OpenBlobs(context.Background(), cfg)
	if !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("open a missing folder: %v, want ErrNotAttached", err)
	}
}

func TestBlobsConnectionLost(t *testing.T) {
	b, cfg := newBlobs(t)
	ctx := context.Background()
	t.Cleanup(func() { // newBlobs' cleanup cannot remove the folder over the dead connection
		if nb, err := OpenBlobs(ctx, cfg); err == nil {
			nb.s.c.RemoveAll(cfg.Path)
			nb.Close()
		}
	})
	if err := b.Put(ctx, "vault.json", strings.NewReader("{}"), 2); err != nil {
		t.Fatal(err)
	}
	rc, err := b.Get(ctx, "vault.json")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b.s.ssh.Close() // the network goes away
	select {
	case <-b.s.gone:
	case <-time.After(5 * time.Second):
		t.Fatal("connection end not noticed")
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, store.ErrNotAttached) {
		t.Errorf("read on a lost connection: %v, want ErrNotAttached", err)
	}
	if _, err := b.Stat(ctx, "vault.json"); !errors.Is(err, store.ErrNotAttached) {
		t.Errorf("stat: %v, want ErrNotAttached", err)
	}
	if err := b.Put(ctx, "x", strings.NewReader("x"), 1); !errors.Is(err, store.ErrNotAttached) {
		t.Errorf("put: %v, want ErrNotAttached", err)
	}
	if err := b.List(ctx, "", func(string, int64) error { return nil }); !errors.Is(err, store.ErrNotAttached) {
		t.Errorf("list: %v, want ErrNotAttached", err)
	}
	if err := b.Delete(ctx, "vault.json"); !errors.Is(err, store.ErrNotAttached) {
		t.Errorf("delete: %v, want ErrNotAttached", err)
	}
}

// TestBlobsReplaceWithoutPosixRename covers servers that lack
// posix-rename@openssh.com: the old object is removed, then the new one
// published.
func TestBlobsReplaceWithoutPosixRename(t *testing.T) {
	b, _ := newBlobs(t)
	ctx := context.Background()
	b.s.caps.PosixRename = false
	for _, data := range []string{"first", "second!"} {
		if err := b.Put(ctx, "meta/m1", strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("put %q: %v", data, err)
		}
	}
	if got := listBlobs(t, b, ""); !slices.Equal(got, []string{"meta/m1=7"}) {
		t.Fatalf("after replace: %q", got)
	}
}
