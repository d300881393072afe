package config

import (
	"fmt"
	"sort"

	"github.com/trove-backup/trove/internal/schedule"
)

// TargetSettings are the per-target settings a photographer edits by hand,
// in a [targets.NAME] section. The target itself (where it is, its identity)
// lives in the catalog.
type TargetSettings struct {
	Schedule string `toml:"schedule,omitempty"` // backup schedule: "hourly", "daily 02:00", a cron expression; "" = on drive attach / by hand
	Verify   string `toml:"verify,omitempty"`   // scrub schedule; default nightly when the daemon runs
	Window   string `toml:"window,omitempty"`   // upload window, e.g. "01:00-06:00" ("" = any time)
	BWLimit  string `toml:"bwlimit,omitempty"`  // "10MiB/s" or "08:00-18:00=2MiB/s, 18:00-08:00=off"
	// ScrubBudget is how much a nightly scrub may read ("20GiB"; "" = as needed).
	ScrubBudget string `toml:"scrub_budget,omitempty"`
}

// EmailAlerts configure alert emails (SMTP with STARTTLS). The password is
// never here: it comes from PasswordEnv or PasswordFile (mode 0600).
type EmailAlerts struct {
	Host         string   `toml:"host"`
	Port         int      `toml:"port,omitempty"`
	From         string   `toml:"from"`
	To           []string `toml:"to"`
	Username     string   `toml:"username,omitempty"`
	PasswordEnv  string   `toml:"password_env,omitempty"`
	PasswordFile string   `toml:"password_file,omitempty"`
	StartTLS     string   `toml:"start_tls,omitempty"`
	CAFile       string   `toml:"ca_file,omitempty"`
}

// WebhookAlert configures one webhook (JSON, Slack or ntfy).
type WebhookAlert struct {
	URL       string            `toml:"url,omitempty"`
	URLEnv    string            `toml:"url_env,omitempty"`
	Format    string            `toml:"format,omitempty"`
	HeaderEnv map[string]string `toml:"header_env,omitempty"`
	AllowHTTP bool              `toml:"allow_http,omitempty"`
}

// Alerts say where alerts go and when the digest is sent.
type Alerts struct {
	Email    *EmailAlerts   `toml:"email,omitempty"`
	Webhooks []WebhookAlert `toml:"webhook,omitempty"`
	Digest   string         `toml:"digest,omitempty"` // e.g. "daily 08:00"; "" = no digest
}

// Retention says how long old versions on targets are kept (defaults: all
// for 30 days, then one per month for 12 months). Pruning never touches the
// last copy of a file and never goes below the policy.
type Retention struct {
	KeepAllDays       int `toml:"keep_all_days"`
	KeepMonthlyMonths int `toml:"keep_monthly_months"`
}

// Freshness says when status warns about drives (rotation).
type Freshness struct {
	OffsiteMaxDays int `toml:"offsite_max_days"` // an off-site copy older than this: "bring it home and swap"
	UnseenMaxDays  int `toml:"unseen_max_days"`  // a drive not attached for this long
}

func (c Config) validateSections() error {
	names := make([]string, 0, len(c.Targets))
	for n := range c.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ts := c.Targets[n]
		if _, err := schedule.Parse(ts.Schedule); err != nil {
			return fmt.Errorf("targets.%s.schedule: %w", n, err)
		}
		if _, err := schedule.Parse(ts.Verify); err != nil {
			return fmt.Errorf("targets.%s.verify: %w", n, err)
		}
		if _, err := schedule.ParseWindow(ts.Window); err != nil {
			return fmt.Errorf("targets.%s.window: %w", n, err)
		}
		if _, err := schedule.ParseBandwidthPlan(ts.BWLimit); err != nil {
			return fmt.Errorf("targets.%s.bwlimit: %w", n, err)
		}
		if ts.ScrubBudget != "" {
			if _, err := schedule.ParseBandwidth(ts.ScrubBudget); err != nil {
				return fmt.Errorf("targets.%s.scrub_budget: %w", n, err)
			}
		}
	}
	if _, err := schedule.Parse(c.Alerts.Digest); err != nil {
		return fmt.Errorf("alerts.digest: %w", err)
	}
	if e := c.Alerts.Email; e != nil {
		switch {
		case e.Host == "":
			return fmt.Errorf("alerts.email.host: must name your mail server")
		case e.From == "" || len(e.To) == 0:
			return fmt.Errorf("alerts.email: from and to must be set")
		case e.PasswordEnv != "" && e.PasswordFile != "":
			return fmt.Errorf("alerts.email: set password_env or password_file, not both")
		}
	}
	for i, w := range c.Alerts.Webhooks {
		if (w.URL == "") == (w.URLEnv == "") {
			return fmt.Errorf("alerts.webhook[%d]: set exactly one of url and url_env", i)
		}
	}
	if c.Retention.KeepAllDays < 0 || c.Retention.KeepMonthlyMonths < 0 {
		return fmt.Errorf("retention: days and months must be 0 or more")
	}
	if c.Freshness.OffsiteMaxDays < 0 || c.Freshness.UnseenMaxDays < 0 {
		return fmt.Errorf("freshness: days must be 0 or more")
	}
	return nil
}
