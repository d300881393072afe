package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c", "config.toml")
	want := Default("/home/ann")
	if err := Save(p, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode = %v, %v", fi.Mode(), err)
	}
	got, err := Load(p)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, %v", got, err)
	}
}

func TestLoadErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		`library = "rel"` + "\nlocation=\"home\"\nmedium=\"ssd\"\ntemplate=\"x\"\n[policy]\ncopies=3\nmedia=2\noffsite=1": "absolute",
		`library = "/l"` + "\nlocation=\"home\"\nmedium=\"floppy\"\ntemplate=\"x\"\n[policy]\ncopies=3\nmedia=2":          "medium",
		`library = "/l"` + "\nlocation=\"home\"\nmedium=\"ssd\"\ntemplate=\"x\"\ncolour=1\n[policy]\ncopies=3\nmedia=2":   "unknown setting colour",
		`library = "/l"` + "\nlocation=\"home\"\nmedium=\"ssd\"\ntemplate=\"x\"\n[policy]\ncopies=3\nmedia=5":             "policy.media",
		`library = [`: "read config",
	}
	for body, want := range cases {
		p := filepath.Join(dir, "config.toml")
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q) = %v, want error containing %q", body, err, want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil || !strings.Contains(err.Error(), "trove init") {
		t.Errorf("missing config error = %v", err)
	}
}

func TestLocateTroveHome(t *testing.T) {
	t.Setenv("TROVE_HOME", "/x/y")
	p, err := Locate()
	if err != nil || p.Config != "/x/y/config.toml" || p.Catalog != "/x/y/catalog.db" {
		t.Fatalf("Locate = %+v, %v", p, err)
	}
	t.Setenv("TROVE_HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "/cfg")
	t.Setenv("XDG_DATA_HOME", "/data")
	p, _ = Locate()
	if p.Config != "/cfg/trove/config.toml" || p.Catalog != "/data/trove/catalog.db" {
		t.Fatalf("Locate XDG = %+v", p)
	}
}

func TestSectionsValidated(t *testing.T) {
	base := "library = \"/l\"\nlocation=\"home\"\nmedium=\"ssd\"\ntemplate=\"x\"\n[policy]\ncopies=3\nmedia=2\noffsite=1\n"
	cases := map[string]string{
		"[targets.vault]\nschedule = \"daily 25:00\"\n":         "targets.vault.schedule",
		"[targets.vault]\nwindow = \"01:00-\"\n":                "targets.vault.window",
		"[targets.vault]\nbwlimit = \"fast\"\n":                 "targets.vault.bwlimit",
		"[alerts.email]\nhost = \"\"\nfrom=\"a\"\nto=[\"b\"]\n": "alerts.email.host",
		"[[alerts.webhook]]\nformat = \"slack\"\n":              "alerts.webhook[0]",
	}
	dir := t.TempDir()
	for extra, want := range cases {
		p := filepath.Join(dir, "config.toml")
		os.WriteFile(p, []byte(base+extra), 0o600)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q) = %v, want error containing %q", extra, err, want)
		}
	}
	p := filepath.Join(dir, "ok.toml")
	os.WriteFile(p, []byte(base+"[targets.vault]\nschedule = \"daily 02:00\"\nwindow = \"01:00-06:00\"\nbwlimit = \"10MiB/s\"\n"), 0o600)
	c, err := Load(p)
	if err != nil || c.Targets["vault"].Window != "01:00-06:00" {
		t.Fatalf("Load valid sections = %+v, %v", c.Targets, err)
	}
}
