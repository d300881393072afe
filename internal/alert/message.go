package alert

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
)

// maxSubjectRunes bounds the subject; phones show far less anyway.
const maxSubjectRunes = 200

// Message renders a as a complete RFC 5322 email from s's From to its To:
// Date (a.Time, or now when zero), Message-ID, From, To, Subject (RFC 2047
// encoded when not ASCII, control characters removed), MIME-Version,
// Content-Type text/plain; charset=UTF-8, quoted-printable body with CRLF
// line ends, plus Auto-Submitted: auto-generated (RFC 3834, so that
// auto-responders stay quiet) and X-Trove-Kind.
func (s *SMTP) Message(a Alert) ([]byte, error) {
	t := a.Time
	if t.IsZero() {
		t = time.Now()
	}
	subject := cleanLine(a.Subject, maxSubjectRunes)
	if subject == "" {
		subject = "Trove alert"
	}
	id, err := messageID(s.from.Address)
	if err != nil {
		return nil, err
	}
	to := make([]string, len(s.to))
	for i, r := range s.to {
		to[i] = r.String() // RFC 2047-encodes a non-ASCII display name
	}

	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("Date", t.Format(time.RFC1123Z))
	h("Message-ID", id)
	h("From", s.from.String())
	h("To", strings.Join(to, ",\r\n "))
	h("Subject", mime.QEncoding.Encode("UTF-8", subject))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=UTF-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated")
	if k := cleanLine(a.Kind, 40); k != "" {
		h("X-Trove-Kind", mime.QEncoding.Encode("UTF-8", k))
	}
	b.WriteString("\r\n")

	body := strings.ReplaceAll(a.Body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	if !strings.HasSuffix(body, "\r\n") {
		body += "\r\n"
	}
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, fmt.Errorf("encode email body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode email body: %w", err)
	}
	return b.Bytes(), nil
}

// messageID makes a unique Message-ID in the sender's domain.
func messageID(from string) (string, error) {
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("make Message-ID: %w", err)
	}
	domain := "trove.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at+1 < len(from) {
		domain = from[at+1:]
	}
	return fmt.Sprintf("<trove.%s@%s>", hex.EncodeToString(r[:]), domain), nil
}
