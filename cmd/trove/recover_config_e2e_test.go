//go:build linux

package main

// End-to-end tests of the config travelling with the targets: `trove
// recover` brings back the policy, the per-target windows and limits, the
// retention and the alert settings; the paths of the lost computer are
// listed to check; secrets never reach a target; a target without a
// config (an older Trove) or with a broken one falls back to the defaults
// without failing the recover.

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/testenv"
)

// webhookSecret is a secret-like value (an ntfy topic URL) put in the
// config: it must never land on a target.
const webhookSecret = "https://ntfy.example.net/tr0ve-s3cret-topic-7f3a9c"

// oldPasswordFile is a path of the lost computer named by the config.
const oldPasswordFile = "/nonexistent/old-laptop/smtp-password"

// customizeConfig gives e's config a non-default policy, a window and a
// bandwidth limit for target, retention, and alerts with a secret webhook
// and an old computer's password file.
func customizeConfig(t *testing.T, e *e2eEnv, target string) config.Config {
	t.Helper()
	p := filepath.Join(e.home, "config.toml")
	c, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	c.Policy = config.Policy{Copies: 4, Media: 2, Offsite: 1, VerifyWithinDays: 45}
	c.Targets = map[string]config.TargetSettings{target: {Window: "01:00-06:00", BWLimit: "50MiB/s", Schedule: "daily 02:00"}}
	c.Retention.KeepAllDays = 60
	c.Alerts = config.Alerts{
		Email: &config.EmailAlerts{Host: "smtp.example.net", From: "trove@example.net", To: []string{"ann@example.net"},
			Username: "ann", PasswordFile: oldPasswordFile},
		Webhooks: []config.WebhookAlert{{URL: webhookSecret, Format: "ntfy"}},
	}
	if err := config.Save(p, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkRecoveredConfig loads the recovered setup's config and compares it
// with the customized one.
func checkRecoveredConfig(t *testing.T, ne *e2eEnv, want config.Config, target string) {
	t.Helper()
	got, err := config.Load(filepath.Join(ne.home, "config.toml"))
	if err != nil {
		t.Fatalf("the recovered config does not load: %v", err)
	}
	if got.Library != ne.lib {
		t.Errorf("recovered library = %q, want --to %q", got.Library, ne.lib)
	}
	if got.Policy != want.Policy {
		t.Errorf("recovered policy = %+v, want %+v", got.Policy, want.Policy)
	}
	if got.Targets[target] != want.Targets[target] {
		t.Errorf("recovered [targets.%s] = %+v, want %+v", target, got.Targets[target], want.Targets[target])
	}
	if got.Retention != want.Retention {
		t.Errorf("recovered retention = %+v, want %+v", got.Retention, want.Retention)
	}
	if got.Alerts.Email == nil || got.Alerts.Email.PasswordFile != oldPasswordFile || len(got.Alerts.Webhooks) != 0 {
		t.Errorf("recovered alerts = %+v (want the email settings, the inline webhook left out)", got.Alerts)
	}
}

// scanFor fails when any file below root contains needle.
func scanFor(t *testing.T, root string, needle []byte) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if bytes.Contains(b, needle) {
			t.Errorf("%s holds %q", p, needle)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no files below %s to scan", root)
	}
}

// freshRecover recovers from args into a new TROVE_HOME and library and
// returns the new setup with the result.
func freshRecover(t *testing.T, want int, env []string, args ...string) (*e2eEnv, result) {
	t.Helper()
	dir := t.TempDir()
	ne := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	ne.env = append(ne.env, env...)
	r := ne.must(want, append([]string{"recover", "--to", ne.lib}, args...)...)
	return ne, r
}

// TestE2ERecoverCarriesConfig: the fire drill from a backup drive brings
// the settings back; the drive holds no secret; an older drive (no config)
// and a broken config fall back to the defaults.
func TestE2ERecoverCarriesConfig(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	drive := testenv.MountTmpfs(t, 64<<20)
	e.must(0, "target", "add", "drive-a", drive, "--medium", "hdd", "--location", "home")
	want := customizeConfig(t, e, "drive-a")
	card := filepath.Join(dir, "card")
	makeCard(t, card, 3, 50<<10, 11)
	e.must(0, "ingest", card, "--project", "Shoot", "--to", "drive-a")

	carried, err := os.ReadFile(filepath.Join(drive, ".trove", "config.toml"))
	if err != nil {
		t.Fatalf("the drive carries no config: %v", err)
	}
	if !strings.Contains(string(carried), "copies = 4") || !strings.Contains(string(carried), "not carried: alerts.webhook[0]") {
		t.Errorf("the drive's config.toml:\n%s", carried)
	}
	scanFor(t, drive, []byte("tr0ve-s3cret"))

	os.RemoveAll(e.home)
	os.RemoveAll(e.lib)
	ne, r := freshRecover(t, 0, nil, "--from", drive)
	wantLine(t, r, r.stdout, "Restored 3 files")
	wantLine(t, r, r.stdout, "Settings restored from the config the target carries", "policy 4 copies, 2 media, 1 off-site")
	wantLine(t, r, r.stdout, "Not carried, set again in config.toml", "alerts.webhook[0]")
	wantLine(t, r, r.stdout, "Check these paths on this computer", "alerts.email.password_file "+oldPasswordFile)
	checkRecoveredConfig(t, ne, want, "drive-a")
	// The new setup uses it: status judges by 4 copies.
	st := ne.run("status")
	wantLine(t, st, st.stdout, "Shoot")
	ne.must(0, "verify", "library")

	// A drive an older Trove wrote carries no config: the defaults, said
	// in one line.
	if err := os.Remove(filepath.Join(drive, ".trove", "config.toml")); err != nil {
		t.Fatal(err)
	}
	ne, r = freshRecover(t, 0, nil, "--from", drive)
	wantLine(t, r, r.stdout, "The target carries no config", "default policy")
	got, err := config.Load(filepath.Join(ne.home, "config.toml"))
	if err != nil || got.Policy != config.Default("/").Policy {
		t.Errorf("recovered without a carried config: policy %+v, %v", got.Policy, err)
	}

	// A broken config on the drive: a warning, the defaults, exit 0.
	if err := os.WriteFile(filepath.Join(drive, ".trove", "config.toml"), []byte("[policy]\ncopies = 0\nsecret = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ne, r = freshRecover(t, 0, nil, "--from", drive)
	wantLine(t, r, r.stderr, "warning: the config the target carries is not usable")
	wantLine(t, r, r.stdout, "config.toml has the default policy")
	if _, err := config.Load(filepath.Join(ne.home, "config.toml")); err != nil {
		t.Errorf("recovered setup after a broken carried config: %v", err)
	}
}

// TestE2ERecoverCarriesConfigVault: the config travels encrypted inside an
// S3 vault (nothing of it readable in the bucket) and comes back with the
// vault alone.
func TestE2ERecoverCarriesConfigVault(t *testing.T) {
	env := needEnv(t, "TROVE_TEST_S3_ENDPOINT", "TROVE_TEST_S3_BUCKET", "TROVE_TEST_S3_DIR", "AWS_ACCESS_KEY_ID")
	f := newFleet(t, 2, 50<<10, "drive-a")
	e := f.e
	vaultEnv(e)
	prefix := fmt.Sprintf("carry-%d", time.Now().UnixNano())
	url := "s3://" + env["TROVE_TEST_S3_BUCKET"] + "/" + prefix
	e.must(0, "target", "add", "vault", url, "--endpoint", env["TROVE_TEST_S3_ENDPOINT"], "--location", "cloud")
	want := customizeConfig(t, e, "vault")
	e.must(0, "backup", "vault", "--now") // the window is closed most of the day

	root := filepath.Join(env["TROVE_TEST_S3_DIR"], env["TROVE_TEST_S3_BUCKET"], prefix)
	for _, leak := range []string{"tr0ve-s3cret", "verify_within_days", "01:00-06:00", oldPasswordFile} {
		scanFor(t, root, []byte(leak))
	}

	os.RemoveAll(e.home)
	os.RemoveAll(e.lib)
	ne, r := freshRecover(t, 0, []string{passphraseEnv + "=" + testPassphrase},
		"--from", url, "--endpoint", env["TROVE_TEST_S3_ENDPOINT"])
	wantLine(t, r, r.stdout, "Restored 2 files")
	wantLine(t, r, r.stdout, "Settings restored from the config the target carries")
	checkRecoveredConfig(t, ne, want, "vault")
	noSecrets(t, r, testPassphrase)
}
