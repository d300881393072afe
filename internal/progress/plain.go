package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// StatusInterval is the least time between two status lines for the same
// destination in the plain renderer.
const StatusInterval = 5 * time.Second

// plainSink renders events as plain lines for logs and pipes.
type plainSink struct {
	mu     sync.Mutex
	w      io.Writer
	now    func() time.Time
	t      tally
	shown  map[*dest]time.Time // time of the last status line
	closed bool
}

// NewPlain returns a Sink that writes plain lines to w, with no control
// characters (untrusted names are escaped). Times come from Event.Time, or
// from now (time.Now when nil) when zero; throttling follows that clock only.
//
// Lines, by kind:
//
//	Plan      "library: 2040 files to copy (25.5 GiB)"
//	Written,
//	Verified  at most one status line per destination every StatusInterval,
//	          the first one StatusInterval after the destination's first event:
//	          "library: 812/2040 files, 10.2 GiB of 25.5 GiB, 95 MiB/s, ETA 2m10s"
//	Skipped   "skipped IMG_0001.CR3: already in the catalog"
//	Problem   at once: "problem: IMG_0001.CR3 on drive-b: no space left on device"
//	Message   the message, after "drive-b: " when Dest is set
//
// Close prints one final line per destination, in order of first appearance:
// "library: done, 2040/2040 files verified, 25.5 GiB of 25.5 GiB in 4m30s (95 MiB/s)".
func NewPlain(w io.Writer, now func() time.Time) Sink {
	if now == nil {
		now = time.Now
	}
	return &plainSink{w: w, now: now, shown: map[*dest]time.Time{}}
}

func (s *plainSink) Emit(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	d := s.t.apply(e)
	switch e.Kind {
	case Plan:
		if d != nil {
			verb := "to copy"
			if e.Message != "" {
				verb = e.Message
			}
			s.line("%s: %s %s (%s)", clean(d.name), plural(e.Files, "file", "files"), clean(verb), FormatBytes(e.Bytes))
		}
	case Written, Verified:
		if d == nil {
			return
		}
		last, ok := s.shown[d]
		if !ok {
			last = d.start
		}
		if e.Time.Sub(last) >= StatusInterval {
			s.shown[d] = e.Time
			s.line("%s: %s", clean(d.name), d.status(e.Time))
		}
	case Skipped:
		if e.Dest == "" { // a destination's skip only adjusts its plan
			s.line("%s", strings.TrimSpace("skipped "+describe(e.File, e.Dest, e.Message, "")))
		}
	case Problem:
		s.line("problem: %s", describe(e.File, e.Dest, e.Err, "unknown error"))
	case Message:
		if e.Dest != "" {
			s.line("%s: %s", clean(e.Dest), clean(e.Message))
		} else {
			s.line("%s", clean(e.Message))
		}
	}
}

// describe renders "FILE on DEST: TEXT", leaving out what is empty.
func describe(file, dest, text, fallback string) string {
	var what []string
	if file != "" {
		what = append(what, clean(file))
	}
	if dest != "" {
		what = append(what, "on "+clean(dest))
	}
	if text == "" {
		text = fallback
	}
	switch {
	case text == "":
		return strings.Join(what, " ")
	case len(what) == 0:
		return clean(text)
	}
	return strings.Join(what, " ") + ": " + clean(text)
}

func (s *plainSink) line(format string, args ...any) {
	_, _ = fmt.Fprintf(s.w, format+"\n", args...) // progress output never fails the job
}

func (s *plainSink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, d := range s.t.order {
		s.line("%s: %s", clean(d.name), d.final())
	}
}
