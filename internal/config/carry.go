package config

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"

	"github.com/BurntSushi/toml"
)

// This file is the config as it travels with the targets: Trove writes it
// to every target beside the catalog snapshot (.trove/config.toml, inside a
// vault encrypted like every meta file), so `trove recover` can bring back
// the policy, schedules, upload windows, bandwidth limits, naming template,
// retention, freshness and alert settings when the computer is lost.
//
// What is carried: every setting, except what may be a secret. The config
// holds no password or key itself (passwords come from the environment or
// files it names), with one exception: a webhook URL given inline (url =)
// is often the secret (a Slack hook, an ntfy topic), so such a webhook is
// left out and named in a "# not carried:" line; one given by url_env
// travels. File paths (alerts.email.password_file, ca_file) and the names
// of environment variables travel as they are: names and paths, not
// secrets.

// NotCarriedPrefix starts each line of a carried config that names a
// setting left out because it may be a secret.
const NotCarriedPrefix = "# not carried: "

// Carried returns the config as it may travel to a target, and the
// settings left out (each "alerts.webhook[N] (why)"). c is not changed.
func (c Config) Carried() (Config, []string) {
	out := c
	var dropped []string
	out.Targets = nil
	if len(c.Targets) > 0 {
		out.Targets = make(map[string]TargetSettings, len(c.Targets))
		for k, v := range c.Targets {
			out.Targets[k] = v
		}
	}
	if c.Alerts.Email != nil {
		e := *c.Alerts.Email
		e.To = append([]string(nil), e.To...)
		out.Alerts.Email = &e
	}
	out.Alerts.Webhooks = nil
	for i, w := range c.Alerts.Webhooks {
		if w.URL != "" {
			dropped = append(dropped, fmt.Sprintf("alerts.webhook[%d] (its url may hold a secret: give it again, or use url_env)", i))
			continue
		}
		hdr := make(map[string]string, len(w.HeaderEnv))
		for k, v := range w.HeaderEnv {
			hdr[k] = v
		}
		if len(hdr) == 0 {
			hdr = nil
		}
		w.HeaderEnv = hdr
		out.Alerts.Webhooks = append(out.Alerts.Webhooks, w)
	}
	return out, dropped
}

// MarshalCarried renders the carried form of c (see Carried) as
// config.toml text, which Parse reads back: a header saying what it is,
// then one "# not carried: …" line per setting left out, then the TOML.
func MarshalCarried(c Config) ([]byte, error) {
	cc, dropped := c.Carried()
	if err := cc.Validate(); err != nil {
		return nil, fmt.Errorf("carried config: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString("# Trove configuration carried by this target, for `trove recover` (secrets are never here).\n")
	for _, d := range dropped {
		buf.WriteString(NotCarriedPrefix + d + "\n")
	}
	if err := toml.NewEncoder(&buf).Encode(cc); err != nil {
		return nil, fmt.Errorf("encode carried config: %w", err)
	}
	if leak := secretLike(buf.String()); leak != "" {
		return nil, fmt.Errorf("carried config: refusing to write %s", leak)
	}
	return buf.Bytes(), nil
}

// secretLike is a last guard: it names a URL with a password in it.
func secretLike(text string) string {
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == '"' || r == '\'' || r == '\n' || r == ' ' }) {
		if !strings.Contains(f, "://") {
			continue
		}
		if u, err := url.Parse(f); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				return "a URL with a password"
			}
		}
	}
	return ""
}

// Parse reads config.toml text by the rules of Load (unknown settings
// refused, every field validated). name is what errors call the text (a
// path, or "the target's config").
func Parse(data []byte, name string) (Config, error) {
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return c, fmt.Errorf("read config %s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("config %s: unknown setting %s (check the spelling)", name, strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

// NotCarried returns the settings a carried config says were left out
// (its "# not carried:" lines).
func NotCarried(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if s, ok := strings.CutPrefix(line, NotCarriedPrefix); ok {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

// PathSetting is a setting that names a file.
type PathSetting struct {
	Setting string // e.g. "alerts.email.password_file"
	Path    string
}

// FilePaths lists the files the config names (empty settings left out).
func (c Config) FilePaths() []PathSetting {
	var out []PathSetting
	if e := c.Alerts.Email; e != nil {
		if e.PasswordFile != "" {
			out = append(out, PathSetting{"alerts.email.password_file", e.PasswordFile})
		}
		if e.CAFile != "" {
			out = append(out, PathSetting{"alerts.email.ca_file", e.CAFile})
		}
	}
	return out
}
