package rclone

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/testenv"
)

func requireRclone(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("rclone"); err != nil {
		testenv.Skip(t, "rclone not installed (Debian: apt-get install rclone; CI: .ci/sshd.sh installs it)")
	}
}

// localRemote returns a Remote on rclone's local backend, configured
// through a config file of its own (RCLONE_CONFIG).
func localRemote(t *testing.T) (*Remote, string) {
	t.Helper()
	requireRclone(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "rclone.conf")
	if err := os.WriteFile(conf, []byte("[vaultdisk]\ntype = local\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "vault")
	r, err := New("vaultdisk:"+root, Options{Config: conf})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	return r, root
}

func TestLocalRemote(t *testing.T) {
	r, root := localRemote(t)
	if r.backendAtomic(context.Background()) {
		t.Fatal("rclone's local backend taken for an atomic one")
	}
	testBlobs(t, r)
	noTemporaries(t, root)
}

// noTemporaries fails if a temporary upload is left below root.
func noTemporaries(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), tmpMarker) {
			t.Errorf("temporary left behind: %s", p)
		}
		return nil
	})
}

// TestSFTPRemote runs the same checks through rclone's SFTP backend against
// the OpenSSH server of .ci/sshd.sh.
func TestSFTPRemote(t *testing.T) {
	r, _ := sftpRemote(t, "rclone")
	if err := r.Check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	testBlobs(t, r)
}

// sftpRemote returns a Remote on rclone's SFTP backend talking to the
// OpenSSH server of .ci/sshd.sh (skipped, or failed in CI, without it),
// rooted in a fresh folder named after prefix, and that folder's local path.
func sftpRemote(t *testing.T, prefix string) (*Remote, string) {
	t.Helper()
	requireRclone(t)
	env := map[string]string{}
	for _, k := range []string{"ADDR", "USER", "KEY", "KNOWN_HOSTS", "DIR"} {
		v := os.Getenv("TROVE_TEST_SFTP_" + k)
		if v == "" {
			testenv.Skip(t, "TROVE_TEST_SFTP_%s not set: source .ci/sshd.sh", k)
		}
		env[k] = v
	}
	host, port, _ := strings.Cut(env["ADDR"], ":")
	conf := filepath.Join(t.TempDir(), "rclone.conf")
	cfg := fmt.Sprintf("[nas]\ntype = sftp\nhost = %s\nport = %s\nuser = %s\nkey_file = %s\nknown_hosts_file = %s\n",
		host, port, env["USER"], env["KEY"], env["KNOWN_HOSTS"])
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(env["DIR"], fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()))
	t.Cleanup(func() { os.RemoveAll(root) })
	r, err := New("nas:"+root, Options{Config: conf})
	if err != nil {
		t.Fatal(err)
	}
	return r, root
}

func testBlobs(t *testing.T, r *Remote) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	objs := map[string][]byte{
		"data/ab/ab12":        []byte("first blob"),
		"data/ab/ab34":        big,
		"data/cd/cd56":        nil, // zero bytes
		"snapshots/0001.age":  []byte("snapshot"),
		"config":              []byte("vault config"),
		"data/abc-not-in-dir": []byte("x"),
	}
	for k, v := range objs {
		if err := r.Put(ctx, k, bytes.NewReader(v), int64(len(v))); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	for k, v := range objs {
		n, err := r.Stat(ctx, k)
		if err != nil || n != int64(len(v)) {
			t.Fatalf("stat %s = %d, %v; want %d", k, n, err, len(v))
		}
		rc, err := r.Get(ctx, k)
		if err != nil {
			t.Fatalf("get %s: %v", k, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("get %s: %d bytes, %v; want %d bytes", k, len(got), err, len(v))
		}
	}
	list := func(prefix string) []string {
		var keys []string
		err := r.List(ctx, prefix, func(k string, size int64) error {
			if size != int64(len(objs[k])) {
				t.Errorf("list %s: size %d, want %d", k, size, len(objs[k]))
			}
			keys = append(keys, k)
			return nil
		})
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		if !slices.IsSorted(keys) {
			t.Errorf("list %q not in byte order: %q", prefix, keys)
		}
		return keys
	}
	if got, want := list(""), []string{"config", "data/ab/ab12", "data/ab/ab34", "data/abc-not-in-dir", "data/cd/cd56", "snapshots/0001.age"}; !slices.Equal(got, want) {
		t.Fatalf("list all = %q, want %q", got, want)
	}
	if got, want := list("data/ab"), []string{"data/ab/ab12", "data/ab/ab34", "data/abc-not-in-dir"}; !slices.Equal(got, want) {
		t.Fatalf("list data/ab = %q, want %q", got, want)
	}
	if got, want := list("data/ab/"), []string{"data/ab/ab12", "data/ab/ab34"}; !slices.Equal(got, want) {
		t.Fatalf("list data/ab/ = %q, want %q", got, want)
	}
	if got := list("nothing/here/"); len(got) != 0 {
		t.Fatalf("list of a missing folder = %q", got)
	}
	stop := errors.New("stop")
	calls := 0
	if err := r.List(ctx, "", func(string, int64) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("list with fn error: %v after %d calls", err, calls)
	}

	// Missing keys and folders are ErrNotExist.
	if _, err := r.Stat(ctx, "data/ab/none"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("stat missing: %v", err)
	}
	if _, err := r.Stat(ctx, "data/ab"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("stat of a folder: %v", err)
	}
	if _, err := r.Get(ctx, "no/such/key"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := r.Get(ctx, "data"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("get of a folder (would cat every file below): %v", err)
	}
	if err := r.Delete(ctx, "data/ab/none"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("delete missing: %v", err)
	}

	// Put replaces.
	if err := r.Put(ctx, "config", strings.NewReader("v2"), 2); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.Stat(ctx, "config"); n != 2 {
		t.Fatalf("replaced size %d", n)
	}
	// A reader giving fewer or more bytes than announced fails the Put.
	if err := r.Put(ctx, "short", strings.NewReader("abc"), 10); err == nil {
		t.Fatal("short body accepted")
	}
	if err := r.Put(ctx, "long", strings.NewReader("abcdef"), 3); err == nil {
		t.Fatal("long body accepted")
	}
	for _, k := range []string{"short", "long"} {
		if _, err := r.Stat(ctx, k); !errors.Is(err, store.ErrNotExist) {
			t.Fatalf("a refused body left an object under %s: %v", k, err)
		}
	}
	// A failing reader fails the Put with its error.
	boom := errors.New("card reader unplugged")
	if err := r.Put(ctx, "failing", io.MultiReader(strings.NewReader("abc"), errReaderOf{boom}), 100); !errors.Is(err, boom) {
		t.Fatalf("failing body: %v", err)
	}

	// Delete.
	if err := r.Delete(ctx, "data/ab/ab12"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stat(ctx, "data/ab/ab12"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("stat after delete: %v", err)
	}

	// Bad keys never reach rclone.
	for _, k := range []string{"", "/abs", "a/../b", "a//b", "dir/", "..", "a\nb", `a\b`, "d/.trove-tmp-x"} {
		if err := r.Put(ctx, k, strings.NewReader("x"), 1); !errors.Is(err, store.ErrBadName) {
			t.Errorf("put %q: %v", k, err)
		}
		if _, err := r.Stat(ctx, k); !errors.Is(err, store.ErrBadName) {
			t.Errorf("stat %q: %v", k, err)
		}
	}
}

type errReaderOf struct{ err error }

func (e errReaderOf) Read([]byte) (int, error) { return 0, e.err }

// TestCancel: a Put whose reader blocks, and a Get that is never read,
// end when the context is cancelled, within bounded time.
func TestCancel(t *testing.T) {
	r, root := localRemote(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("some bytes, then nothing"))
	start := time.Now()
	err := r.Put(ctx, "stuck", &ctxBlock{ctx: ctx, r: pr}, 1<<20)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("put with a stuck reader: %v after %v", err, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put with a stuck reader: %v, want the context's error", err)
	}
	if _, err := r.Stat(context.Background(), "stuck"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("a cancelled upload left an object: %v", err)
	}
	noTemporaries(t, root)
}

// ctxBlock reads from r until ctx ends.
type ctxBlock struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxBlock) Read(p []byte) (int, error) {
	type res struct {
		n   int
		err error
	}
	ch := make(chan res, 1)
	go func() { n, err := c.r.Read(p); ch <- res{n, err} }()
	select {
	case x := <-ch:
		return x.n, x.err
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}

// TestNoSecretsToRclone runs a stand-in rclone that records its argv and
// environment: the vault passphrase and other TROVE_* variables never reach
// it, and connection-string remotes (credentials in argv) are refused.
func TestNoSecretsToRclone(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "rclone")
	script := "#!/bin/sh\n{ echo \"ARGS: $*\"; env; } >> " + filepath.Join(dir, "record") + "\nexit 3\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TROVE_PASSPHRASE", "hunter2-vault-passphrase")
	t.Setenv("TROVE_S3_SECRET", "other-secret")
	r, err := New("cloud:bucket/vault", Options{Binary: fake, Config: filepath.Join(dir, "rclone.conf")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r.Stat(ctx, "k")
	r.Put(ctx, "k", strings.NewReader("x"), 1)
	r.Delete(ctx, "k")
	r.List(ctx, "", func(string, int64) error { return nil })
	rec, err := os.ReadFile(filepath.Join(dir, "record"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2-vault-passphrase", "other-secret", "TROVE_"} {
		if bytes.Contains(rec, []byte(secret)) {
			t.Fatalf("rclone saw %q:\n%s", secret, rec)
		}
	}
	if !bytes.Contains(rec, []byte("RCLONE_CONFIG="+filepath.Join(dir, "rclone.conf"))) || !bytes.Contains(rec, []byte("--ask-password=false")) {
		t.Fatalf("config not passed through the environment, or prompting allowed:\n%s", rec)
	}

	for _, remote := range []string{":s3,access_key_id=AKIA,secret_access_key=SeCrEt:bucket", "s3,secret_access_key=SeCrEt:bucket", "no-colon"} {
		_, err := New(remote, Options{Binary: fake})
		if err == nil || strings.Contains(err.Error(), "SeCrEt") {
			t.Errorf("New(%q) = %v: want a refusal that does not echo the secret", remote, err)
		}
	}
	if got, err := ParseURL("rclone:gdrive:Photos/Trove"); err != nil || got != "gdrive:Photos/Trove" {
		t.Fatalf("ParseURL = %q, %v", got, err)
	}
	if _, err := New("x:y", Options{Binary: filepath.Join(dir, "missing")}); err != nil {
		t.Fatal(err)
	}
	r, _ = New("x:y", Options{Binary: filepath.Join(dir, "missing")})
	if _, err := r.Stat(ctx, "k"); !errors.Is(err, ErrNoRclone) {
		t.Fatalf("missing binary: %v, want ErrNoRclone", err)
	}
}

func TestUnknownRemote(t *testing.T) {
	requireRclone(t)
	conf := filepath.Join(t.TempDir(), "rclone.conf")
	os.WriteFile(conf, []byte("[other]\ntype = local\n"), 0o600)
	r, err := New("nosuchremote:vault", Options{Config: conf})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Check(context.Background())
	if err == nil || errors.Is(err, store.ErrNotExist) {
		t.Fatalf("check of an unknown remote: %v", err)
	}
	t.Logf("unknown remote: %v", err)

	// Backend types known to publish uploads atomically are detected from
	// `rclone listremotes --long` (offline: it only reads the config).
	os.WriteFile(conf, []byte("[gd]\ntype = drive\n\n[disk]\ntype = local\n"), 0o600)
	for remote, want := range map[string]bool{"gd:Trove": true, "disk:/x": false} {
		r, err := New(remote, Options{Config: conf})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.backendAtomic(context.Background()); got != want {
			t.Errorf("%s: atomic = %v, want %v", remote, got, want)
		}
	}
}
