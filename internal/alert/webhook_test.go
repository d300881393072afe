package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hook is a real HTTP server on 127.0.0.1 that records requests and answers
// with the next status of a script (the last one repeats).
type hook struct {
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	reqs     []hookReq
}

type hookReq struct {
	header http.Header
	path   string
	body   []byte
}

func newHook(t *testing.T, statuses ...int) *hook {
	t.Helper()
	h := &hook{statuses: statuses}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, hookReq{header: r.Header.Clone(), path: r.URL.Path, body: body})
		st := h.statuses[0]
		if len(h.statuses) > 1 {
			h.statuses = h.statuses[1:]
		}
		h.mu.Unlock()
		if r.Method != http.MethodPost {
			st = http.StatusMethodNotAllowed
		}
		if st >= 400 {
			// Some services echo what they got; the secret must still not reach our errors.
			http.Error(w, "rejected: auth="+r.Header.Get("Authorization"), st)
			return
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.reqs...)
}

// sleeps records the backoff instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

const hookSecret = "Bearer tk_super_secret_token_42"
const urlToken = "T0001/B0002/XyZsecretPathToken"

func newTestWebhook(t *testing.T, h *hook, format string) (*Webhook, *sleeps) {
	t.Helper()
	t.Setenv("TROVE_TEST_HOOK_AUTH", hookSecret)
	w, err := NewWebhook(WebhookConfig{
		URL: h.srv.URL + "/services/" + urlToken, Format: format,
		HeaderEnv: map[string]string{"Authorization": "TROVE_TEST_HOOK_AUTH"},
	})
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	s := &sleeps{}
	w.Sleep = s.sleep
	return w, s
}

func noSecrets(t *testing.T, err error) {
	t.Helper()
	msg := fmt.Sprintf("%v | %+v", err, err)
	for _, secret := range []string{hookSecret, "tk_super_secret_token_42", urlToken, "XyZsecretPathToken"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error holds a secret (%q): %s", secret, msg)
		}
	}
}

func TestWebhookJSON(t *testing.T) {
	h := newHook(t, http.StatusNoContent)
	w, _ := newTestWebhook(t, h, "")
	a := RunFailed(RunFailure{Job: "backup", Target: "drive-b", Cause: "disk full", Problems: []string{"no space left on device"}}, now)
	if err := w.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	reqs := h.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.path != "/services/"+urlToken || r.header.Get("Authorization") != hookSecret || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("path %q headers %v", r.path, r.header)
	}
	var got struct {
		Source, Kind, Subject, Body, Time string
		Fields                            map[string]any
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.body)
	}
	if got.Source != "trove" || got.Kind != KindRunFailed || got.Subject != a.Subject || got.Body != a.Body || got.Time != "2025-06-03T00:14:00Z" {
		t.Errorf("JSON = %+v", got)
	}
	if got.Fields["target"] != "drive-b" || got.Fields["cause"] != "disk full" {
		t.Errorf("fields = %v", got.Fields)
	}
	if p, ok := got.Fields["problems"].([]any); !ok || len(p) != 1 || p[0] != "no space left on device" {
		t.Errorf("fields.problems = %#v", got.Fields["problems"])
	}
}

func TestWebhookSlack(t *testing.T) {
	h := newHook(t, http.StatusOK)
	w, _ := newTestWebhook(t, h, FormatSlack)
	a := ProjectAtRisk(AtRisk{Project: "Smith & <Jones>", Reasons: []string{"no off-site copy"}}, now)
	if err := w.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(h.requests()[0].body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("slack payload has keys beyond text: %v", got)
	}
	text := got["text"]
	if !strings.HasPrefix(text, `*Trove: "Smith &amp; &lt;Jones&gt;" is at risk (no off-site copy)*`+"\n") ||
		!strings.Contains(text, "trove backup") || strings.Contains(text, "<Jones>") {
		t.Errorf("slack text = %q", text)
	}
}

func TestWebhookNtfy(t *testing.T) {
	h := newHook(t, http.StatusOK)
	w, _ := newTestWebhook(t, h, FormatNtfy)
	a := ProjectAtRisk(AtRisk{Project: "Müller Hochzeit", Reasons: []string{"only 2 copies"}}, now)
	if err := w.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	r := h.requests()[0]
	if string(r.body) != a.Body {
		t.Errorf("ntfy body = %q, want the plain alert body", r.body)
	}
	title, err := new(mime.WordDecoder).DecodeHeader(r.header.Get("Title"))
	if err != nil || title != a.Subject {
		t.Errorf("Title = %q (decoded %q, %v), want %q", r.header.Get("Title"), title, err, a.Subject)
	}
	if r.header.Get("Priority") != "high" || r.header.Get("Tags") != "warning" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Errorf("headers = %v", r.header)
	}
}

func TestWebhookRetriesOn503ThenSucceeds(t *testing.T) {
	h := newHook(t, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusOK)
	w, s := newTestWebhook(t, h, FormatJSON)
	if err := w.Send(context.Background(), TestMessage("ci", now)); err != nil {
		t.Fatalf("after two 5xx: %v", err)
	}
	if n := len(h.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if fmt.Sprint(s.d) != "[1s 2s]" {
		t.Errorf("backoff = %v, want [1s 2s]", s.d)
	}
}

func TestWebhookGivesUpAfterAttempts(t *testing.T) {
	h := newHook(t, http.StatusInternalServerError)
	w, s := newTestWebhook(t, h, FormatJSON)
	err := w.Send(context.Background(), TestMessage("ci", now))
	if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error") || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Fatalf("err = %v", err)
	}
	noSecrets(t, err)
	if !strings.Contains(err.Error(), h.srv.URL) {
		t.Errorf("error does not name the server %s: %v", h.srv.URL, err)
	}
	if n := len(h.requests()); n != DefaultWebhookAttempts {
		t.Errorf("%d requests, want %d", n, DefaultWebhookAttempts)
	}
	if fmt.Sprint(s.d) != "[1s 2s 4s]" {
		t.Errorf("backoff = %v", s.d)
	}
}

func TestWebhookNoRetryOn400(t *testing.T) {
	h := newHook(t, http.StatusBadRequest, http.StatusOK)
	w, s := newTestWebhook(t, h, FormatSlack)
	err := w.Send(context.Background(), TestMessage("ci", now))
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request") {
		t.Fatalf("err = %v", err)
	}
	noSecrets(t, err)
	if !strings.Contains(err.Error(), "rejected: auth=[redacted]") {
		t.Errorf("the response snippet was not kept (redacted): %v", err)
	}
	if n := len(h.requests()); n != 1 || len(s.d) != 0 {
		t.Errorf("%d requests, sleeps %v: a 400 must not be retried", n, s.d)
	}
}

func TestWebhookConnectionErrorRetriedAndSecretFree(t *testing.T) {
	h := newHook(t, http.StatusOK)
	w, s := newTestWebhook(t, h, FormatJSON)
	h.srv.Close() // connection refused from now on
	err := w.Send(context.Background(), TestMessage("ci", now))
	if err == nil {
		t.Fatal("sent to a closed server")
	}
	noSecrets(t, err)
	if len(s.d) != DefaultWebhookAttempts-1 {
		t.Errorf("connection errors retried %d times, want %d: %v", len(s.d), DefaultWebhookAttempts-1, err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v", err)
	}
}

func TestWebhookCancelStopsRetrying(t *testing.T) {
	h := newHook(t, http.StatusServiceUnavailable)
	w, _ := newTestWebhook(t, h, FormatJSON)
	ctx, cancel := context.WithCancel(context.Background())
	w.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	err := w.Send(ctx, TestMessage("ci", now))
	if !errors.Is(err, context.Canceled) || len(h.requests()) != 1 {
		t.Errorf("err = %v after %d requests", err, len(h.requests()))
	}
}

func TestWebhookRedirectNotFollowed(t *testing.T) {
	target := newHook(t, http.StatusOK)
	h := newHook(t, http.StatusOK)
	h.srv.Config.Handler = http.RedirectHandler(target.srv.URL+"/elsewhere", http.StatusTemporaryRedirect)
	w, _ := newTestWebhook(t, h, FormatJSON)
	err := w.Send(context.Background(), TestMessage("ci", now))
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Errorf("err = %v", err)
	}
	if n := len(target.requests()); n != 0 {
		t.Errorf("the redirect was followed (%d requests there), carrying the Authorization header", n)
	}
}

func TestWebhookConfigChecks(t *testing.T) {
	t.Setenv("TROVE_TEST_HOOK_AUTH", hookSecret)
	ok := []WebhookConfig{
		{URL: "https://ntfy.sh/trove-secret-topic", Format: FormatNtfy},
		{URL: "http://127.0.0.1:8080/hook"},
		{URL: "http://localhost/hook"},
		{URL: "http://[::1]:9/hook"},
		{URL: "http://nas.lan/hook", AllowHTTP: true},
	}
	t.Setenv("TROVE_TEST_HOOK_URL", "https://hooks.example.com/services/"+urlToken)
	ok = append(ok, WebhookConfig{URLEnv: "TROVE_TEST_HOOK_URL", Format: FormatSlack})
	for _, c := range ok {
		if _, err := NewWebhook(c); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := []WebhookConfig{
		{URL: "http://hooks.example.com/services/" + urlToken},
		{URL: "ftp://example.com/x"},
		{URL: "hooks.slack.com/services/" + urlToken},
		{URL: "https://example.com/x", Format: "xml"},
		{URL: "https://example.com/x", URLEnv: "TROVE_TEST_HOOK_URL"},
		{URLEnv: "TROVE_TEST_HOOK_URL_UNSET"},
		{URL: "https://example.com/x", HeaderEnv: map[string]string{"Bad Header": "TROVE_TEST_HOOK_AUTH"}},
		{URL: "https://example.com/x", HeaderEnv: map[string]string{"Authorization": "TROVE_TEST_HOOK_UNSET"}},
	}
	for _, c := range bad {
		_, err := NewWebhook(c)
		if err == nil {
			t.Errorf("%+v: accepted", c)
			continue
		}
		noSecrets(t, err)
	}
	_, err := NewWebhook(WebhookConfig{URL: "https://example.com/x", HeaderEnv: map[string]string{"Authorization": "TROVE_TEST_HOOK_UNSET"}})
	if err == nil || !strings.Contains(err.Error(), "TROVE_TEST_HOOK_UNSET") {
		t.Errorf("unset header variable: %v", err)
	}
}

// failing is a Notifier that always fails (for Multi).
type failing struct{ msg string }

func (f failing) Send(context.Context, Alert) error { return errors.New(f.msg) }

func TestMultiSendsToAllAndJoinsErrors(t *testing.T) {
	h1 := newHook(t, http.StatusOK)
	h2 := newHook(t, http.StatusOK)
	w1, _ := newTestWebhook(t, h1, FormatJSON)
	w2, _ := newTestWebhook(t, h2, FormatNtfy)
	err := Multi(w1, failing{"email down"}, nil, w2, failing{"pager down"}).Send(context.Background(), TestMessage("ci", now))
	if len(h1.requests()) != 1 || len(h2.requests()) != 1 {
		t.Errorf("requests %d, %d: a failing notifier kept an alert from the others", len(h1.requests()), len(h2.requests()))
	}
	if err == nil || err.Error() != "email down\npager down" {
		t.Errorf("err = %q", err)
	}
	if err := Multi().Send(context.Background(), Alert{}); err != nil {
		t.Errorf("empty Multi: %v", err)
	}
}
