// Package progress carries the progress of a job as data: a stream of
// [Event] values sent to a [Sink]. The same events are rendered three ways:
//
//   - [NewJSON]: one JSON object per line, for --json and the dashboard;
//   - [NewPlain]: plain lines without control characters, for logs, pipes
//     and cron mail, throttled so a 2,000-file card does not print 2,000 lines;
//   - [NewTerminal]: live bars, one per destination, for an interactive terminal.
//
// Job packages emit events and never print; the CLI picks the sink (see
// [IsTerminal]) and calls Close before printing its final verdict.
//
// # Event order
//
// A job sends one [Plan] per destination first, then any mix of [Written],
// [Verified], [Skipped], [Problem] and [Message]. Renderers tolerate events
// for a destination that had no Plan (totals are then unknown).
//
// Byte progress of a destination is the larger of the Written deltas summed
// and the Verified bytes summed, so a job may send only Verified events.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"
)

// Kind names what an event reports.
type Kind string

// Event kinds. The comment lists the fields each kind uses.
const (
	Plan     Kind = "plan"     // Dest, Files, Bytes: what a destination will receive this run (one per destination, first); Message may name the work ("to check"; default "to copy")
	Written  Kind = "written"  // Dest, Bytes (delta) written
	Verified Kind = "verified" // Dest, File, Bytes: one file copied and read back OK on Dest
	Skipped  Kind = "skipped"  // File, Message: e.g. already in the catalog; with Dest and Bytes: that destination already holds the file (leaves its plan)
	Problem  Kind = "problem"  // File (may be empty), Dest (may be empty), Err: something failed
	Message  Kind = "message"  // Message: a plain line for the user (e.g. "drive-b is not attached: skipped")
)

// Event is one progress report. Time may be left zero: sinks fill it from
// their clock.
type Event struct {
	Kind    Kind      `json:"event"`
	Time    time.Time `json:"time"`
	Dest    string    `json:"dest,omitempty"`
	File    string    `json:"file,omitempty"`
	Files   int       `json:"files,omitempty"`
	Bytes   int64     `json:"bytes,omitempty"`
	Message string    `json:"message,omitempty"`
	Err     string    `json:"error,omitempty"`
}

// Sink receives events. Implementations are safe for concurrent use.
//
// Close flushes and stops rendering (bars finished, final lines printed); it
// must be called before the caller prints its own final lines. Close is
// idempotent; events emitted after Close are dropped. A sink never fails the
// job: errors writing progress output are ignored.
type Sink interface {
	Emit(Event)
	Close()
}

// Discard returns a Sink that drops every event.
func Discard() Sink { return discard{} }

type discard struct{}

func (discard) Emit(Event) {}
func (discard) Close()     {}

// IsTerminal reports whether w is an interactive terminal. Writers that are
// not files (buffers, pipes wrapped in other writers) are not terminals.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// clean makes untrusted text (file names from cards, error strings) safe to
// print: control characters (ESC, CR, newlines...), bidirectional overrides
// and invalid UTF-8 bytes are shown as Go-style escapes such as \x1b or
// \u202e, so nothing can move the cursor, forge a line or reverse text.
func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, unsafeRune) < 0 {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r < 0x100 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		s = s[n:]
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) ||
		r == 0x2028 || r == 0x2029
}
