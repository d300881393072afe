package alert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// StartTLS modes of SMTPConfig.StartTLS.
const (
	StartTLSRequired      = "required"      // default: no STARTTLS, no mail
	StartTLSOpportunistic = "opportunistic" // loopback relays only: STARTTLS when offered
	StartTLSNone          = "none"          // loopback relays only: never STARTTLS (logged)
)

// Default SMTP timeouts.
const (
	DefaultSMTPDialTimeout = 10 * time.Second
	DefaultSMTPTimeout     = 60 * time.Second
)

// SMTPConfig says how to send alerts by email.
type SMTPConfig struct {
	Host string   // server name, e.g. "smtp.fastmail.com"; also the TLS server name
	Port int      // default 587 (submission with STARTTLS)
	From string   // "Trove <trove@example.com>" or "trove@example.com"
	To   []string // one or more recipients, same forms as From

	// Username enables SMTP AUTH (PLAIN, or LOGIN when the server offers only
	// that). Its password comes from exactly one of PasswordEnv (the name of
	// an environment variable) or PasswordFile (a file readable only by its
	// owner, mode 0600 or stricter; one trailing newline is ignored) — never
	// from the config itself.
	Username     string
	PasswordEnv  string
	PasswordFile string

	// StartTLS is "required" (default, also when empty), "opportunistic" or
	// "none"; the last two are allowed only when Host is loopback
	// ("localhost", 127.0.0.0/8, ::1), e.g. a local relay, and "none" is
	// logged as a warning on every send. The server certificate is always
	// verified when TLS is used.
	StartTLS string

	// CAFile is a PEM file of extra certificate authorities to trust (a
	// private relay); RootCAs, when set, replaces the system roots (tests).
	CAFile  string
	RootCAs *x509.CertPool

	// DialTimeout bounds connecting (default DefaultSMTPDialTimeout); Timeout
	// bounds the whole send (default DefaultSMTPTimeout), within ctx's own
	// deadline.
	DialTimeout time.Duration
	Timeout     time.Duration

	// Logger receives the warning for StartTLS "none" (nil: slog.Default()).
	// Nothing secret is ever logged.
	Logger *slog.Logger
}

// SMTP is a Notifier that sends email. Build it with NewSMTP.
type SMTP struct {
	cfg       SMTPConfig
	from      *mail.Address
	to        []*mail.Address
	tlsConfig *tls.Config
	log       *slog.Logger
}

var _ Notifier = (*SMTP)(nil)

// NewSMTP checks cfg and returns a Notifier for it. It reads the password
// source once, so that a missing variable or a password file others can read
// is reported now (with `chmod 600 FILE`) rather than at the first alert;
// the password itself is read again at every send and never kept.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	s := &SMTP{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	c := &s.cfg
	c.Host = strings.TrimSpace(c.Host)
	if c.Host == "" || strings.ContainsAny(c.Host, " /\r\n") {
		return nil, fmt.Errorf("email alerts: host %q is not a server name", c.Host)
	}
	if c.Port == 0 {
		c.Port = 587
	}
	if c.Port < 1 || c.Port > 65535 {
		return nil, fmt.Errorf("email alerts: port %d is out of range", c.Port)
	}
	var err error
	if s.from, err = mail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("email alerts: from address %q: %w", c.From, err)
	}
	if len(c.To) == 0 {
		return nil, errors.New("email alerts: no recipient (to) given")
	}
	for _, t := range c.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("email alerts: to address %q: %w", t, err)
		}
		s.to = append(s.to, a)
	}
	switch c.StartTLS {
	case "":
		c.StartTLS = StartTLSRequired
	case StartTLSRequired:
	case StartTLSOpportunistic, StartTLSNone:
		if !isLoopbackHost(c.Host) {
			return nil, fmt.Errorf("email alerts: start_tls = %q is allowed only for a relay on this computer (localhost), not %s: mail and password would cross the network unencrypted; use \"required\"", c.StartTLS, c.Host)
		}
	default:
		return nil, fmt.Errorf("email alerts: start_tls = %q: want \"required\", \"opportunistic\" or \"none\"", c.StartTLS)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultSMTPDialTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultSMTPTimeout
	}

	if c.Username == "" {
		if c.PasswordEnv != "" || c.PasswordFile != "" {
			return nil, errors.New("email alerts: a password source is set but no username")
		}
	} else {
		if (c.PasswordEnv == "") == (c.PasswordFile == "") {
			return nil, errors.New("email alerts: with a username, set exactly one of password_env (an environment variable) or password_file (a 0600 file)")
		}
		if _, err := s.password(); err != nil {
			return nil, err
		}
	}

	roots := c.RootCAs
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("email alerts: read CA file: %w", err)
		}
		if roots == nil {
			if roots, err = x509.SystemCertPool(); err != nil || roots == nil {
				roots = x509.NewCertPool()
			}
		} else {
			roots = roots.Clone()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("email alerts: CA file %s holds no PEM certificate", c.CAFile)
		}
	}
	s.tlsConfig = &tls.Config{ServerName: c.Host, RootCAs: roots, MinVersion: tls.VersionTLS12}
	return s, nil
}

// password reads the password from its source. Errors name the source, never
// its content.
func (s *SMTP) password() (string, error) {
	c := &s.cfg
	if c.PasswordEnv != "" {
		p, ok := os.LookupEnv(c.PasswordEnv)
		if !ok || p == "" {
			return "", fmt.Errorf("email alerts: the password variable %s is not set in Trove's environment", c.PasswordEnv)
		}
		return p, nil
	}
	return readSecretFile(c.PasswordFile)
}

// readSecretFile reads a secret from a file that only its owner may read
// (mode 0600 or 0400 on Unix; not checked on Windows). One trailing newline
// (LF or CRLF) is removed.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("email alerts: open password file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("email alerts: password file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("email alerts: password file %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("email alerts: password file %s has mode %04o, so other users can read it; make it private with: chmod 600 %s", path, fi.Mode().Perm(), shellArg(path))
	}
	if fi.Size() > 64<<10 {
		return "", fmt.Errorf("email alerts: password file %s is larger than 64 KiB; it should hold only the password", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("email alerts: read password file %s: %w", path, err)
	}
	p := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if p == "" {
		return "", fmt.Errorf("email alerts: password file %s is empty", path)
	}
	return p, nil
}

// Send implements Notifier: one SMTP session (dial, EHLO, STARTTLS, AUTH,
// MAIL, RCPT for every recipient, DATA, QUIT) bounded by the configured
// timeouts and ctx. Errors name the server and the step; the password and
// its encodings are scrubbed from them.
func (s *SMTP) Send(ctx context.Context, a Alert) (err error) {
	c := &s.cfg
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	var pass string
	if c.Username != "" {
		if pass, err = s.password(); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("email alert to %s via %s: %w", recipients(s.to), addr, scrub(err, c.Username, pass))
		}
	}()

	msg, err := s.Message(a)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	step := func(what string, err error) error {
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s: %w (%w)", what, cerr, err)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) { // the connection's deadline is the context's
			return fmt.Errorf("%s: %w after %v (%w)", what, context.DeadlineExceeded, c.Timeout, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}

	d := net.Dialer{Timeout: c.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return step("connect", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // cancellation, not only the deadline
	defer stop()

	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		return step("greeting", err)
	}
	defer cl.Close()
	if err := cl.Hello("localhost"); err != nil {
		return step("EHLO", err)
	}
	tlsOn := false
	if c.StartTLS != StartTLSNone {
		if ok, _ := cl.Extension("STARTTLS"); ok {
			if err := cl.StartTLS(s.tlsConfig); err != nil {
				return step("STARTTLS", err)
			}
			tlsOn = true
		} else if c.StartTLS == StartTLSRequired {
			return errors.New("the server does not offer STARTTLS, so mail and password would travel unencrypted; use the submission port (587) of your provider")
		}
	}
	if !tlsOn {
		s.log.Warn("sending email alert WITHOUT encryption (start_tls = "+c.StartTLS+"): anyone on the path can read it", "server", addr)
	}
	if c.Username != "" {
		ok, mechs := cl.Extension("AUTH")
		if !ok {
			return errors.New("the server offers no login (AUTH), but a username is configured")
		}
		var auth smtp.Auth
		switch {
		case hasWord(mechs, "PLAIN"):
			auth = smtp.PlainAuth("", c.Username, pass, c.Host)
		case hasWord(mechs, "LOGIN"):
			auth = &loginAuth{user: c.Username, pass: pass, host: c.Host}
		default:
			return fmt.Errorf("the server offers login methods %q, Trove speaks PLAIN and LOGIN", mechs)
		}
		if err := cl.Auth(auth); err != nil {
			return step("login as "+c.Username, err)
		}
	}
	if err := cl.Mail(s.from.Address); err != nil {
		return step("MAIL FROM", err)
	}
	for _, t := range s.to {
		if err := cl.Rcpt(t.Address); err != nil {
			return step("RCPT TO "+t.Address, err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return step("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return step("write message", err)
	}
	if err := w.Close(); err != nil {
		return step("message not accepted", err)
	}
	if err := cl.Quit(); err != nil {
		// The message was accepted at the end of DATA; a failed QUIT loses nothing.
		s.log.Debug("email alert: QUIT failed after the message was accepted", "server", addr, "err", err)
	}
	return nil
}

// loginAuth is the LOGIN SASL mechanism (servers that offer no PLAIN, e.g.
// some Microsoft ones). Like smtp.PlainAuth it refuses to send the password
// without TLS except to localhost.
type loginAuth struct{ user, pass, host string }

func (l *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLoopbackHost(server.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if server.Name != l.host {
		return "", nil, errors.New("wrong host name")
	}
	return "LOGIN", nil, nil
}

func (l *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(fromServer))) {
	case "username:", "user name", "username":
		return []byte(l.user), nil
	case "password:", "password":
		return []byte(l.pass), nil
	}
	return nil, errors.New("unexpected LOGIN challenge from the server")
}

// scrub removes the password (and the base64 forms an AUTH exchange would
// carry) from err's text. It returns err itself when nothing matched.
func scrub(err error, user, pass string) error {
	if err == nil || pass == "" {
		return err
	}
	secrets := []string{
		pass,
		base64.StdEncoding.EncodeToString([]byte(pass)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass)),
	}
	return redact(err, secrets...)
}

// redacted is an error whose text had secrets removed; Unwrap keeps errors.Is
// working for sentinel errors such as context.DeadlineExceeded.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// redact returns err with every non-empty secret replaced by "[redacted]"
// in its text, or err itself when none occurs. The wrapped error chain is
// kept for errors.Is, so callers must print only Error(), never walk the
// chain to print inner messages.
func redact(err error, secrets ...string) error {
	msg := err.Error()
	out := msg
	for _, s := range secrets {
		if s != "" {
			out = strings.ReplaceAll(out, s, "[redacted]")
		}
	}
	if out == msg {
		return err
	}
	return &redacted{msg: out, err: unwrapSafe(err)}
}

// unwrapSafe keeps only well-known sentinel causes of err (context errors)
// for errors.Is, so a redacted error does not carry the secret in its chain.
func unwrapSafe(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	return nil
}

// hasWord reports whether the space-separated list holds w (any case).
func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, w) {
			return true
		}
	}
	return false
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP literal.
// Names are not resolved: a name that resolves to 127.0.0.1 today may not
// tomorrow.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// recipients renders addresses for an error message.
func recipients(to []*mail.Address) string {
	s := make([]string, len(to))
	for i, a := range to {
		s[i] = a.Address
	}
	return strings.Join(s, ", ")
}
