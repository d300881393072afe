package sftp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/storetest"
)

// awkward names: quotes, spaces, shell syntax, a leading dash, a
// backslash and a newline (sha256sum escapes those in its output), unicode.
var awkwardNames = []string{
	"2024/2024-06-01 O'Brien \"Wedding\"/IMG 0001 'it''s'.JPG",
	"2024/-rf/--version",
	"2024/$(touch PWNED) `touch PWNED2` ; touch PWNED3 & |x>y.CR3",
	"2024/back\\slash and\nnewline.jpg",
	"2024/Zoë Ångström 日本/ß.heic",
}

func TestRemoteSum(t *testing.T) {
	s, cfg := newTarget(t)
	ctx := context.Background()
	for i, name := range awkwardNames {
		data := seeded(100_000+i, byte(i))
		storetest.Put(t, s, name, data)
		sum, size, err := s.RemoteSum(ctx, name)
		if err != nil {
			t.Fatalf("RemoteSum(%q): %v", name, err)
		}
		if sum != storetest.Sum(data) || size != int64(len(data)) {
			t.Fatalf("RemoteSum(%q) = %s, %d; want %s, %d", name, sum, size, storetest.Sum(data), len(data))
		}
	}
	for _, p := range []string{"PWNED", "PWNED2", "PWNED3"} {
		for _, dir := range []string{cfg.Path, cfg.Path + "/2024", os.Getenv("HOME")} {
			if _, err := s.c.Lstat(dir + "/" + p); err == nil {
				t.Fatalf("a name ran a shell command: %s/%s exists", dir, p)
			}
		}
	}
	if s.hashTool != toolSha256sum {
		t.Errorf("tool remembered: %v", s.hashTool)
	}

	// A flipped byte on the server's disk gives another sum.
	name := awkwardNames[0]
	data := seeded(100_000, 0)
	f, err := s.c.OpenFile(s.abs(name), os.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{data[54321] ^ 0x01}, 54321); err != nil {
		t.Fatal(err)
	}
	f.Close()
	flipped := append([]byte(nil), data...)
	flipped[54321] ^= 0x01
	sum, size, err := s.RemoteSum(ctx, name)
	if err != nil || sum == storetest.Sum(data) || sum != storetest.Sum(flipped) || size != int64(len(data)) {
		t.Fatalf("after a flipped byte: %s, %d, %v; want %s", sum, size, err, storetest.Sum(flipped))
	}

	// Missing objects, folders and symlinks are ErrNotExist; bad names
	// never reach the server.
	if err := s.c.Symlink(s.abs(name), s.abs("2024/link.jpg")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"2024/none.jpg", "nowhere/none.jpg", "2024", "2024/link.jpg"} {
		if _, _, err := s.RemoteSum(ctx, n); !errors.Is(err, store.ErrNotExist) {
			t.Errorf("RemoteSum(%q): %v, want ErrNotExist", n, err)
		}
	}
	for _, n := range []string{"../etc/passwd", "/etc/passwd", ".trove/target.json", ""} {
		if _, _, err := s.RemoteSum(ctx, n); !errors.Is(err, store.ErrBadName) {
			t.Errorf("RemoteSum(%q): %v, want ErrBadName", n, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.RemoteSum(cctx, name); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestRemoteSumFallback: without sha256sum the server's shasum is used;
// with neither, ErrUnsupported, remembered for the connection.
func TestRemoteSumFallback(t *testing.T) {
	s, _ := newTarget(t)
	ctx := context.Background()
	data := []byte("fallback test")
	storetest.Put(t, s, "a/b.jpg", data)
	defer func(a, b string) { sha256sumCmd, shasumCmd = a, b }(sha256sumCmd, shasumCmd)

	sha256sumCmd = "trove-no-such-sha256sum"
	sum, _, err := s.RemoteSum(ctx, "a/b.jpg")
	if err != nil || sum != storetest.Sum(data) {
		t.Fatalf("with shasum: %s, %v", sum, err)
	}
	if s.hashTool != toolShasum {
		t.Fatalf("tool remembered: %v, want shasum", s.hashTool)
	}

	s.hashTool = toolUnknown
	shasumCmd = "trove-no-such-shasum -a 256"
	_, _, err = s.RemoteSum(ctx, "a/b.jpg")
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "neither sha256sum nor shasum") {
		t.Fatalf("without tools: %v, want ErrUnsupported", err)
	}
	sha256sumCmd, shasumCmd = "sha256sum", "shasum -a 256"
	if _, _, err := s.RemoteSum(ctx, "a/b.jpg"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("second call on the same connection: %v, want ErrUnsupported without asking again", err)
	}
}

// TestRemoteSumSFTPOnly: an account limited to SFTP (ForceCommand
// internal-sftp) stores and reads files, but cannot hash on the server.
func TestRemoteSumSFTPOnly(t *testing.T) {
	srv := newSSHServer(t)
	srv.extra = "ForceCommand internal-sftp\n"
	hostKey := srv.start(t)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, kh, []byte(knownhosts.Line([]string{srv.addr()}, hostKey)+"\n"))
	cfg := srv.config(t, kh, t.TempDir())
	ctx := context.Background()
	if _, err := Prepare(ctx, cfg, Identity{TargetID: "nas"}); err != nil {
		t.Fatal(err)
	}
	s, err := Attach(ctx, cfg, "nas")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte("sftp only")
	storetest.Put(t, s, "x/y.jpg", data)
	for i := range 2 {
		start := time.Now()
		_, _, err := s.RemoteSum(ctx, "x/y.jpg")
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("call %d on an sftp-only login: %v, want ErrUnsupported", i, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("call %d took %v", i, d)
		}
		t.Logf("call %d: %v", i, err)
	}
	if got := storetest.Get(t, s, "x/y.jpg"); string(got) != string(data) {
		t.Fatal("the store still works")
	}
}
