package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/prune"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/store/vault"
)

var _ prune.VersionRemover = (*vault.Vault)(nil)

// logs collects a vault's Logf lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(f string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(f, args...))
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// pruneVault makes a vault on a DirBlobs (wrapped by wrap when not nil)
// and returns it with its folder and log.
func pruneVault(t *testing.T, wrap func(vault.Blobs) vault.Blobs) (*vault.Vault, string, *logs) {
	t.Helper()
	dir := t.TempDir()
	var b vault.Blobs = vault.DirBlobs{Dir: dir}
	if err := vault.Init(context.Background(), b, pass, fast); err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		b = wrap(b)
	}
	l := &logs{}
	return reattach(t, b, vault.Options{Logf: l.logf}), dir, l
}

// keep puts name with data and moves it into the versions area.
func keep(t *testing.T, v *vault.Vault, name string, data []byte, at time.Time) (versionPath, key string) {
	t.Helper()
	r := storetest.Put(t, v, name, data)
	p, err := v.Preserve(context.Background(), name, at)
	if err != nil {
		t.Fatal(err)
	}
	return p, r.Stored
}

func objectExists(t *testing.T, dir, key string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func wantGone(t *testing.T, v *vault.Vault, versionPath string) {
	t.Helper()
	rc, err := v.OpenVersion(context.Background(), versionPath)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, store.ErrNotExist) {
		t.Errorf("OpenVersion %s after RemoveVersion: %v, want ErrNotExist", versionPath, err)
	}
}

func readVersion(t *testing.T, v *vault.Vault, versionPath string) []byte {
	t.Helper()
	rc, err := v.OpenVersion(context.Background(), versionPath)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", versionPath, err)
	}
	return b
}

func TestRemoveVersion(t *testing.T) {
	ctx := context.Background()
	v, dir, l := pruneVault(t, nil)
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

	// A version whose content is also a current library file's.
	shared := bytes.Repeat([]byte("current photo "), 10_000)
	vShared, kShared := keep(t, v, "2024/a.jpg", shared, t0)
	storetest.Put(t, v, "2024/a.jpg", shared)
	// A version nothing else refers to.
	alone := bytes.Repeat([]byte("culled reject "), 10_000)
	vAlone, kAlone := keep(t, v, "2024/reject.jpg", alone, t0)
	// Two versions of one content.
	twice := bytes.Repeat([]byte("edited twice "), 10_000)
	v1, kTwice := keep(t, v, "2024/b.jpg", twice, t0)
	v2, k2 := keep(t, v, "2024/b.jpg", twice, t0.Add(time.Hour))
	if k2 != kTwice || v1 == v2 {
		t.Fatalf("versions %s %s keys %s %s: want two names of one object", v1, v2, kTwice, k2)
	}

	if err := v.RemoveVersion(ctx, vShared); err != nil {
		t.Fatal(err)
	}
	wantGone(t, v, vShared)
	if !objectExists(t, dir, kShared) {
		t.Fatal("content object of a current library file was deleted")
	}
	if got, err := readAll(v, "2024/a.jpg"); err != nil || !bytes.Equal(got, shared) {
		t.Fatalf("library file after removing its old version: %v", err)
	}

	if err := v.RemoveVersion(ctx, vAlone); err != nil {
		t.Fatal(err)
	}
	wantGone(t, v, vAlone)
	if objectExists(t, dir, kAlone) {
		t.Error("content object of a removed version that nothing else used is still there")
	}

	if err := v.RemoveVersion(ctx, v1); err != nil {
		t.Fatal(err)
	}
	wantGone(t, v, v1)
	if !objectExists(t, dir, kTwice) {
		t.Fatal("content object deleted while another version still refers to it")
	}
	if got := readVersion(t, v, v2); !bytes.Equal(got, twice) {
		t.Fatal("the other version reads back wrong")
	}
	if err := v.RemoveVersion(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if objectExists(t, dir, kTwice) {
		t.Error("content object still there after its last version was removed")
	}
	if err := v.RemoveVersion(ctx, v2); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("removing %s twice: %v, want ErrNotExist", v2, err)
	}
	if s := l.String(); s != "" {
		t.Errorf("unexpected log: %s", s)
	}

	// Another process sees the same index.
	w := reattach(t, vault.DirBlobs{Dir: dir}, vault.Options{})
	for _, p := range []string{vShared, vAlone, v1, v2} {
		wantGone(t, w, p)
	}
	if got, err := readAll(w, "2024/a.jpg"); err != nil || !bytes.Equal(got, shared) {
		t.Fatalf("library file after reattach: %v", err)
	}
	// Content that was deleted is uploaded again by a later backup.
	r := storetest.Put(t, w, "2024/reject.jpg", alone)
	if r.Stored != kAlone || !objectExists(t, dir, kAlone) {
		t.Fatal("content deleted by RemoveVersion was not uploaded again")
	}
	if got, err := readAll(w, "2024/reject.jpg"); err != nil || !bytes.Equal(got, alone) {
		t.Fatalf("re-uploaded file: %v", err)
	}
}

func TestRemoveVersionRefusesBadPaths(t *testing.T) {
	ctx := context.Background()
	v, _, _ := pruneVault(t, nil)
	vp, _ := keep(t, v, "x.jpg", []byte("x"), time.Now())
	storetest.Put(t, v, "y.jpg", []byte("y"))
	for _, p := range []string{"", "y.jpg", ".trove/versions", ".trove/versions/", ".trove/versions/../y.jpg",
		".trove/versions//x.jpg", ".trove/versions/./x.jpg", "/.trove/versions/a/x.jpg", ".trove/versions/a/x.jpg/",
		".trove/catalog/trove.db", ".trove/versions/a\x00/x.jpg"} {
		if err := v.RemoveVersion(ctx, p); !errors.Is(err, store.ErrBadName) {
			t.Errorf("RemoveVersion(%q): %v, want ErrBadName", p, err)
		}
	}
	if err := v.RemoveVersion(ctx, ".trove/versions/2020-01-01T00-00-00Z/x.jpg"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("absent version: %v, want ErrNotExist", err)
	}
	if _, err := v.Stat(ctx, "y.jpg"); err != nil {
		t.Errorf("library name touched: %v", err)
	}
	if got := readVersion(t, v, vp); string(got) != "x" {
		t.Error("the version was touched")
	}
}

func TestRemoveVersionDeleteFails(t *testing.T) {
	ctx := context.Background()
	v, dir, l := pruneVault(t, func(b vault.Blobs) vault.Blobs { return noDelete{b} })
	vp, key := keep(t, v, "2024/reject.jpg", []byte("a reject"), time.Now())
	if err := v.RemoveVersion(ctx, vp); err != nil {
		t.Fatalf("a failed object delete must not fail RemoveVersion: %v", err)
	}
	wantGone(t, v, vp)
	if !objectExists(t, dir, key) {
		t.Fatal("object gone although Delete failed")
	}
	if s := l.String(); !strings.Contains(s, vp) || !strings.Contains(s, "delete refused") {
		t.Errorf("log %q does not tell of the failed delete", s)
	}
	wantGone(t, reattach(t, vault.DirBlobs{Dir: dir}, vault.Options{}), vp)
}

// blockGet holds reads of content objects until released (a commit's
// dedup read-back).
type blockGet struct {
	vault.Blobs
	armed   chan struct{} // closed: block
	entered chan struct{} // receives when a Get blocks
	release chan struct{}
}

func (b *blockGet) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	select {
	case <-b.armed:
		if strings.HasPrefix(key, "data/") {
			b.entered <- struct{}{}
			<-b.release
		}
	default:
	}
	return b.Blobs.Get(ctx, key)
}

// A commit of content that only a version refers to, running while that
// version is removed, keeps its object whatever the interleaving.
func TestRemoveVersionDuringCommit(t *testing.T) {
	ctx := context.Background()
	bg := &blockGet{armed: make(chan struct{}), entered: make(chan struct{}, 1), release: make(chan struct{})}
	v, dir, _ := pruneVault(t, func(b vault.Blobs) vault.Blobs { bg.Blobs = b; return bg })
	data := bytes.Repeat([]byte("back again "), 5_000)
	vp, key := keep(t, v, "2024/c.jpg", data, time.Now())
	close(bg.armed)
	var wg sync.WaitGroup
	var commitErr, removeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, commitErr = storetest.TryPut(ctx, v, "2024/c.jpg", data)
	}()
	select {
	case <-bg.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("commit did not reach its read-back")
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		removeErr = v.RemoveVersion(ctx, vp)
	}()
	time.Sleep(20 * time.Millisecond) // let RemoveVersion reach the key lock
	close(bg.release)
	wg.Wait()
	if commitErr != nil || removeErr != nil {
		t.Fatalf("commit: %v; remove: %v", commitErr, removeErr)
	}
	if !objectExists(t, dir, key) {
		t.Fatal("object of a file just committed was deleted")
	}
	if got, err := readAll(v, "2024/c.jpg"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("committed file: %v", err)
	}
}
