// Package config finds, loads, validates and writes Trove's configuration
// file (TOML) and knows where the catalog lives.
//
// Locations: with TROVE_HOME=DIR both config.toml and catalog.db live in DIR
// (portable installs, tests). Otherwise Linux follows XDG
// ($XDG_CONFIG_HOME/trove/config.toml, $XDG_DATA_HOME/trove/catalog.db) and
// macOS uses ~/Library/Application Support/Trove for both.
//
// Targets are not configured here: they are facts in the catalog (added with
// `trove target add`), so a drive that is away is still known.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/BurntSushi/toml"
)

// Media kinds a target may be.
var Media = []string{"ssd", "hdd", "nas", "raid", "cloud", "optical", "tape"}

// ValidMedium reports whether m is a known medium.
func ValidMedium(m string) bool {
	for _, k := range Media {
		if k == m {
			return true
		}
	}
	return false
}

// Policy is the 3-2-1 rule as configured.
type Policy struct {
	Copies           int `toml:"copies"`
	Media            int `toml:"media"`
	Offsite          int `toml:"offsite"`
	VerifyWithinDays int `toml:"verify_within_days"`
}

// Config is the content of config.toml.
type Config struct {
	Library  string `toml:"library"`  // the library folder
	Location string `toml:"location"` // where the library (this computer) is
	Medium   string `toml:"medium"`   // the library's medium
	Template string `toml:"template"` // where ingest places files, see media.Template
	Policy   Policy `toml:"policy"`

	Targets   map[string]TargetSettings `toml:"targets,omitempty"` // [targets.NAME]: schedules, windows, limits
	Alerts    Alerts                    `toml:"alerts,omitempty"`
	Retention Retention                 `toml:"retention"`
	Freshness Freshness                 `toml:"freshness"`
}

// Default returns the configuration a fresh `trove init` writes.
func Default(home string) Config {
	return Config{
		Library:   filepath.Join(home, "Pictures", "Trove"),
		Location:  "home",
		Medium:    "ssd",
		Template:  "{year}/{date} {project}/{name}",
		Policy:    Policy{Copies: 3, Media: 2, Offsite: 1, VerifyWithinDays: 90},
		Retention: Retention{KeepAllDays: 30, KeepMonthlyMonths: 12},
		Freshness: Freshness{OffsiteMaxDays: 30, UnseenMaxDays: 60},
	}
}

// Paths says where the config and the catalog are.
type Paths struct {
	Config  string
	Catalog string
}

// Locate returns the config and catalog paths for this user and platform.
func Locate() (Paths, error) {
	if dir := os.Getenv("TROVE_HOME"); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return Paths{}, fmt.Errorf("TROVE_HOME: %w", err)
		}
		return Paths{Config: filepath.Join(abs, "config.toml"), Catalog: filepath.Join(abs, "catalog.db")}, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return Paths{}, fmt.Errorf("find home directory (set TROVE_HOME): %w", err)
	}
	if runtime.GOOS == "darwin" {
		dir := filepath.Join(home, "Library", "Application Support", "Trove")
		return Paths{Config: filepath.Join(dir, "config.toml"), Catalog: filepath.Join(dir, "catalog.db")}, nil
	}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		cfg = filepath.Join(home, ".config")
	}
	data := os.Getenv("XDG_DATA_HOME")
	if data == "" {
		data = filepath.Join(home, ".local", "share")
	}
	return Paths{Config: filepath.Join(cfg, "trove", "config.toml"), Catalog: filepath.Join(data, "trove", "catalog.db")}, nil
}

// ErrNoConfig means Trove has not been set up yet.
var ErrNoConfig = errors.New("trove is not set up yet")

// Load reads and validates the config file (see Parse).
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf("%w: no config at %s (run `trove init`)", ErrNoConfig, path)
	}
	if err != nil {
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	return Parse(data, path)
}

// Validate checks every field and names the first bad one.
func (c Config) Validate() error {
	switch {
	case c.Library == "":
		return errors.New("library: must be set to a folder")
	case !filepath.IsAbs(c.Library):
		return fmt.Errorf("library: %q must be an absolute path", c.Library)
	case strings.TrimSpace(c.Location) == "":
		return errors.New("location: must name where this computer is (e.g. home, studio)")
	case !ValidMedium(c.Medium):
		return fmt.Errorf("medium: %q is not one of %s", c.Medium, strings.Join(Media, ", "))
	case c.Template == "":
		return errors.New("template: must be set (default {year}/{date} {project}/{name})")
	case c.Policy.Copies < 1 || c.Policy.Copies > 20:
		return fmt.Errorf("policy.copies: %d is out of range 1..20", c.Policy.Copies)
	case c.Policy.Media < 1 || c.Policy.Media > c.Policy.Copies:
		return fmt.Errorf("policy.media: %d must be between 1 and policy.copies (%d)", c.Policy.Media, c.Policy.Copies)
	case c.Policy.Offsite < 0 || c.Policy.Offsite > c.Policy.Copies:
		return fmt.Errorf("policy.offsite: %d must be between 0 and policy.copies (%d)", c.Policy.Offsite, c.Policy.Copies)
	case c.Policy.VerifyWithinDays < 0:
		return fmt.Errorf("policy.verify_within_days: %d must be 0 (never) or more", c.Policy.VerifyWithinDays)
	}
	return c.validateSections()
}

// Save writes the config durably with mode 0600 (it may later hold secrets).
func Save(path string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("# Trove configuration. Targets are kept in the catalog: see `trove target list`.\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return nil
}
