//go:build linux

package main

// End-to-end tests of exit code 4, "a secret was refused", against the real
// S3 server started by .ci/s3.sh (and OpenSSH from .ci/sshd.sh): a wrong
// vault passphrase or refused S3 credentials fail fast, name the target,
// give the hint, never show the secret, and do not stop the other targets
// of a backup.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingProxy forwards to the S3 server and counts the requests, so a
// test can see that a refusal is not retried.
type countingProxy struct {
	n   atomic.Int64
	srv *httptest.Server
}

func newCountingProxy(t *testing.T, endpoint string) *countingProxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the Host header the client signed
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.n.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// noSecrets fails if any of the secrets shows in what trove printed.
func noSecrets(t *testing.T, r result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("a secret (%.4s…) is in the output of %s", s, r)
		}
	}
}

// refusedFast runs trove, wants exit 4 within a few seconds and the
// target's name in the output, and returns the result.
func refusedFast(t *testing.T, e *e2eEnv, target string, args ...string) result {
	t.Helper()
	start := time.Now()
	r := e.must(exitRefused, args...)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a refused secret took %v to report (retries?): %s", d, r)
	}
	if !strings.Contains(r.stdout+r.stderr, target) {
		t.Errorf("the output does not name the target %q: %s", target, r)
	}
	return r
}

// TestE2EExitCodeWrongPassphrase: a wrong TROVE_PASSPHRASE on backup,
// verify and recover exits 4 at once, names the vault and says where the
// passphrase goes; a backup still brings the other targets up to date.
func TestE2EExitCodeWrongPassphrase(t *testing.T) {
	env := needEnv(t, "TROVE_TEST_S3_ENDPOINT", "TROVE_TEST_S3_BUCKET", "AWS_ACCESS_KEY_ID")
	f := newFleet(t, 2, 50<<10, "drive-a")
	e := f.e
	vaultEnv(e)
	url := "s3://" + env["TROVE_TEST_S3_BUCKET"] + "/" + fmt.Sprintf("exit4-%d", time.Now().UnixNano())
	e.must(0, "target", "add", "vault", url, "--endpoint", env["TROVE_TEST_S3_ENDPOINT"], "--location", "cloud")
	e.must(0, "backup", "vault")

	const wrongPass = "Wr0ng-Passphrase-Xyzzy"
	wrong := *e
	wrong.env = append(append([]string{}, e.env...), passphraseEnv+"="+wrongPass) // the last value wins
	hint := "hint: vault: give the vault's passphrase in " + passphraseEnv

	// Backup of every target: drive-a gets the new file, the vault is
	// refused, the run ends with 4 and the hint.
	extra := filepath.Join(e.lib, shootDir("Shoot"), "extra.jpg")
	writeFile(t, extra, randomBytes(99, 10<<10))
	r := refusedFast(t, &wrong, "vault", "backup")
	wantLine(t, r, r.stdout, "vault", "wrong vault passphrase", url)
	wantLine(t, r, r.stderr, hint)
	noSecrets(t, r, wrongPass, testPassphrase)
	if _, err := os.Stat(filepath.Join(f.drives["drive-a"], shootDir("Shoot"), "extra.jpg")); err != nil {
		t.Errorf("the refused vault stopped the backup to drive-a: %v\n%s", err, r)
	}
	// Another failure besides the refusal (a drive that is not plugged in,
	// exit 1 on its own) does not hide it: 4 wins, both are listed.
	gone := t.TempDir()
	e.must(0, "target", "add", "drive-b", gone, "--medium", "hdd", "--location", "home")
	if err := os.RemoveAll(gone); err != nil {
		t.Fatal(err)
	}
	r = e.must(exitFailure, "backup")
	r = refusedFast(t, &wrong, "vault", "backup")
	wantLine(t, r, r.stdout, "drive-b", "not attached")
	wantLine(t, r, r.stderr, hint)

	for _, args := range [][]string{{"verify", "vault"}, {"verify"}, {"restore", "Shoot", "--to", t.TempDir(), "--from", "vault"}} {
		r = refusedFast(t, &wrong, "vault", args...)
		wantLine(t, r, r.stdout+r.stderr, "vault", "wrong vault passphrase")
		wantLine(t, r, r.stderr, hint)
		noSecrets(t, r, wrongPass, testPassphrase)
	}

	// Recover from the vault alone with the wrong passphrase: 4, and no
	// setup written.
	dir := t.TempDir()
	bad := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	bad.env = append(bad.env, passphraseEnv+"="+wrongPass)
	r = refusedFast(t, bad, url, "recover", "--from", url, "--endpoint", env["TROVE_TEST_S3_ENDPOINT"], "--to", bad.lib)
	wantLine(t, r, r.stderr, "wrong vault passphrase", url)
	wantLine(t, r, r.stderr, "hint:", passphraseEnv)
	noSecrets(t, r, wrongPass)
	if _, err := os.Stat(filepath.Join(bad.home, "config.toml")); err == nil {
		t.Errorf("a refused recover wrote a config")
	}

	// The right passphrase still works: nothing was damaged.
	e.must(0, "verify", "vault")
}

// TestE2EExitCodeS3AccessDenied: a wrong AWS secret is refused by the
// server: exit 4 within seconds, a handful of requests (no retry storm),
// the hint names the AWS variables, and the secret never shows.
func TestE2EExitCodeS3AccessDenied(t *testing.T) {
	env := needEnv(t, "TROVE_TEST_S3_ENDPOINT", "TROVE_TEST_S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
	proxy := newCountingProxy(t, env["TROVE_TEST_S3_ENDPOINT"])
	f := newFleet(t, 2, 50<<10, "drive-a")
	e := f.e
	vaultEnv(e)
	bucket := env["TROVE_TEST_S3_BUCKET"]
	url := "s3://" + bucket + "/" + fmt.Sprintf("exit4-aws-%d", time.Now().UnixNano())
	e.must(0, "target", "add", "vault", url, "--endpoint", proxy.srv.URL, "--location", "cloud")
	e.must(0, "backup", "vault")

	const wrongSecret = "wR0ngSecretKeyForTrovesTestsOnly0123456789"
	wrong := *e
	wrong.env = append(append([]string{}, e.env...), "AWS_SECRET_ACCESS_KEY="+wrongSecret)
	hint := "hint: vault: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
	for _, args := range [][]string{{"backup", "vault"}, {"backup"}, {"verify", "vault"}} {
		proxy.n.Store(0)
		r := refusedFast(t, &wrong, "vault", args...)
		wantLine(t, r, r.stdout+r.stderr, "vault", "access denied")
		wantLine(t, r, r.stderr, hint)
		noSecrets(t, r, wrongSecret, env["AWS_SECRET_ACCESS_KEY"], testPassphrase)
		if n := proxy.n.Load(); n > 4 {
			t.Errorf("trove %s sent %d requests with refused credentials (want a handful, no retries)", strings.Join(args, " "), n)
		}
	}
	// Adding a target with refused credentials.
	proxy.n.Store(0)
	r := refusedFast(t, &wrong, "vault2", "target", "add", "vault2", url+"-2", "--endpoint", proxy.srv.URL, "--location", "cloud")
	wantLine(t, r, r.stderr, "hint:", "AWS_SECRET_ACCESS_KEY")
	noSecrets(t, r, wrongSecret, env["AWS_SECRET_ACCESS_KEY"])
	if n := proxy.n.Load(); n > 4 {
		t.Errorf("target add sent %d requests with refused credentials", n)
	}
	// Recover with refused credentials: 4, no setup written.
	dir := t.TempDir()
	bad := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	bad.env = append(bad.env, "AWS_SECRET_ACCESS_KEY="+wrongSecret, passphraseEnv+"="+testPassphrase)
	r = refusedFast(t, bad, bucket, "recover", "--from", url, "--endpoint", proxy.srv.URL, "--to", bad.lib)
	noSecrets(t, r, wrongSecret, env["AWS_SECRET_ACCESS_KEY"], testPassphrase)
	if _, err := os.Stat(filepath.Join(bad.home, "config.toml")); err == nil {
		t.Errorf("a refused recover wrote a config")
	}
}

// TestE2EExitCodeSFTPLogin: an SSH key the server does not accept is a
// refused secret too (exit 4, with a hint about the key).
func TestE2EExitCodeSFTPLogin(t *testing.T) {
	env := needEnv(t, "TROVE_TEST_SFTP_ADDR", "TROVE_TEST_SFTP_USER", "TROVE_TEST_SFTP_KNOWN_HOSTS", "TROVE_TEST_SFTP_DIR")
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed")
	}
	key := filepath.Join(t.TempDir(), "stranger")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.env = append(e.env, "SSH_AUTH_SOCK=")
	e.initLib()
	url := "sftp://" + env["TROVE_TEST_SFTP_USER"] + "@" + env["TROVE_TEST_SFTP_ADDR"] + filepath.Join(env["TROVE_TEST_SFTP_DIR"], fmt.Sprintf("exit4-%d", time.Now().UnixNano()))
	r := refusedFast(t, e, "nas", "target", "add", "nas", url, "--location", "studio",
		"--key-file", key, "--known-hosts", env["TROVE_TEST_SFTP_KNOWN_HOSTS"])
	wantLine(t, r, r.stderr, "nas", "refused the login")
	wantLine(t, r, r.stderr, "hint:", "SSH key")
}
