// Package alert tells the photographer when something needs them: a run that
// failed, a project that turned at risk, and an optional daily digest. An
// Alert is plain text written for a phone screen (the subject says what is
// wrong, the body what to do); Notifiers deliver it by email over SMTP
// (STARTTLS, credentials from the environment or a 0600 file) or by a
// webhook POST (JSON, Slack, ntfy).
//
// The package does no scheduling and reads no catalog: callers pass plain data
// to RunFailed, ProjectAtRisk, Digest and TestMessage and hand the Alert to a
// Notifier. Secrets (SMTP passwords, webhook header values, webhook URLs, which
// often embed a token) never appear in errors or logs.
package alert

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Alert kinds, the values of Alert.Kind.
const (
	KindRunFailed = "run-failed" // a backup, verify, ingest, archive … run failed
	KindAtRisk    = "at-risk"    // a project no longer meets the policy
	KindDigest    = "digest"     // the daily summary
	KindTest      = "test"       // `trove alert test`
)

// Alert is one message, ready for any Notifier.
type Alert struct {
	// Kind is one of KindRunFailed, KindAtRisk, KindDigest, KindTest.
	Kind string
	// Subject is one line saying what is wrong, starting with "Trove".
	// Notifiers strip control characters from it.
	Subject string
	// Body is plain text (UTF-8, "\n" line ends): what happened and what to do.
	Body string
	// Time is when the event happened; it becomes the email's Date header.
	// Zero means "now" at send time.
	Time time.Time
	// Fields is structured data for the webhook JSON (format "json"): plain
	// values that encoding/json can marshal (strings, numbers, bools, slices,
	// maps, time.Time).
	Fields map[string]any
}

// Notifier delivers alerts somewhere. Send returns only after the alert was
// accepted (or failed for good); it honours ctx's deadline and cancellation.
// Errors say where the alert was going and never contain secrets.
type Notifier interface {
	Send(ctx context.Context, a Alert) error
}

// multi sends to several notifiers.
type multi []Notifier

// Multi returns a Notifier that sends each alert to every one of ns at the
// same time and waits for all of them. Its error joins (errors.Join, in the
// order of ns) the errors of those that failed, so one broken channel never
// keeps an alert from the others. Nil entries are ignored; Multi() with no
// notifiers sends nothing and returns nil.
func Multi(ns ...Notifier) Notifier {
	var m multi
	for _, n := range ns {
		if n != nil {
			m = append(m, n)
		}
	}
	return m
}

// Send implements Notifier.
func (m multi) Send(ctx context.Context, a Alert) error {
	errs := make([]error, len(m))
	var wg sync.WaitGroup
	for i, n := range m {
		wg.Go(func() { errs[i] = n.Send(ctx, a) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cleanLine makes s safe and short for a one-line header or title: control
// characters (CR, LF, tab …) become spaces, runs of spaces collapse, and the
// result is cut to max runes with "…".
func cleanLine(s string, max int) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			r = ' '
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		if n == max {
			return strings.TrimRight(b.String(), " ") + "…"
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimRight(b.String(), " ")
}

// ago renders the age of t relative to now in plain words: "never" for the
// zero time, "just now", "5 minutes ago", "3 hours ago", "2 days ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	default:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
}

// plural renders "1 file", "2 files".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
