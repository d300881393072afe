package progress

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// jsonSink writes one JSON object per line.
type jsonSink struct {
	mu     sync.Mutex
	enc    *json.Encoder
	now    func() time.Time
	closed bool
}

// NewJSON returns a Sink that writes each event to w as one JSON object per
// line (JSON Lines), in the order Emit was called. A zero Event.Time is
// filled from now (time.Now when now is nil). Field names are those of the
// Event struct tags: "event", "time", "dest", "file", "files", "bytes",
// "message", "error". Strings are written as given (JSON escapes control
// characters), so consumers see the exact file names.
func NewJSON(w io.Writer, now func() time.Time) Sink {
	if now == nil {
		now = time.Now
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonSink{enc: enc, now: now}
}

func (s *jsonSink) Emit(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	_ = s.enc.Encode(e) // progress output never fails the job
}

func (s *jsonSink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}
