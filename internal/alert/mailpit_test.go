package alert

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/testenv"
)

// mailpitEnv is the server .ci/mailpit.sh started: a real SMTP server with
// STARTTLS required and login from a password file, and its HTTP API.
type mailpitEnv struct {
	host     string
	port     int
	api      string
	roots    *x509.CertPool
	user     string
	password string
}

func requireMailpit(t *testing.T) mailpitEnv {
	t.Helper()
	addr := os.Getenv("TROVE_TEST_SMTP_ADDR")
	if addr == "" {
		testenv.Skip(t, "no SMTP server: run `source .ci/mailpit.sh` first (sets TROVE_TEST_SMTP_ADDR)")
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("TROVE_TEST_SMTP_ADDR=%q: %v", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("TROVE_TEST_SMTP_ADDR=%q: %v", addr, err)
	}
	pem, err := os.ReadFile(os.Getenv("TROVE_TEST_SMTP_CA"))
	if err != nil {
		t.Fatalf("TROVE_TEST_SMTP_CA: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("TROVE_TEST_SMTP_CA holds no certificate")
	}
	env := mailpitEnv{host: host, port: port, api: os.Getenv("TROVE_TEST_MAILPIT_API"), roots: roots,
		user: os.Getenv("TROVE_TEST_SMTP_USER"), password: os.Getenv("TROVE_TEST_SMTP_PASSWORD")}
	if env.api == "" || env.user == "" || env.password == "" {
		t.Fatal("TROVE_TEST_MAILPIT_API, TROVE_TEST_SMTP_USER and TROVE_TEST_SMTP_PASSWORD must be set with TROVE_TEST_SMTP_ADDR (source .ci/mailpit.sh)")
	}
	return env
}

func nonce(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

type mailpitAddress struct{ Name, Address string }

type mailpitMessage struct {
	ID      string
	Subject string
	From    mailpitAddress
	To      []mailpitAddress
	Text    string
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mailpit API: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit API %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("mailpit API %s: decode: %v", url, err)
	}
}

// findMessage polls mailpit's API (bounded) for the message whose subject
// contains marker and returns it in full.
func findMessage(t *testing.T, api, marker string) mailpitMessage {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var list struct{ Messages []mailpitMessage }
		getJSON(t, api+"/api/v1/messages?limit=200", &list)
		for _, m := range list.Messages {
			if strings.Contains(m.Subject, marker) {
				var full mailpitMessage
				getJSON(t, api+"/api/v1/message/"+m.ID, &full)
				return full
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message with %q in its subject arrived at mailpit", marker)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSMTPMailpitDelivers(t *testing.T) {
	mp := requireMailpit(t)
	// The password comes from a 0600 file, as a user would keep it.
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pwFile, []byte(mp.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestSMTP(t, SMTPConfig{
		Host: mp.host, Port: mp.port,
		From: "Trove <trove@studio.example>", To: []string{"Ann Photographer <ann@studio.example>", "assistant@studio.example"},
		Username: mp.user, PasswordFile: pwFile, RootCAs: mp.roots, Timeout: 10 * time.Second,
	})
	marker := nonce(t)
	a := RunFailed(RunFailure{Job: "backup", Target: "drive-b " + marker, Cause: "disk full",
		Problems: []string{"no space left on device", "Müller Hochzeit/IMG_0001.CR3: not written"}}, now)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Send(ctx, a); err != nil {
		t.Fatalf("send through mailpit (STARTTLS + AUTH): %v", err)
	}

	m := findMessage(t, mp.api, marker)
	if m.Subject != a.Subject {
		t.Errorf("subject = %q, want %q", m.Subject, a.Subject)
	}
	if m.From.Address != "trove@studio.example" || m.From.Name != "Trove" {
		t.Errorf("from = %+v", m.From)
	}
	var to []string
	for _, r := range m.To {
		to = append(to, r.Address)
	}
	if strings.Join(to, ",") != "ann@studio.example,assistant@studio.example" || m.To[0].Name != "Ann Photographer" {
		t.Errorf("to = %+v", m.To)
	}
	norm := func(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n")) }
	if norm(m.Text) != norm(a.Body) {
		t.Errorf("body:\n got %q\nwant %q", m.Text, a.Body)
	}
	if !strings.Contains(m.Text, "Müller Hochzeit/IMG_0001.CR3") {
		t.Errorf("non-ASCII body text lost: %q", m.Text)
	}
}

func TestSMTPMailpitNonASCIISubject(t *testing.T) {
	mp := requireMailpit(t)
	t.Setenv("TROVE_TEST_ALERT_SMTP_PW", mp.password)
	s := newTestSMTP(t, SMTPConfig{Host: mp.host, Port: mp.port, From: "trove@studio.example", To: []string{"ann@studio.example"},
		Username: mp.user, PasswordEnv: "TROVE_TEST_ALERT_SMTP_PW", RootCAs: mp.roots})
	marker := nonce(t)
	a := ProjectAtRisk(AtRisk{Project: "2024-06-01 Müller Hochzeit — Café " + marker, Reasons: []string{"no off-site copy"}}, now)
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if m := findMessage(t, mp.api, marker); m.Subject != a.Subject {
		t.Errorf("subject = %q, want %q", m.Subject, a.Subject)
	}
}

func TestSMTPMailpitWrongPasswordNotInError(t *testing.T) {
	mp := requireMailpit(t)
	wrong := "Wrong-Pa55word-" + nonce(t)
	t.Setenv("TROVE_TEST_ALERT_SMTP_PW", wrong)
	s := newTestSMTP(t, SMTPConfig{Host: mp.host, Port: mp.port, From: "trove@studio.example", To: []string{"ann@studio.example"},
		Username: mp.user, PasswordEnv: "TROVE_TEST_ALERT_SMTP_PW", RootCAs: mp.roots})
	err := s.Send(context.Background(), TestMessage("ci", now))
	if err == nil {
		t.Fatal("mailpit accepted a wrong password")
	}
	t.Logf("error: %v", err)
	msg := fmt.Sprintf("%v %+v %#v", err, err, err)
	if strings.Contains(msg, wrong) || strings.Contains(msg, mp.password) {
		t.Errorf("error text holds the password: %s", msg)
	}
	if !strings.Contains(err.Error(), "login as "+mp.user) {
		t.Errorf("error does not say the login failed: %v", err)
	}
}

func TestSMTPMailpitUntrustedCertificate(t *testing.T) {
	mp := requireMailpit(t)
	t.Setenv("TROVE_TEST_ALERT_SMTP_PW", mp.password)
	// System roots only: mailpit's self-signed certificate must be refused
	// before the password is sent.
	s := newTestSMTP(t, SMTPConfig{Host: mp.host, Port: mp.port, From: "trove@studio.example", To: []string{"ann@studio.example"},
		Username: mp.user, PasswordEnv: "TROVE_TEST_ALERT_SMTP_PW"})
	err := s.Send(context.Background(), TestMessage("ci", now))
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error at STARTTLS", err)
	}

	// The same certificate trusted through CAFile, as a user with a private
	// relay would configure it.
	s = newTestSMTP(t, SMTPConfig{Host: mp.host, Port: mp.port, From: "trove@studio.example", To: []string{"ann@studio.example"},
		Username: mp.user, PasswordEnv: "TROVE_TEST_ALERT_SMTP_PW", CAFile: os.Getenv("TROVE_TEST_SMTP_CA")})
	marker := nonce(t)
	a := TestMessage("ci "+marker, now)
	a.Subject += " " + marker
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatalf("with CAFile: %v", err)
	}
	findMessage(t, mp.api, marker)
}

func TestSMTPMailpitStartTLSNoneRefusedByServer(t *testing.T) {
	mp := requireMailpit(t)
	// start_tls = "none" is allowed for loopback; mailpit requires STARTTLS,
	// so the server refuses and the error says so (no credentials involved).
	var logged strings.Builder
	s := newTestSMTP(t, SMTPConfig{Host: mp.host, Port: mp.port, From: "trove@studio.example", To: []string{"ann@studio.example"},
		StartTLS: StartTLSNone, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	err := s.Send(context.Background(), TestMessage("ci", now))
	t.Logf("error: %v", err)
	if err == nil {
		t.Fatal("mailpit (STARTTLS required) accepted mail without TLS")
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "WITHOUT encryption") {
		t.Errorf("start_tls none not logged loudly: %q", logged.String())
	}
}
