package targetmeta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/store"
)

// The config travels with the targets so that `trove recover` can bring
// back the policy, schedules, windows, limits, template and alert settings
// with the photos. The catalog keeps the carried form of the config the
// last command ran with (CarryConfig, under CarriedConfigKey), and Refresh
// writes it to the target as ConfigName beside the catalog snapshot. What
// travels and what never does is config.Carried's contract.

// ConfigName is where a target carries the config.
const ConfigName = ".trove/config.toml"

// CarriedConfigKey is the catalog meta key holding the carried config text
// (config.MarshalCarried), so the catalog snapshot carries it too.
const CarriedConfigKey = "carried_config"

// maxConfigSize bounds what ReadConfig reads: a config is a few KiB.
const maxConfigSize = 1 << 20

// CarryConfig records the carried form of c in the catalog for the next
// Refresh of every target. It writes only when the text changed.
func CarryConfig(cat *catalog.Catalog, c config.Config) error {
	text, err := config.MarshalCarried(c)
	if err != nil {
		return err
	}
	if old, err := cat.Meta(CarriedConfigKey); err == nil && old == string(text) {
		return nil
	}
	return cat.SetMeta(CarriedConfigKey, string(text))
}

// writeConfig writes the carried config (when the catalog has one) to the
// target.
func writeConfig(ctx context.Context, cat *catalog.Catalog, t catalog.Target, ms store.MetaStore) error {
	text, err := cat.Meta(CarriedConfigKey)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil // no command recorded a config yet
	}
	if err != nil {
		return err
	}
	if err := ms.WriteMeta(ctx, ConfigName, bytes.NewReader([]byte(text))); err != nil {
		return fmt.Errorf("write the config on %s: %w", t.Name, err)
	}
	return cat.SetMeta(writtenKey(t), textSum(text))
}

// ConfigStale reports whether the config the catalog carries differs from
// the one last written to t (or none was written there yet): a job that
// otherwise has nothing to write may Refresh the target so that a changed
// config travels too.
func ConfigStale(cat *catalog.Catalog, t catalog.Target) bool {
	text, err := cat.Meta(CarriedConfigKey)
	if err != nil {
		return false
	}
	on, err := cat.Meta(writtenKey(t))
	return err != nil || on != textSum(text)
}

// writtenKey is the catalog meta key recording which config text was last
// written to t.
func writtenKey(t catalog.Target) string { return "carried_config_on:" + t.ID }

func textSum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Carried is a config read back from a target.
type Carried struct {
	Config config.Config
	// NotCarried names the settings that were left out when it was
	// written (secrets: set them again).
	NotCarried []string
}

// ReadConfig reads the config a target carries (ConfigName) and checks it
// with the rules config.Load applies. It wraps store.ErrNotExist when the
// target carries none (written by an older Trove).
func ReadConfig(ctx context.Context, ms store.MetaStore) (Carried, error) {
	rc, err := ms.ReadMeta(ctx, ConfigName)
	if err != nil {
		return Carried{}, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxConfigSize+1))
	if err != nil {
		return Carried{}, fmt.Errorf("read %s: %w", ConfigName, err)
	}
	if len(data) > maxConfigSize {
		return Carried{}, fmt.Errorf("%s is larger than %d bytes: not a Trove config", ConfigName, maxConfigSize)
	}
	return ParseCarried(data)
}

// ParseCarried parses carried config text (from a target, or from a
// catalog snapshot's CarriedConfigKey).
func ParseCarried(data []byte) (Carried, error) {
	c, err := config.Parse(data, "carried by the target")
	if err != nil {
		return Carried{}, err
	}
	return Carried{Config: c, NotCarried: config.NotCarried(data)}, nil
}
