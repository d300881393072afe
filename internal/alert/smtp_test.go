package alert

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func newTestSMTP(t *testing.T, cfg SMTPConfig) *SMTP {
	t.Helper()
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return s
}

func TestMessageHeaders(t *testing.T) {
	s := newTestSMTP(t, SMTPConfig{Host: "smtp.example.com", From: "Trove <trove@example.com>",
		To: []string{"Jürgen <j@example.com>", "ann@example.com"}})
	a := ProjectAtRisk(AtRisk{Project: "2024-06-01 Müller Hochzeit\r\nBcc: evil@example.com", Reasons: []string{"no off-site copy"}}, now)
	a.Body += "\n.\nA line with a dot alone above, and a long line " + strings.Repeat("é", 100) + "\n"
	raw, err := s.Message(a)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("a bare LF in the message")
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	if m.Header.Get("Bcc") != "" {
		t.Errorf("header injection through the subject: Bcc = %q", m.Header.Get("Bcc"))
	}
	date, err := m.Header.Date()
	if err != nil || !date.Equal(now) {
		t.Errorf("Date = %v, %v; want %v", date, err, now)
	}
	if id := m.Header.Get("Message-ID"); !strings.HasPrefix(id, "<trove.") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID = %q", id)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Name != "Jürgen" || to[0].Address != "j@example.com" || to[1].Address != "ann@example.com" {
		t.Errorf("To = %v, %v", to, err)
	}
	from, err := m.Header.AddressList("From")
	if err != nil || from[0].Address != "trove@example.com" {
		t.Errorf("From = %v, %v", from, err)
	}
	rawSubject := m.Header.Get("Subject")
	if !strings.HasPrefix(rawSubject, "=?UTF-8?q?") {
		t.Errorf("non-ASCII subject not RFC 2047 encoded: %q", rawSubject)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(rawSubject)
	if err != nil || subject != `Trove: "2024-06-01 Müller Hochzeit Bcc: evil@example.com" is at risk (no off-site copy)` {
		t.Errorf("subject = %q, %v", subject, err)
	}
	for k, want := range map[string]string{
		"MIME-Version": "1.0", "Content-Type": "text/plain; charset=UTF-8",
		"Content-Transfer-Encoding": "quoted-printable", "Auto-Submitted": "auto-generated", "X-Trove-Kind": "at-risk",
	} {
		if got := m.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(a.Body, "\n", "\r\n"); string(body) != want {
		t.Errorf("body round trip:\n got %q\nwant %q", body, want)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d bytes", len(line))
		}
	}
}

func TestSMTPConfigChecks(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "smtp password")
	if err := os.WriteFile(loose, []byte("hunter2-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := SMTPConfig{Host: "smtp.example.com", From: "trove@example.com", To: []string{"me@example.com"}}

	cfg := base
	cfg.Username, cfg.PasswordFile = "me", loose
	_, err := NewSMTP(cfg)
	if err == nil || !strings.Contains(err.Error(), loose) || !strings.Contains(err.Error(), "chmod 600 '"+loose+"'") ||
		!strings.Contains(err.Error(), "0644") {
		t.Errorf("0644 password file: err = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
	if err := os.Chmod(loose, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestSMTP(t, cfg)
	if p, err := s.password(); err != nil || p != "hunter2-secret" {
		t.Errorf("password from 0600 file = %q, %v", p, err)
	}

	cfg = base
	cfg.Username, cfg.PasswordEnv = "me", "TROVE_TEST_ALERT_UNSET_VAR"
	if _, err := NewSMTP(cfg); err == nil || !strings.Contains(err.Error(), "TROVE_TEST_ALERT_UNSET_VAR") {
		t.Errorf("unset env var: err = %v", err)
	}
	t.Setenv("TROVE_TEST_ALERT_PW", "from-env")
	cfg.PasswordEnv = "TROVE_TEST_ALERT_PW"
	if p, err := newTestSMTP(t, cfg).password(); err != nil || p != "from-env" {
		t.Errorf("password from env = %q, %v", p, err)
	}

	bad := map[string]func(c *SMTPConfig){
		"both sources":            func(c *SMTPConfig) { c.Username, c.PasswordEnv, c.PasswordFile = "me", "X", loose },
		"no source":               func(c *SMTPConfig) { c.Username = "me" },
		"source without user":     func(c *SMTPConfig) { c.PasswordEnv = "TROVE_TEST_ALERT_PW" },
		"none over the network":   func(c *SMTPConfig) { c.StartTLS = StartTLSNone },
		"opportunistic remote":    func(c *SMTPConfig) { c.StartTLS = StartTLSOpportunistic },
		"unknown starttls":        func(c *SMTPConfig) { c.StartTLS = "maybe" },
		"no recipient":            func(c *SMTPConfig) { c.To = nil },
		"bad from":                func(c *SMTPConfig) { c.From = "not an address" },
		"host with a line break":  func(c *SMTPConfig) { c.Host = "a\r\nb" },
		"missing CA file":         func(c *SMTPConfig) { c.CAFile = filepath.Join(dir, "nope.pem") },
		"CA file without any PEM": func(c *SMTPConfig) { c.CAFile = loose },
	}
	for name, mod := range bad {
		cfg := base
		mod(&cfg)
		if _, err := NewSMTP(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		cfg := base
		cfg.Host, cfg.StartTLS = host, StartTLSNone
		if _, err := NewSMTP(cfg); err != nil {
			t.Errorf("start_tls none on %s: %v", host, err)
		}
	}
}

// fakeSMTP is a tiny real SMTP server on 127.0.0.1 for the cases mailpit
// cannot show: a server without STARTTLS and a server that never answers.
// It records every command it receives.
type fakeSMTP struct {
	addr string
	cmds chan string
}

func startFakeSMTP(t *testing.T, greet bool, ehlo string) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMTP{addr: ln.Addr().String(), cmds: make(chan string, 100)}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if !greet {
			_, _ = io.Copy(io.Discard, conn) // say nothing until the client hangs up
			return
		}
		r := bufio.NewReader(conn)
		_, _ = conn.Write([]byte("220 fake ESMTP\r\n"))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.Fields(line + " x")[0])
			f.cmds <- strings.TrimSpace(line)
			switch cmd {
			case "EHLO":
				_, _ = conn.Write([]byte(ehlo))
			case "QUIT":
				_, _ = conn.Write([]byte("221 bye\r\n"))
				return
			default:
				_, _ = conn.Write([]byte("502 not here\r\n"))
			}
		}
	}()
	return f
}

func (f *fakeSMTP) port(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(f.addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSMTPRefusesServerWithoutStartTLS(t *testing.T) {
	f := startFakeSMTP(t, true, "250-fake\r\n250 AUTH PLAIN LOGIN\r\n")
	t.Setenv("TROVE_TEST_ALERT_PW", "s3cret-pass")
	s := newTestSMTP(t, SMTPConfig{Host: "127.0.0.1", Port: f.port(t), From: "trove@example.com", To: []string{"me@example.com"},
		Username: "me", PasswordEnv: "TROVE_TEST_ALERT_PW", Timeout: 5 * time.Second})
	err := s.Send(context.Background(), TestMessage("h", now))
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") || !strings.Contains(err.Error(), "me@example.com via 127.0.0.1:") {
		t.Fatalf("err = %v", err)
	}
	for range len(f.cmds) {
		if cmd := <-f.cmds; strings.HasPrefix(strings.ToUpper(cmd), "AUTH") || strings.HasPrefix(strings.ToUpper(cmd), "MAIL") {
			t.Errorf("client sent %q to a server without STARTTLS", cmd)
		}
	}
}

func TestSMTPTimeout(t *testing.T) {
	f := startFakeSMTP(t, false, "")
	s := newTestSMTP(t, SMTPConfig{Host: "127.0.0.1", Port: f.port(t), From: "trove@example.com", To: []string{"me@example.com"},
		Timeout: 300 * time.Millisecond})
	start := time.Now()
	err := s.Send(context.Background(), TestMessage("h", now))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("send took %v with a 300ms timeout", took)
	}
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline error", err)
	}

	// Cancellation from the caller also ends the session.
	f = startFakeSMTP(t, false, "")
	s = newTestSMTP(t, SMTPConfig{Host: "127.0.0.1", Port: f.port(t), From: "trove@example.com", To: []string{"me@example.com"}})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	err = s.Send(ctx, TestMessage("h", now))
	if took := time.Since(start); took > 3*time.Second || !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v in %v", err, took)
	}
}

func TestScrub(t *testing.T) {
	err := errors.New(`535 auth failed for AHVzZXIAcGFzcw== and pass and cGFzcw==`)
	got := scrub(err, "user", "pass").Error()
	if strings.Contains(got, "pass") || strings.Contains(got, "cGFzcw==") || strings.Contains(got, "AHVzZXIAcGFzcw==") {
		t.Errorf("scrub left a secret: %q", got)
	}
	plain := errors.New("nothing secret")
	if scrub(plain, "u", "zzz") != plain {
		t.Errorf("scrub replaced an error without secrets")
	}
}
