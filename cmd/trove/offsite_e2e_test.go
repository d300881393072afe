//go:build linux

package main

// End-to-end tests of the off-site targets through the CLI, against real
// servers started by .ci/s3.sh (versitygw) and .ci/sshd.sh (OpenSSH, and
// rclone from Debian): a shoot on the library and a drive becomes PROTECTED
// once it is backed up off-site; verify, restore and where work on the
// remote copies; upload windows and bandwidth limits; and the fire drill:
// `trove recover` from a drive, an SFTP server or a vault alone.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/testenv"
)

// testPassphrase is the vaults' passphrase in these tests (TROVE_PASSPHRASE).
const testPassphrase = "correct horse battery staple"

// vaultEnv makes e's trove processes find the vault passphrase, and create
// vaults with a cheap work factor (tests only).
func vaultEnv(e *e2eEnv) {
	e.env = append(e.env, passphraseEnv+"="+testPassphrase, scryptEnv+"=12")
}

func needEnv(t *testing.T, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			testenv.Skip(t, "%s is not set (start the server with .ci/s3.sh or .ci/sshd.sh)", n)
		}
		out[n] = v
	}
	return out
}

// checkRestored compares a restored tree with the card's files.
func checkRestored(t *testing.T, f *fleet, dir string) {
	t.Helper()
	got := scanTree(t, dir)
	n := 0
	for _, name := range f.files {
		if s := got.files[name]; s != f.cardSum(name) {
			t.Errorf("%s in %s: sha256 %.12s, want %.12s", name, dir, s, f.cardSum(name))
		}
		n++
	}
	if len(got.temps) != 0 {
		t.Errorf("temporaries left in %s: %v", dir, got.temps)
	}
	if n != len(f.files) {
		t.Errorf("restored %d files, want %d", n, len(f.files))
	}
}

// offsiteCommon runs what every off-site kind must do once the target
// NAME was added to a fleet with the library and drive-a: before the backup
// the shoot is at risk; after it the shoot is PROTECTED (3 copies, 2 media,
// 1 off-site), verify passes and a restore from the target alone gives the
// card's bytes.
func offsiteCommon(t *testing.T, f *fleet, name string) {
	t.Helper()
	e := f.e
	e.must(3, "status", "--check")
	r := e.must(0, "backup", name)
	wantLine(t, r, r.stdout, name+": 4 files copied")
	wantLine(t, r, r.stdout, "Shoot: off-site complete")
	wantLine(t, r, r.stdout, "Backup complete")
	st := e.must(0, "status", "--check")
	wantLine(t, st, st.stdout, "PROTECTED")
	r = e.must(0, "verify", name)
	wantLine(t, r, r.stdout, name+": 4 of 4 copies verified now", "100% of "+name+" verified by")
	out := filepath.Join(t.TempDir(), "restored")
	r = e.must(0, "restore", "Shoot", "--to", out, "--from", name)
	wantLine(t, r, r.stdout, "Restored 4 files")
	checkRestored(t, f, out)
	r = e.must(0, "where", f.files[0])
	if !strings.Contains(r.stdout, name) || !strings.Contains(r.stdout, "remote ") {
		t.Errorf("where does not show the remote copy: %s", r)
	}
	r = e.must(0, "target", "list")
	wantLine(t, r, r.stdout, name, "remote, last reached")
	// Nothing new: a second backup copies nothing and says nothing about the shoot.
	r = e.must(0, "backup", name)
	wantLine(t, r, r.stdout, name+": 0 files copied")
	mustNotContain(t, r, r.stdout, "Shoot:")
}

// recoverFrom deletes TROVE_HOME and the library, recovers from the given
// target into a new library with a new TROVE_HOME, and checks the files and
// that `trove status` works there.
func recoverFrom(t *testing.T, f *fleet, args ...string) *e2eEnv {
	t.Helper()
	if err := os.RemoveAll(f.e.home); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(f.e.lib); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ne := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	ne.env = append(ne.env, passphraseEnv+"="+testPassphrase)
	r := ne.must(0, append([]string{"recover", "--to", ne.lib}, args...)...)
	wantLine(t, r, r.stdout, "Restored 4 files", "every one hash-checked")
	checkRestored(t, f, ne.lib)
	st := ne.must(0, "status")
	wantLine(t, st, st.stdout, "Shoot")
	// The new setup backs up and verifies like the old one.
	ne.must(0, "verify", "library")
	return ne
}

// TestE2EOffsiteS3Vault: an encrypted vault on a real S3 server.
func TestE2EOffsiteS3Vault(t *testing.T) {
	env := needEnv(t, "TROVE_TEST_S3_ENDPOINT", "TROVE_TEST_S3_BUCKET", "TROVE_TEST_S3_DIR", "AWS_ACCESS_KEY_ID")
	f := newFleet(t, 4, 100<<10, "drive-a")
	e := f.e
	vaultEnv(e)
	prefix := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	url := "s3://" + env["TROVE_TEST_S3_BUCKET"] + "/" + prefix
	r := e.must(0, "target", "add", "vault", url, "--endpoint", env["TROVE_TEST_S3_ENDPOINT"], "--location", "cloud")
	wantLine(t, r, r.stdout, "Added target vault: "+url+" (cloud, at cloud, encrypted vault on S3)")
	// The same bucket prefix twice is refused.
	e.must(2, "target", "add", "vault2", url, "--endpoint", env["TROVE_TEST_S3_ENDPOINT"], "--location", "cloud")
	offsiteCommon(t, f, "vault")

	// The bucket holds ciphertext only: no project name, no file name.
	root := filepath.Join(env["TROVE_TEST_S3_DIR"], env["TROVE_TEST_S3_BUCKET"], prefix)
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, leak := range []string{"Shoot", "IMG_0001", "2024-06-01"} {
			if bytes.Contains(b, []byte(leak)) || strings.Contains(p, leak) {
				t.Errorf("%s leaks %q", p, leak)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A budget downloads only what fits (one 100 KiB copy in 150 KiB).
	r = e.must(0, "verify", "vault", "--budget", "150KiB")
	wantLine(t, r, r.stdout, "vault: 1 of 4 copies verified now")

	// A wrong passphrase fails clearly and touches nothing.
	wrong := *e
	wrong.env = append(append([]string{}, e.env...), passphraseEnv+"=not the passphrase")
	r = wrong.must(4, "verify", "vault")
	wantLine(t, r, r.stdout, "wrong vault passphrase")

	ne := recoverFrom(t, f, "--from", url, "--endpoint", env["TROVE_TEST_S3_ENDPOINT"])
	// The recovered setup still knows the vault and can verify it.
	r = ne.must(0, "verify", "vault")
	wantLine(t, r, r.stdout, "vault: 4 of 4 copies verified now")
	// Recover with the wrong passphrase: exit 4, nothing written.
	bad := newEnv(t, filepath.Join(t.TempDir(), "home"), filepath.Join(t.TempDir(), "lib"))
	bad.env = append(bad.env, passphraseEnv+"=nope")
	r = bad.must(4, "recover", "--from", url, "--endpoint", env["TROVE_TEST_S3_ENDPOINT"], "--to", bad.lib)
	if !strings.Contains(r.stderr, "wrong vault passphrase") {
		t.Errorf("want the wrong passphrase named: %s", r)
	}
	if _, err := os.Stat(filepath.Join(bad.home, "config.toml")); err == nil {
		t.Errorf("a failed recover wrote a config")
	}
}

// TestE2EOffsiteSFTP: a NAS over SFTP with the plain layout.
func TestE2EOffsiteSFTP(t *testing.T) {
	env := needEnv(t, "TROVE_TEST_SFTP_ADDR", "TROVE_TEST_SFTP_USER", "TROVE_TEST_SFTP_KEY", "TROVE_TEST_SFTP_KNOWN_HOSTS", "TROVE_TEST_SFTP_DIR")
	f := newFleet(t, 4, 100<<10, "drive-a")
	e := f.e
	dir := filepath.Join(env["TROVE_TEST_SFTP_DIR"], fmt.Sprintf("e2e-%d", time.Now().UnixNano()))
	url := "sftp://" + env["TROVE_TEST_SFTP_USER"] + "@" + env["TROVE_TEST_SFTP_ADDR"] + dir
	e.env = append(e.env, "SSH_AUTH_SOCK=")
	r := e.must(0, "target", "add", "nas", url, "--location", "friends-studio",
		"--key-file", env["TROVE_TEST_SFTP_KEY"], "--known-hosts", env["TROVE_TEST_SFTP_KNOWN_HOSTS"])
	wantLine(t, r, r.stdout, "Added target nas: "+url+" (nas, at friends-studio, SFTP, plain files)")
	offsiteCommon(t, f, "nas")
	// The server's folder is checkable without Trove.
	c := exec.Command("sha256sum", "-c", ".trove/MANIFEST.sha256")
	c.Dir = dir
	if out, err := c.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") != 4 {
		t.Errorf("sha256sum -c on the server: %v\n%s", err, out)
	}
	ne := recoverFrom(t, f, "--from", url, "--key-file", env["TROVE_TEST_SFTP_KEY"], "--known-hosts", env["TROVE_TEST_SFTP_KNOWN_HOSTS"])
	ne.must(0, "verify", "nas")
}

// TestE2EOffsiteSFTPEncrypted: an encrypted vault on an SFTP server
// (--encrypt): the same cycle as the plain one, nothing readable on the
// server, and recover needs --encrypt (without it, a hint says so).
func TestE2EOffsiteSFTPEncrypted(t *testing.T) {
	env := needEnv(t, "TROVE_TEST_SFTP_ADDR", "TROVE_TEST_SFTP_USER", "TROVE_TEST_SFTP_KEY", "TROVE_TEST_SFTP_KNOWN_HOSTS", "TROVE_TEST_SFTP_DIR")
	f := newFleet(t, 4, 100<<10, "drive-a")
	e := f.e
	vaultEnv(e)
	dir := filepath.Join(env["TROVE_TEST_SFTP_DIR"], fmt.Sprintf("e2e-enc-%d", time.Now().UnixNano()))
	url := "sftp://" + env["TROVE_TEST_SFTP_USER"] + "@" + env["TROVE_TEST_SFTP_ADDR"] + dir
	e.env = append(e.env, "SSH_AUTH_SOCK=")
	keys := []string{"--key-file", env["TROVE_TEST_SFTP_KEY"], "--known-hosts", env["TROVE_TEST_SFTP_KNOWN_HOSTS"]}
	r := e.must(0, append([]string{"target", "add", "offsite", url, "--encrypt", "--location", "brother"}, keys...)...)
	wantLine(t, r, r.stdout, "Added target offsite: "+url+" (nas, at brother, encrypted vault over SFTP)")
	offsiteCommon(t, f, "offsite")
	// Nothing on the server names a file, a project or holds plain bytes.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, name := range f.files {
			base := filepath.Base(name)
			if strings.Contains(p, base) || strings.Contains(string(b), base) || strings.Contains(p, "Shoot") {
				t.Errorf("%s on the server reveals %q", p, base)
			}
		}
		return nil
	})
	fresh := *e
	fresh.env = append(append([]string(nil), e.env...), "TROVE_HOME="+filepath.Join(t.TempDir(), "home")) // the last value wins
	r = fresh.run(append([]string{"recover", "--from", url, "--to", filepath.Join(t.TempDir(), "x")}, keys...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "add --encrypt") {
		t.Errorf("recover without --encrypt: %s", r)
	}
	ne := recoverFrom(t, f, append([]string{"--from", url, "--encrypt"}, keys...)...)
	ne.must(0, "verify", "offsite")
}

// rcloneEnv writes an rclone config with a local remote "lr" and returns
// the URL of a fresh folder on it.
func rcloneEnv(t *testing.T, e *e2eEnv) (url, dir string) {
	t.Helper()
	if _, err := exec.LookPath("rclone"); err != nil {
		testenv.Skip(t, "rclone is not installed (.ci/sshd.sh installs it)")
	}
	conf := filepath.Join(t.TempDir(), "rclone.conf")
	if err := os.WriteFile(conf, []byte("[lr]\ntype = local\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.env = append(e.env, "RCLONE_CONFIG="+conf)
	dir = filepath.Join(t.TempDir(), "remote")
	return "rclone:lr:" + dir, dir
}

// TestE2EOffsiteRclone: an encrypted vault on an rclone remote.
func TestE2EOffsiteRclone(t *testing.T) {
	f := newFleet(t, 4, 100<<10, "drive-a")
	e := f.e
	vaultEnv(e)
	url, _ := rcloneEnv(t, e)
	r := e.must(0, "target", "add", "cloud", url, "--location", "cloud")
	wantLine(t, r, r.stdout, "Added target cloud: "+url+" (cloud, at cloud, encrypted vault through rclone)")
	offsiteCommon(t, f, "cloud")
	rc := ""
	for _, kv := range e.env {
		if strings.HasPrefix(kv, "RCLONE_CONFIG=") {
			rc = kv
		}
	}
	ne := recoverFromEnv(t, f, rc, "--from", url)
	ne.must(0, "verify", "cloud")
}

// recoverFromEnv is recoverFrom with an extra variable (KEY=VALUE) for the
// new setup.
func recoverFromEnv(t *testing.T, f *fleet, kv string, args ...string) *e2eEnv {
	t.Helper()
	k, v, _ := strings.Cut(kv, "=")
	t.Setenv(k, v)
	return recoverFrom(t, f, args...)
}

// TestE2EOffsiteWindow: a target outside its upload window gets nothing
// and says when it resumes; --now uploads; a bandwidth limit paces it.
func TestE2EOffsiteWindow(t *testing.T) {
	f := newFleet(t, 4, 100<<10, "drive-a")
	e := f.e
	vaultEnv(e)
	url, _ := rcloneEnv(t, e)
	e.must(0, "target", "add", "cloud", url, "--location", "cloud")
	// A window that is closed now: it opens in two hours.
	now := time.Now()
	open := now.Add(2 * time.Hour)
	win := fmt.Sprintf("%02d:%02d-%02d:%02d", open.Hour(), open.Minute(), open.Add(time.Hour).Hour(), open.Add(time.Hour).Minute())
	appendConfig(t, e, fmt.Sprintf("\n[targets.cloud]\nwindow = %q\nbwlimit = \"200KiB/s\"\n", win))
	r := e.must(0, "backup", "cloud")
	wantLine(t, r, r.stdout, "cloud: outside its upload window "+win, "resumes "+open.Format("15:04"))
	wantLine(t, r, r.stdout, "Shoot: 0% uploaded to cloud, resumes "+open.Format("15:04"))
	wantLine(t, r, r.stdout, "Backup done for now")
	e.must(3, "status", "--check")
	start := time.Now()
	r = e.must(0, "backup", "cloud", "--now")
	wantLine(t, r, r.stdout, "cloud: 4 files copied")
	wantLine(t, r, r.stdout, "Shoot: off-site complete")
	// 400 KiB (plus padding) at 200 KiB/s take well over a second.
	if d := time.Since(start); d < time.Second {
		t.Errorf("backup with bwlimit 200KiB/s sent 400 KiB in %v", d)
	}
	e.must(0, "status", "--check")
}

func appendConfig(t *testing.T, e *e2eEnv, text string) {
	t.Helper()
	p := filepath.Join(e.home, "config.toml")
	fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// TestE2ERecoverFolder: the fire drill from a backup drive alone, with its
// catalog snapshot; then without it (the manifest is checked, a file that
// differs from it is restored but reported UNVERIFIED).
func TestE2ERecoverFolder(t *testing.T) {
	f := newFleet(t, 4, 100<<10, "drive-a")
	drive := f.drives["drive-a"]
	recoverFrom(t, f, "--from", drive)

	// Without the snapshot, and with one file changed behind Trove's back.
	g := newFleet(t, 4, 100<<10, "drive-b")
	drive = g.drives["drive-b"]
	if err := os.Remove(filepath.Join(drive, ".trove", "catalog", "catalog.db")); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(drive, filepath.FromSlash(g.files[2]))
	flipByte(t, bad, 100)
	os.RemoveAll(g.e.home)
	os.RemoveAll(g.e.lib)
	dir := t.TempDir()
	ne := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	r := ne.must(1, "recover", "--from", drive, "--to", ne.lib)
	wantLine(t, r, r.stdout, "No usable catalog snapshot")
	wantLine(t, r, r.stdout, "UNVERIFIED: "+g.files[2], "differs from the target's manifest")
	wantLine(t, r, r.stdout, "Restored 4 files")
	for i, name := range g.files {
		s := sumFile(t, filepath.Join(ne.lib, filepath.FromSlash(name)))
		if i != 2 && s != g.cardSum(name) {
			t.Errorf("%s recovered wrong", name)
		}
		if i == 2 && s != sumFile(t, bad) {
			t.Errorf("the changed file was not restored as the drive holds it")
		}
	}
	st := ne.must(0, "status")
	wantLine(t, st, st.stdout, "Shoot")
	// Recovering into an existing setup is refused.
	ne.must(2, "recover", "--from", drive, "--to", ne.lib)
}
