package rclone

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/store/vault"
)

var _ vault.Fingerprinter = (*Remote)(nil)

func TestFingerprints(t *testing.T) {
	ctx := context.Background()
	r, _ := localRemote(t)
	objs := map[string][]byte{"data/ab/ab12": []byte("first blob"), "data/cd/cd34": []byte("second"), "index/1": []byte("i")}
	for k, v := range objs {
		if err := r.Put(ctx, k, bytes.NewReader(v), int64(len(v))); err != nil {
			t.Fatal(err)
		}
	}
	md5of := func(b []byte) string { s := md5.Sum(b); return "md5:" + hex.EncodeToString(s[:]) }
	var got []string
	if err := r.ListFingerprints(ctx, "data/", func(key string, size int64, fp string) error {
		got = append(got, key)
		if size != int64(len(objs[key])) || fp != md5of(objs[key]) {
			t.Errorf("%s: %d bytes, %q; want %d, %q", key, size, fp, len(objs[key]), md5of(objs[key]))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[data/ab/ab12 data/cd/cd34]" {
		t.Fatalf("listed %v", got)
	}
	size, fp, err := r.Fingerprint(ctx, "data/ab/ab12")
	if err != nil || size != 10 || fp != md5of(objs["data/ab/ab12"]) {
		t.Fatalf("Fingerprint = %d, %q, %v", size, fp, err)
	}
	if _, _, err := r.Fingerprint(ctx, "data/none"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Fingerprint of a missing key: %v", err)
	}
	if fingerprint(map[string]string{"sha1": "b", "md5": "a", "crc32": ""}) != "md5:a,sha1:b" {
		t.Fatal("fingerprint not sorted or keeps empty hashes")
	}
}

// countingRemote counts downloads (Get) and keeps the Remote's other
// abilities (Fingerprinter) by embedding it.
type countingRemote struct {
	*Remote
	gets atomic.Int64
}

func (c *countingRemote) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Remote.Get(ctx, key)
}

// hidden looks like a Blobs without checksums (as every Blobs looked to
// the vault before it recorded them).
type hidden struct{ vault.Blobs }

func rcloneVault(t *testing.T, b vault.Blobs) *vault.Vault {
	t.Helper()
	ctx := context.Background()
	if err := vault.Init(ctx, b, "rclone test passphrase", vault.Options{ScryptLogN: 10}); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Attach(ctx, b, "rclone test passphrase", vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkAll(t *testing.T, v *vault.Vault, names ...string) map[string]store.ServerFinding {
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

func expectState(t *testing.T, got map[string]store.ServerFinding, name string, state store.ServerState, detail string) {
	t.Helper()
	if f := got[name]; f.State != state || !strings.Contains(f.Detail, detail) {
		t.Errorf("%s: %s (%s); want %s with %q", name, f.State, f.Detail, state, detail)
	}
}

// TestServerCheckLocalRemote: a vault on rclone's local backend checks
// every copy from one hashed listing, without a download. The local
// backend hashes the files anew, so even bytes damaged in place show.
func TestServerCheckLocalRemote(t *testing.T) {
	r, root := localRemote(t)
	testServerCheck(t, r, root)
}

// TestServerCheckSFTPRemote: the same through rclone's SFTP backend, whose
// hashes the server computes (md5sum over SSH) against .ci/sshd.sh.
func TestServerCheckSFTPRemote(t *testing.T) {
	r, root := sftpRemote(t, "rclone-check")
	testServerCheck(t, r, root)
}

func testServerCheck(t *testing.T, r *Remote, root string) {
	ctx := context.Background()
	// Written by a vault that kept no fingerprints: one name.
	old := rcloneVault(t, hidden{r})
	legacy := bytes.Repeat([]byte("legacy "), 30_000)
	storetest.Put(t, old, "old/legacy.JPG", legacy)

	c := &countingRemote{Remote: r}
	v, err := vault.Attach(ctx, c, "rclone test passphrase", vault.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	photo := bytes.Repeat([]byte("photo "), 200_000)
	ra := storetest.Put(t, v, "2024/a.JPG", photo)
	storetest.Put(t, v, "2024/copy of a.JPG", photo) // dedup
	rb := storetest.Put(t, v, "2024/b.JPG", bytes.Repeat([]byte("other "), 100_000))
	rx := storetest.Put(t, v, "2024/a.xmp", []byte("<x/>"))
	names := []string{"2024/a.JPG", "2024/copy of a.JPG", "2024/b.JPG", "2024/a.xmp", "old/legacy.JPG"}

	gets := c.gets.Load()
	got := checkAll(t, v, names...)
	if n := c.gets.Load() - gets; n != 0 {
		t.Fatalf("ServerCheck made %d downloads", n)
	}
	for _, n := range names[:4] {
		expectState(t, got, n, store.ServerOK, "")
	}
	expectState(t, got, "old/legacy.JPG", store.ServerUnknown, "no checksum recorded")

	// verify downloads the legacy copy and records it proven.
	if !bytes.Equal(storetest.Get(t, v, "old/legacy.JPG"), legacy) {
		t.Fatal("legacy content differs")
	}
	if err := v.RecordProven(ctx, []string{"old/legacy.JPG"}); err != nil {
		t.Fatal(err)
	}
	expectState(t, checkAll(t, v, "old/legacy.JPG"), "old/legacy.JPG", store.ServerOK, "")

	// Damage on the server: b truncated, a flipped in place (same size,
	// no new upload), the sidecar deleted.
	file := func(key string) string { return filepath.Join(root, filepath.FromSlash(key)) }
	if err := os.Truncate(file(rb.Stored), 1234); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(file(ra.Stored), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff, 0xfe}, 5000)
	f.Close()
	if err := r.Delete(ctx, rx.Stored); err != nil {
		t.Fatal(err)
	}
	got = checkAll(t, v, names...)
	expectState(t, got, "2024/b.JPG", store.ServerChanged, "size 1,234 bytes on the server")
	expectState(t, got, "2024/a.JPG", store.ServerChanged, "checksum changed")
	expectState(t, got, "2024/copy of a.JPG", store.ServerChanged, "checksum changed")
	expectState(t, got, "2024/a.xmp", store.ServerMissing, "not on the server")
	expectState(t, got, "old/legacy.JPG", store.ServerOK, "")
	for _, n := range names {
		t.Logf("%s: %s %s", n, got[n].State, got[n].Detail)
	}
}
