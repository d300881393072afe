package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/alert"
	"github.com/trove-backup/trove/internal/config"
)

// alertChannel is one configured place alerts go, with a name safe to show
// (never a webhook's token or an SMTP password).
type alertChannel struct {
	name string
	n    alert.Notifier // nil when the channel could not be set up
	err  error          // why it could not be set up
}

// alertChannels builds a notifier for every channel of the config's
// [alerts] section: [alerts.email] and each [[alerts.webhook]]. A channel
// whose settings are unusable (a variable not set, a password file others
// can read) comes back with err set, so that `trove alert test` reports it
// and the daemon logs it.
func alertChannels(cfg config.Alerts) []alertChannel {
	var out []alertChannel
	if e := cfg.Email; e != nil {
		name := fmt.Sprintf("email to %s via %s", strings.Join(e.To, ", "), e.Host)
		n, err := alert.NewSMTP(alert.SMTPConfig{Host: e.Host, Port: e.Port, From: e.From, To: e.To,
			Username: e.Username, PasswordEnv: e.PasswordEnv, PasswordFile: e.PasswordFile,
			StartTLS: e.StartTLS, CAFile: e.CAFile})
		if err != nil {
			out = append(out, alertChannel{name: name, err: err})
		} else {
			out = append(out, alertChannel{name: name, n: n})
		}
	}
	for i, w := range cfg.Webhooks {
		name := fmt.Sprintf("webhook %d", i+1)
		switch {
		case w.URLEnv != "":
			name += " ($" + w.URLEnv + ")"
		default:
			if u, err := url.Parse(w.URL); err == nil && u.Host != "" {
				name += " (" + u.Scheme + "://" + u.Host + ")" // the path may hold a token
			}
		}
		if w.Format != "" {
			name += " [" + w.Format + "]"
		}
		n, err := alert.NewWebhook(alert.WebhookConfig{URL: w.URL, URLEnv: w.URLEnv, Format: w.Format,
			HeaderEnv: w.HeaderEnv, AllowHTTP: w.AllowHTTP})
		if err != nil {
			out = append(out, alertChannel{name: name, err: err})
		} else {
			out = append(out, alertChannel{name: name, n: n})
		}
	}
	return out
}

// alertNotifier joins the usable channels (nil when there are none) and
// returns the errors of the unusable ones.
func alertNotifier(chs []alertChannel) (alert.Notifier, []error) {
	var ns []alert.Notifier
	var errs []error
	for _, c := range chs {
		if c.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, c.err))
			continue
		}
		ns = append(ns, c.n)
	}
	if len(ns) == 0 {
		return nil, errs
	}
	return alert.Multi(ns...), errs
}

func newAlertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alert",
		Short: "Check that alerts (email, webhooks) reach you",
	}
	cmd.AddCommand(newAlertTestCmd())
	return cmd
}

func newAlertTestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test",
		Short: "Send a test message to every configured alert channel",
		Long: `Sends a short test message to every channel of the [alerts] section of config.toml:
[alerts.email] (SMTP with STARTTLS) and each [[alerts.webhook]] (JSON, Slack or ntfy), and
reports per channel whether it was delivered. Exit code 1 when any channel failed, 2 when
no channel is configured.`,
		Example: `  trove alert test`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			chs := alertChannels(a.cfg.Alerts)
			if len(chs) == 0 {
				return &exitError{code: exitUsage, err: withHint(fmt.Errorf("no alert channels are configured"),
					"add [alerts.email] or [[alerts.webhook]] to "+a.paths.Config+" (see docs/alerts.md)")}
			}
			host, _ := os.Hostname()
			msg := alert.TestMessage(host, a.now())
			failed := 0
			for _, c := range chs {
				err := c.err
				if err == nil {
					ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
					err = c.n.Send(ctx, msg)
					cancel()
				}
				if err != nil {
					failed++
					fmt.Fprintf(a.stdout, "%s: FAILED: %v\n", c.name, err)
					continue
				}
				fmt.Fprintf(a.stdout, "%s: sent\n", c.name)
			}
			if failed > 0 {
				fmt.Fprintf(a.stdout, "Alert test: %d of %d channels FAILED.\n", failed, len(chs))
				return &exitError{code: exitFailure, silent: true}
			}
			fmt.Fprintf(a.stdout, "Alert test: %d of %d channels work; check that the message arrived.\n", len(chs), len(chs))
			return nil
		},
	}
}
