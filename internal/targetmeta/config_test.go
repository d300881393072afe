package targetmeta

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
)

// folderTarget returns a catalog and an attached, empty folder target.
func folderTarget(t *testing.T) (*catalog.Catalog, catalog.Target, *local.Local, string) {
	t.Helper()
	cat, err := catalog.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	dir := t.TempDir()
	tg := catalog.Target{ID: "t1", Name: "drive-a", Kind: catalog.KindFolder, Path: dir, Medium: "hdd", Location: "home"}
	if err := cat.AddTarget(tg); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Prepare(dir, local.Identity{Format: 1, TargetID: "t1", Name: "drive-a"}); err != nil {
		t.Fatal(err)
	}
	l, err := local.Attach(dir, "t1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return cat, tg, l, dir
}

func TestRefreshCarriesConfig(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	cat, tg, l, dir := folderTarget(t)

	// Before any command recorded a config, Refresh writes none.
	if err := Refresh(ctx, cat, tg, l, now); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfig(ctx, l); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("ReadConfig on a target without a config = %v, want ErrNotExist", err)
	}
	if ConfigStale(cat, tg) {
		t.Errorf("ConfigStale with no config recorded")
	}

	const secret = "https://ntfy.example/tr0ve-s3cret-topic"
	c := config.Default("/home/ann")
	c.Policy = config.Policy{Copies: 4, Media: 2, Offsite: 1, VerifyWithinDays: 30}
	c.Targets = map[string]config.TargetSettings{"drive-a": {Window: "01:00-06:00", BWLimit: "10MiB/s"}}
	c.Alerts.Webhooks = []config.WebhookAlert{{URL: secret}, {URLEnv: "HOOK"}}
	if err := CarryConfig(cat, c); err != nil {
		t.Fatal(err)
	}
	if !ConfigStale(cat, tg) {
		t.Errorf("ConfigStale = false before the config was written to the target")
	}
	if err := Refresh(ctx, cat, tg, l, now); err != nil {
		t.Fatal(err)
	}
	if ConfigStale(cat, tg) {
		t.Errorf("ConfigStale = true right after Refresh")
	}
	got, err := ReadConfig(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Policy != c.Policy || got.Config.Targets["drive-a"].Window != "01:00-06:00" {
		t.Errorf("carried config = %+v", got.Config)
	}
	if len(got.Config.Alerts.Webhooks) != 1 || got.Config.Alerts.Webhooks[0].URLEnv != "HOOK" {
		t.Errorf("carried webhooks = %+v, want only the url_env one", got.Config.Alerts.Webhooks)
	}
	if len(got.NotCarried) != 1 || !strings.Contains(got.NotCarried[0], "alerts.webhook[0]") {
		t.Errorf("NotCarried = %q", got.NotCarried)
	}
	// The secret is nowhere on the target: not in the config, not in the
	// catalog snapshot, not in the README.
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("s3cret")) {
			t.Errorf("%s holds the webhook's secret", p)
		}
		return nil
	})
	if n < 4 {
		t.Fatalf("only %d files on the target", n)
	}

	// A changed config is stale until the next Refresh; an unchanged one
	// is not rewritten in the catalog.
	c.Policy.Copies = 5
	if err := CarryConfig(cat, c); err != nil {
		t.Fatal(err)
	}
	if !ConfigStale(cat, tg) {
		t.Errorf("ConfigStale = false after the config changed")
	}

	// What ReadConfig refuses: an edited, invalid config.
	if err := l.WriteMeta(ctx, ConfigName, strings.NewReader("[policy]\ncopies = 0\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfig(ctx, l); err == nil || errors.Is(err, store.ErrNotExist) {
		t.Errorf("ReadConfig of an invalid config = %v, want a validation error", err)
	}
	if err := l.WriteMeta(ctx, ConfigName, bytes.NewReader(bytes.Repeat([]byte("#"), maxConfigSize+10))); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfig(ctx, l); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ReadConfig of a huge file = %v", err)
	}
}
