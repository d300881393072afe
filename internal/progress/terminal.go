package progress

import (
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// termSink renders live bars with mpb.
//
// Locking: s.mu guards the tally and the bar map. Bar decorators run on
// mpb's goroutines and take only their bar's own mutex (see termBar), never
// s.mu, so calling into mpb while holding s.mu cannot deadlock.
type termSink struct {
	mu     sync.Mutex
	p      *mpb.Progress
	t      tally
	bars   map[*dest]*termBar
	closed bool

	skipped    int    // Skipped events, summarised at Close
	skipWhy    string // their message, when they all share one
	skipVaries bool
}

// termBar is one destination's bar. Its decorator runs on mpb's goroutine
// and takes only mu, which is never held while calling into mpb.
type termBar struct {
	bar   *mpb.Bar
	mu    sync.Mutex
	snap  dest   // copy of the destination's state at the latest event
	final string // set at Close; replaces the live status
}

// text is the status shown after the bar, computed at render time so that
// rate and ETA move even when no event arrives (a stalled drive shows its
// rate falling).
func (b *termBar) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.final != "" {
		return b.final
	}
	return b.snap.status(time.Now())
}

func (b *termBar) update(d *dest, final bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.snap = *d
	if final {
		b.final = d.final()
	}
}

// NewTerminal returns a Sink that draws one live bar per destination on w,
// with files done/total, bytes, rate and ETA, and prints Problems and
// Messages above the bars as they come. Skipped files are counted and
// summarised in one line at Close ("2040 files skipped: already in the
// catalog"). It is meant for an interactive terminal (see IsTerminal); on
// other writers it still works but repeats the bars at every refresh.
//
// Rate and ETA are averages since the destination's first event, computed
// at each refresh with the wall clock, so a stalled drive shows its rate
// falling and its ETA growing. Event times left zero are set to time.Now.
//
// Close completes the bars of destinations that received everything they
// planned and leaves the others stopped where they were, then waits for
// the final frame to be drawn.
func NewTerminal(w io.Writer) Sink {
	return newTerminal(w, 0)
}

// newTerminal allows tests to pick the refresh rate (0: mpb's default).
func newTerminal(w io.Writer, refresh time.Duration) Sink {
	opts := []mpb.ContainerOption{
		mpb.WithOutput(w),
		mpb.WithAutoRefresh(), // also render (and flush printed lines) when w is not a TTY
	}
	if refresh > 0 {
		opts = append(opts, mpb.WithRefreshRate(refresh))
	}
	if !IsTerminal(w) {
		opts = append(opts, mpb.WithWidth(100))
	}
	return &termSink{p: mpb.New(opts...), bars: map[*dest]*termBar{}}
}

func (s *termSink) Emit(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	d := s.t.apply(e)
	if d != nil {
		b := s.bar(d)
		if e.Kind == Plan {
			b.bar.SetTotal(d.planBytes, false) // display total; completion is decided at Close
		}
		b.update(d, false)
		b.bar.SetCurrent(d.done())
	}
	switch {
	case e.Kind == Skipped && e.Dest != "":
		// a destination's skip only adjusts its plan
	case e.Kind == Skipped:
		// A re-run over a 2,000-file card skips every file: one summary line
		// at Close instead of a scrolling list.
		if s.skipped == 0 {
			s.skipWhy = e.Message
		} else if e.Message != s.skipWhy {
			s.skipVaries = true
		}
		s.skipped++
	case e.Kind == Problem:
		s.print("problem: " + describe(e.File, e.Dest, e.Err, "unknown error"))
	case e.Kind == Message:
		if e.Dest != "" {
			s.print(clean(e.Dest) + ": " + clean(e.Message))
		} else {
			s.print(clean(e.Message))
		}
	}
}

// bar returns the bar of d, creating it. Bars are created with total 0 so
// that mpb never completes them on its own (a bar reaching its byte total
// before the last file is read back must keep counting files).
func (s *termSink) bar(d *dest) *termBar {
	if b, ok := s.bars[d]; ok {
		return b
	}
	b := &termBar{snap: *d}
	b.bar = s.p.New(0, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name(clean(d.name), decor.WC{C: decor.DSyncSpaceR})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return b.text() })),
	)
	s.bars[d] = b
	return b
}

// print writes a line above the bars; it appears at the next refresh.
func (s *termSink) print(line string) {
	_, _ = s.p.Write([]byte(line + "\n")) // progress output never fails the job
}

func (s *termSink) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.skipped > 0 {
		line := plural(s.skipped, "file", "files") + " skipped"
		if !s.skipVaries && s.skipWhy != "" {
			line += ": " + clean(s.skipWhy)
		}
		s.print(line)
	}
	for _, d := range s.t.order {
		b := s.bars[d]
		b.update(d, true)
		if d.complete() || (!d.planned && d.problems == 0) {
			b.bar.SetTotal(-1, true) // complete at the current count
		} else {
			b.bar.Abort(false) // keep it on screen where it stopped
		}
	}
	s.mu.Unlock()
	s.p.Wait()
}
