package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Webhook formats of WebhookConfig.Format.
const (
	FormatJSON  = "json"  // {"source":"trove","kind":…,"subject":…,"body":…,"time":…,"fields":{…}}
	FormatSlack = "slack" // {"text": "*subject*\nbody"} (Slack incoming webhooks, Mattermost, Discord's /slack)
	FormatNtfy  = "ntfy"  // body as plain text, subject in the Title header (ntfy.sh)
)

// Webhook defaults.
const (
	DefaultWebhookTimeout  = 15 * time.Second // per attempt
	DefaultWebhookAttempts = 4                // 1 try + 3 retries: after 1 s, 2 s, 4 s
	maxBackoff             = 30 * time.Second
	maxRetryAfter          = 60 * time.Second
)

// WebhookConfig says where and how to POST alerts.
type WebhookConfig struct {
	// URL receives the POST. It must be https, except for a loopback host
	// (localhost, 127.0.0.0/8, ::1) or with AllowHTTP. Treat it as a secret:
	// Slack and ntfy URLs carry the token or topic; errors show only its
	// scheme and host.
	URL string
	// URLEnv, instead of URL, names an environment variable holding the URL,
	// so the token stays out of the config file.
	URLEnv string
	// Format is "json" (default when empty), "slack" or "ntfy".
	Format string
	// HeaderEnv maps a header name to the environment variable holding its
	// value, e.g. {"Authorization": "TROVE_NTFY_AUTH"} with the variable set
	// to "Bearer tk_…". Values never appear in errors or logs.
	HeaderEnv map[string]string
	// AllowHTTP permits plain http to a host that is not loopback (a home
	// server on the LAN); the alert and any header secret travel unencrypted.
	AllowHTTP bool
	// Timeout bounds each attempt (default DefaultWebhookTimeout); Attempts
	// bounds the tries (default DefaultWebhookAttempts, 1 = no retry).
	Timeout  time.Duration
	Attempts int
	// Client, when set, is used for the requests (e.g. a custom TLS
	// configuration); redirects are never followed either way.
	Client *http.Client
}

// Webhook is a Notifier that POSTs alerts. Build it with NewWebhook.
type Webhook struct {
	cfg    WebhookConfig
	u      *url.URL
	where  string // scheme://host, safe to show
	client *http.Client

	// Sleep waits d between attempts or returns ctx's error; tests replace
	// it to record the backoff without waiting. NewWebhook sets a real one.
	Sleep func(ctx context.Context, d time.Duration) error
}

var _ Notifier = (*Webhook)(nil)

// NewWebhook checks cfg and returns a Notifier for it. It reads URLEnv once,
// checks that every HeaderEnv variable is set now, and reads those again at
// every send.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	raw := cfg.URL
	switch {
	case cfg.URL != "" && cfg.URLEnv != "":
		return nil, errors.New("webhook alerts: set url or url_env, not both")
	case cfg.URLEnv != "":
		v, ok := os.LookupEnv(cfg.URLEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("webhook alerts: the url variable %s is not set in Trove's environment", cfg.URLEnv)
		}
		raw = v
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		// url.Parse's error quotes the URL: do not show it.
		return nil, errors.New("webhook alerts: url is not an http(s) URL with a host")
	}
	w := &Webhook{cfg: cfg, u: u, where: u.Scheme + "://" + u.Host, Sleep: sleepCtx}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) && !cfg.AllowHTTP {
		return nil, fmt.Errorf("webhook alerts: %s uses plain http: alerts and secrets would travel unencrypted; use https (or allow_http = true for a server on your own network)", w.where)
	}
	switch cfg.Format {
	case "":
		w.cfg.Format = FormatJSON
	case FormatJSON, FormatSlack, FormatNtfy:
	default:
		return nil, fmt.Errorf("webhook alerts: format %q: want \"json\", \"slack\" or \"ntfy\"", cfg.Format)
	}
	for name := range cfg.HeaderEnv {
		if !validHeaderName(name) {
			return nil, fmt.Errorf("webhook alerts: %q is not a valid header name", name)
		}
	}
	if _, err := w.headers(); err != nil {
		return nil, err
	}
	if w.cfg.Timeout <= 0 {
		w.cfg.Timeout = DefaultWebhookTimeout
	}
	if w.cfg.Attempts <= 0 {
		w.cfg.Attempts = DefaultWebhookAttempts
	}
	c := &http.Client{}
	if cfg.Client != nil {
		cc := *cfg.Client
		c = &cc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w.client = c
	return w, nil
}

// headers reads the header secrets from the environment.
func (w *Webhook) headers() (http.Header, error) {
	h := http.Header{}
	for name, env := range w.cfg.HeaderEnv {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, fmt.Errorf("webhook alerts: header %s: the variable %s is not set in Trove's environment", name, env)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("webhook alerts: header %s: the variable %s holds a line break", name, env)
		}
		h.Set(name, v)
	}
	return h, nil
}

// secrets lists what must never appear in an error: header values and the
// URL's path, query and password.
func (w *Webhook) secrets(h http.Header) []string {
	s := []string{w.u.String(), w.u.RawQuery}
	if len(w.u.EscapedPath()) > 1 {
		s = append(s, w.u.EscapedPath(), w.u.Path)
	}
	if p, ok := w.u.User.Password(); ok {
		s = append(s, p)
	}
	for _, vs := range h {
		s = append(s, vs...)
	}
	return s
}

// Send implements Notifier: it POSTs a in the configured format, retrying
// with backoff (1 s, 2 s, 4 s …, or the server's Retry-After up to a minute)
// on connection errors, timeouts, 5xx and 429, and not on other statuses.
// The error names the scheme and host, the HTTP status and a short piece of
// the response, never the URL's path or a header value.
func (w *Webhook) Send(ctx context.Context, a Alert) error {
	h, err := w.headers()
	if err != nil {
		return err
	}
	body, ctype, err := w.payload(a, h)
	if err != nil {
		return fmt.Errorf("webhook alert to %s: %w", w.where, err)
	}
	h.Set("Content-Type", ctype)
	h.Set("User-Agent", "trove-alert")
	secrets := w.secrets(h)

	for attempt := 1; ; attempt++ {
		retryAfter, retry, err := w.post(ctx, body, h)
		if err == nil {
			return nil
		}
		err = redact(err, secrets...)
		if !retry || attempt >= w.cfg.Attempts || ctx.Err() != nil {
			if attempt > 1 {
				return fmt.Errorf("webhook alert to %s: %w (gave up after %d attempts)", w.where, err, attempt)
			}
			return fmt.Errorf("webhook alert to %s: %w", w.where, err)
		}
		wait := time.Second << (attempt - 1)
		if wait > maxBackoff {
			wait = maxBackoff
		}
		if retryAfter > 0 {
			wait = min(retryAfter, maxRetryAfter)
		}
		if serr := w.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("webhook alert to %s: %w (then %w while waiting to retry)", w.where, err, serr)
		}
	}
}

// post makes one attempt. It reports whether a failure is worth retrying and
// the server's Retry-After, if any.
func (w *Webhook) post(ctx context.Context, body []byte, h http.Header) (retryAfter time.Duration, retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, w.u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, false, errors.New("cannot build the request")
	}
	req.Header = h.Clone()
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text quotes the whole URL
		}
		return 0, ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, false, nil
	}
	err = fmt.Errorf("server answered %s", resp.Status)
	if s := cleanLine(string(snippet), 160); s != "" {
		err = fmt.Errorf("%w: %s", err, s)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		err = fmt.Errorf("%w (redirects are not followed; use the final URL)", err)
	}
	retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	if secs, perr := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); perr == nil && secs > 0 {
		retryAfter = time.Duration(secs) * time.Second
	}
	return retryAfter, retry, err
}

// payload renders a in the configured format; for ntfy it sets the Title,
// Priority and Tags headers in h.
func (w *Webhook) payload(a Alert, h http.Header) ([]byte, string, error) {
	subject := cleanLine(a.Subject, maxSubjectRunes)
	t := a.Time
	if t.IsZero() {
		t = time.Now()
	}
	switch w.cfg.Format {
	case FormatSlack:
		b, err := json.Marshal(map[string]string{"text": "*" + slackEscape(subject) + "*\n" + slackEscape(a.Body)})
		if err != nil {
			return nil, "", fmt.Errorf("encode slack message: %w", err)
		}
		return b, "application/json", nil
	case FormatNtfy:
		h.Set("Title", mime.BEncoding.Encode("UTF-8", subject))
		switch a.Kind {
		case KindRunFailed, KindAtRisk:
			h.Set("Priority", "high")
			h.Set("Tags", "warning")
		case KindTest:
			h.Set("Tags", "white_check_mark")
		}
		return []byte(a.Body), "text/plain; charset=utf-8", nil
	default:
		fields := a.Fields
		if fields == nil {
			fields = map[string]any{}
		}
		b, err := json.Marshal(struct {
			Source  string         `json:"source"`
			Kind    string         `json:"kind"`
			Subject string         `json:"subject"`
			Body    string         `json:"body"`
			Time    string         `json:"time"`
			Fields  map[string]any `json:"fields"`
		}{"trove", a.Kind, subject, a.Body, t.UTC().Format(time.RFC3339), fields})
		if err != nil {
			return nil, "", fmt.Errorf("encode alert as JSON: %w", err)
		}
		return b, "application/json", nil
	}
}

// slackEscape escapes the three characters Slack's mrkdwn treats as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// validHeaderName reports whether name is an RFC 7230 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r > 0x7e || r <= 0x20 || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
