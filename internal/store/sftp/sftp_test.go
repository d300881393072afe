package sftp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/storetest"
)

var testCounter int

// newTarget prepares a fresh target folder below TROVE_TEST_SFTP_DIR and
// attaches it.
func newTarget(t *testing.T) (*Store, Config) {
	t.Helper()
	cfg, dir := envConfig(t)
	testCounter++
	cfg.Path = path.Join(dir, fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano(), testCounter))
	ctx := context.Background()
	id := Identity{TargetID: "tgt-" + filepath.Base(cfg.Path), Name: "NAS"}
	caps, err := Prepare(ctx, cfg, id)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	if !caps.Fsync || !caps.PosixRename || !caps.StatVFS {
		t.Errorf("OpenSSH should offer fsync, posix-rename and statvfs: %+v", caps)
	}
	s, err := Attach(ctx, cfg, id.TargetID)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	t.Cleanup(func() {
		s.c.RemoveAll(cfg.Path)
		s.Close()
	})
	return s, cfg
}

func TestConformance(t *testing.T) {
	envConfig(t) // skip here rather than in every subtest
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := newTarget(t)
		return s
	})
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Config
		url  string
	}{
		{"sftp://anna@nas.local/volume1/trove", Config{User: "anna", Host: "nas.local", Path: "/volume1/trove"}, "sftp://anna@nas.local/volume1/trove"},
		{"sftp://anna@nas.local:2222/srv/x/", Config{User: "anna", Host: "nas.local", Port: 2222, Path: "/srv/x"}, "sftp://anna@nas.local:2222/srv/x"},
		{"sftp://anna@[::1]:22/~/backups", Config{User: "anna", Host: "::1", Port: 22, Path: "backups"}, "sftp://anna@[::1]/~/backups"},
	} {
		got, err := ParseURL(tc.in)
		if err != nil || got.User != tc.want.User || got.Host != tc.want.Host || got.Port != tc.want.Port || got.Path != tc.want.Path {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if got.URL() != tc.url {
			t.Errorf("URL() = %q, want %q", got.URL(), tc.url)
		}
	}
	for _, bad := range []string{"sftp://nas/x", "sftp://a@nas", "sftp://a@nas/", "http://a@nas/x", "sftp://a@nas:99999/x", "sftp://a@nas/x?y=1"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
	_, err := ParseURL("sftp://anna:s3cret-pw@nas/x")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("password URL: %v (must fail without echoing the password)", err)
	}
}

func TestIdentity(t *testing.T) {
	s, cfg := newTarget(t)
	ctx := context.Background()
	// The same folder attached as another target is refused.
	if _, err := Attach(ctx, cfg, "someone-else"); !errors.Is(err, store.ErrWrongTarget) {
		t.Fatalf("attach with another id: %v, want ErrWrongTarget", err)
	}
	if _, err := Prepare(ctx, cfg, Identity{TargetID: "someone-else"}); !errors.Is(err, store.ErrWrongTarget) {
		t.Fatalf("prepare over another target: %v, want ErrWrongTarget", err)
	}
	// Prepare is idempotent for the same id.
	if _, err := Prepare(ctx, cfg, s.Identity()); err != nil {
		t.Fatalf("prepare again: %v", err)
	}
	// A folder without identity (a NAS volume not mounted) and a missing
	// folder are "not attached".
	empty := cfg
	empty.Path = cfg.Path + "/empty"
	if err := s.c.Mkdir(empty.Path); err != nil {
		t.Fatal(err)
	}
	if _, err := Attach(ctx, empty, s.Identity().TargetID); !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("attach of an empty folder: %v, want ErrNotAttached", err)
	}
	empty.Path = cfg.Path + "/missing"
	if _, err := Attach(ctx, empty, s.Identity().TargetID); !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("attach of a missing folder: %v, want ErrNotAttached", err)
	}
	// Identity is the plain target.json of a folder target.
	rc, err := s.c.Open(cfg.Path + "/.trove/target.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(b, []byte(`"target_id": "`+s.Identity().TargetID+`"`)) {
		t.Fatalf("target.json = %s", b)
	}
}

func TestUnknownHost(t *testing.T) {
	cfg, dir := envConfig(t)
	cfg.Path = dir
	cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "known_hosts")}
	os.WriteFile(cfg.KnownHosts[0], []byte("other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEG5di0nRDI+I0Q2j9ejt5mpYSpHR8nzGTn4PJ0lmJnT\n"), 0o600)
	_, err := Attach(context.Background(), cfg, "x")
	if !errors.Is(err, ErrUnknownHost) || !strings.Contains(err.Error(), "ssh -p") || !strings.Contains(err.Error(), "SHA256:") {
		t.Fatalf("unknown host: %v, want ErrUnknownHost telling to ssh once, with the fingerprint", err)
	}
	if errors.Is(err, ErrHostKeyChanged) {
		t.Fatal("an unknown host is not a changed one")
	}
	// No known_hosts file at all: the same.
	cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "none")}
	if _, err := Attach(context.Background(), cfg, "x"); !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("no known_hosts: %v", err)
	}
}

// TestHostKeyChanged restarts a real sshd on the same port with a new host
// key: the connection must be refused loudly.
func TestHostKeyChanged(t *testing.T) {
	srv := newSSHServer(t)
	key1 := srv.start(t)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, kh, []byte(knownhosts.Line([]string{srv.addr()}, key1)+"\n"))
	dir := t.TempDir()
	cfg := srv.config(t, kh, dir)
	ctx := context.Background()
	if _, err := Prepare(ctx, cfg, Identity{TargetID: "nas"}); err != nil {
		t.Fatalf("prepare with the recorded key: %v", err)
	}
	s, err := Attach(ctx, cfg, "nas")
	if err != nil {
		t.Fatalf("attach with the recorded key: %v", err)
	}
	storetest.Put(t, s, "a.jpg", []byte("a"))
	s.Close()

	srv.stop()
	key2 := srv.start(t) // same port, new host key
	_, err = Attach(ctx, cfg, "nas")
	if !errors.Is(err, ErrHostKeyChanged) {
		t.Fatalf("attach after the host key changed: %v, want ErrHostKeyChanged", err)
	}
	msg := err.Error()
	for _, want := range []string{"CHANGED", ssh.FingerprintSHA256(key2), kh + ":1", "ssh-keygen -R"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if _, err := Prepare(ctx, cfg, Identity{TargetID: "nas"}); !errors.Is(err, ErrHostKeyChanged) {
		t.Fatalf("prepare after the host key changed: %v", err)
	}
	// Nothing was written through the impostor.
	if _, err := os.Stat(filepath.Join(dir, "a.jpg")); err != nil {
		t.Fatal(err)
	}
}

// TestEncryptedKey logs in with a passphrase-protected key; a wrong
// passphrase fails without the passphrase in the error.
func TestEncryptedKey(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := ssh.NewPublicKey(priv.Public())
	srv := newSSHServer(t, pub)
	hostKey := srv.start(t)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, kh, []byte(knownhosts.Line([]string{srv.addr()}, hostKey)+"\n"))
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	const pass = "correct horse battery staple"
	writeKey(t, keyFile, priv, pass)
	cfg := srv.config(t, kh, t.TempDir())
	cfg.KeyFile = keyFile
	cfg.Passphrase = func() ([]byte, error) { return []byte(pass), nil }
	if _, err := Prepare(context.Background(), cfg, Identity{TargetID: "nas"}); err != nil {
		t.Fatalf("with the right passphrase: %v", err)
	}
	cfg.Passphrase = func() ([]byte, error) { return []byte("wrong-Passphrase-123"), nil }
	_, err := Attach(context.Background(), cfg, "nas")
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") || strings.Contains(err.Error(), "wrong-Passphrase-123") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	cfg.Passphrase = nil
	if _, err := Attach(context.Background(), cfg, "nas"); err == nil {
		t.Fatal("encrypted key without a passphrase source accepted")
	}
	// A key the server does not know.
	cfg.KeyFile = filepath.Join(t.TempDir(), "other")
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	writeKey(t, cfg.KeyFile, other, "")
	if _, err := Attach(context.Background(), cfg, "nas"); !errors.Is(err, ErrAuth) {
		t.Fatalf("unknown user key: %v, want ErrAuth", err)
	}
}

// TestConnectionCut cuts the TCP connection mid-write: the error says "not
// attached", no final name appears, and a later run removes the temporary.
func TestConnectionCut(t *testing.T) {
	s, cfg := newTarget(t)
	ctx := context.Background()
	proxy := newCutProxy(t, cfg.addr())
	pcfg := cfg
	pcfg.HostKeyAlias = cfg.addr() // known_hosts names the real address
	host, port, _ := net.SplitHostPort(proxy.addr())
	pcfg.Host = host
	fmt.Sscan(port, &pcfg.Port)
	ps, err := Attach(ctx, pcfg, s.Identity().TargetID)
	if err != nil {
		t.Fatalf("attach through the proxy: %v", err)
	}
	defer ps.Close()
	storetest.Put(t, ps, "cut/before.jpg", []byte("fine"))

	proxy.cutAfter(1 << 20)
	const size = 16 << 20
	w, err := ps.Create(ctx, "cut/big.mp4", size)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	done := make(chan error, 1)
	go func() {
		var werr error
		for off := 0; off < size && werr == nil; off += 64 << 10 {
			_, werr = w.Write(data[off : off+64<<10])
		}
		if werr != nil {
			done <- werr
			return
		}
		_, werr = w.Commit(ctx, storetest.Sum(data))
		done <- werr
	}()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("write through a cut connection did not return within 20s")
	}
	if !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("write through a cut connection: %v, want ErrNotAttached", err)
	}
	w.Abort()
	if _, err := ps.Stat(ctx, "cut/before.jpg"); !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("stat on the dead connection: %v, want ErrNotAttached", err)
	}

	// The server holds no final name, only the temporary, which Walk hides.
	if _, err := s.Stat(ctx, "cut/big.mp4"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("final name after the cut: %v", err)
	}
	if got := storetest.List(t, s, ""); len(got) != 1 || got[0] != "cut/before.jpg" {
		t.Fatalf("walk after the cut: %q", got)
	}
	temps := tempsIn(t, s, "cut")
	if len(temps) != 1 {
		t.Fatalf("temporaries after the cut: %q, want 1", temps)
	}

	// The next run: a young temporary may be another process's live one
	// and stays; once it is older than StaleAfter, the first write into
	// its folder removes it.
	next := func() *Store {
		n, err := Attach(ctx, cfg, s.Identity().TargetID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	storetest.Put(t, next(), "cut/after1.jpg", []byte("1"))
	if got := tempsIn(t, s, "cut"); len(got) != 1 {
		t.Fatalf("young temporary removed: %q", got)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := s.c.Chtimes(s.abs(temps[0]), old, old); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, next(), "cut/after2.jpg", []byte("2"))
	if got := tempsIn(t, s, "cut"); len(got) != 0 {
		t.Fatalf("stale temporary kept: %q", got)
	}
	// CleanTemporaries does the same for the whole tree.
	w2, _ := s.Create(ctx, "deep/er/x.jpg", 1)
	w2.Write([]byte("x"))
	n, err := s.CleanTemporaries(ctx, time.Hour)
	if err != nil || n != 0 {
		t.Fatalf("clean with a live temporary: %d, %v", n, err)
	}
	t2 := w2.(*store.TempWriter).Temp().(*temp)
	t2.f.Close() // simulate a crashed writer: not ours any more
	s.forget(t2.tmp)
	if n, err := s.CleanTemporaries(ctx, 0); err != nil || n != 1 {
		t.Fatalf("clean: removed %d, %v; want 1", n, err)
	}
}

// TestHungServer: a server that stops answering is detected by the
// keepalive; calls return ErrNotAttached instead of hanging.
func TestHungServer(t *testing.T) {
	s, cfg := newTarget(t)
	ctx := context.Background()
	proxy := newCutProxy(t, cfg.addr())
	pcfg := cfg
	pcfg.HostKeyAlias = cfg.addr()
	host, port, _ := net.SplitHostPort(proxy.addr())
	pcfg.Host = host
	fmt.Sscan(port, &pcfg.Port)
	pcfg.KeepAlive = 200 * time.Millisecond
	ps, err := Attach(ctx, pcfg, s.Identity().TargetID)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	storetest.Put(t, ps, "h/a.jpg", []byte("a"))
	proxy.stalled.Store(true)
	start := time.Now()
	done := make(chan error, 1)
	go func() { _, err := ps.Stat(ctx, "h/a.jpg"); done <- err }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stat on a hung server did not return within 10s")
	}
	if !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("stat on a hung server: %v, want ErrNotAttached", err)
	}
	t.Logf("hung server detected after %v", time.Since(start).Round(time.Millisecond))
}

func tempsIn(t *testing.T, s *Store, dir string) []string {
	t.Helper()
	ents, err := s.c.ReadDir(s.abs(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if isTemp(e.Name()) {
			out = append(out, dir+"/"+e.Name())
		}
	}
	return out
}

func TestPreserveAndMeta(t *testing.T) {
	s, _ := newTarget(t)
	ctx := context.Background()
	storetest.Put(t, s, "2024/shoot/a.jpg", []byte("v1"))
	at := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	vp, err := s.Preserve(ctx, "2024/shoot/a.jpg", at)
	if err != nil {
		t.Fatal(err)
	}
	if vp != ".trove/versions/2024-06-01T12-00-00Z/2024/shoot/a.jpg" {
		t.Fatalf("version path %q", vp)
	}
	storetest.Put(t, s, "2024/shoot/a.jpg", []byte("v2"))
	vp2, err := s.Preserve(ctx, "2024/shoot/a.jpg", at)
	if err != nil || vp2 == vp {
		t.Fatalf("second preserve at the same time: %q, %v", vp2, err)
	}
	rc, err := s.OpenVersion(ctx, vp)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "v1" {
		t.Fatalf("version holds %q", b)
	}
	if _, err := s.OpenVersion(ctx, "../etc/passwd"); !errors.Is(err, store.ErrBadName) {
		t.Fatalf("OpenVersion outside versions: %v", err)
	}
	if got := storetest.List(t, s, ""); len(got) != 0 {
		t.Fatalf("walk lists versions: %q", got)
	}

	for i, content := range []string{"first manifest\n", "second\n"} {
		if err := s.WriteMeta(ctx, ".trove/MANIFEST.sha256", strings.NewReader(content)); err != nil {
			t.Fatalf("write meta %d: %v", i, err)
		}
		rc, err := s.ReadMeta(ctx, ".trove/MANIFEST.sha256")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != content {
			t.Fatalf("meta read %q, want %q", b, content)
		}
	}
	for _, bad := range []string{".trove/target.json", "x.txt", ".trove/versions/x", "../README.txt"} {
		if err := s.WriteMeta(ctx, bad, strings.NewReader("x")); !errors.Is(err, store.ErrBadName) {
			t.Errorf("WriteMeta(%q): %v", bad, err)
		}
	}
	if _, err := s.ReadMeta(ctx, "README.txt"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("missing README: %v", err)
	}
}

func TestFullRefusedEarly(t *testing.T) {
	s, _ := newTarget(t)
	free, total, err := s.Usage()
	if err != nil || total == 0 {
		t.Fatalf("usage: %d %d %v", free, total, err)
	}
	_, err = s.Create(context.Background(), "huge.mov", int64(free)+1<<30)
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("create larger than free space: %v, want ErrFull", err)
	}
}

// TestPublishRace: many writers commit the same name at once; the server's
// link-based rename lets exactly one win, and nobody replaces the winner.
func TestPublishRace(t *testing.T) {
	s, _ := newTarget(t)
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := storetest.TryPut(context.Background(), s, "race/same.jpg", []byte(fmt.Sprintf("writer %d", i)))
			errs <- err
		}()
	}
	won := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrExist):
			t.Errorf("losing writer: %v, want ErrExist", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers published, want exactly 1", won)
	}
	got := string(storetest.Get(t, s, "race/same.jpg"))
	if !strings.HasPrefix(got, "writer ") {
		t.Fatalf("content %q", got)
	}
	if temps := tempsIn(t, s, "race"); len(temps) != 0 {
		t.Fatalf("losers left temporaries: %q", temps)
	}
}
