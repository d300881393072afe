package progress

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

// clock is a fake clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestFormat(t *testing.T) {
	bytesCases := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1, "1 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{1024*1024 - 1, "1.0 MiB"}, {int64(25.5 * GiB), "25.5 GiB"}, {10*GiB + 205*MiB, "10.2 GiB"},
		{3 << 40, "3.0 TiB"}, {-2048, "-2.0 KiB"},
	}
	for _, c := range bytesCases {
		if got := FormatBytes(c.n); got != c.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	rateCases := []struct {
		r    float64
		want string
	}{
		{0, "-"}, {-1, "-"}, {512, "512 B/s"}, {95 * MiB, "95 MiB/s"}, {9.5 * MiB, "9.5 MiB/s"}, {1.2 * GiB, "1.2 GiB/s"},
	}
	for _, c := range rateCases {
		if got := FormatRate(c.r); got != c.want {
			t.Errorf("FormatRate(%v) = %q, want %q", c.r, got, c.want)
		}
	}
	durCases := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {400 * time.Millisecond, "0s"}, {45 * time.Second, "45s"},
		{130 * time.Second, "2m10s"}, {125 * time.Second, "2m05s"}, {time.Hour + 5*time.Minute + 10*time.Second, "1h05m"},
		{26 * time.Hour, "26h00m"},
	}
	for _, c := range durCases {
		if got := FormatDuration(c.d); got != c.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestClean(t *testing.T) {
	cases := map[string]string{
		"IMG_0001.CR3":     "IMG_0001.CR3",
		"Café Été.jpg":     "Café Été.jpg",
		"evil\x1b[2Jname":  `evil\x1b[2Jname`,
		"two\nlines\r":     `two\x0alines\x0d`,
		"bad\xffutf8":      `bad\xffutf8`,
		"rev\u202egpj.exe": `rev\u202egpj.exe`,
		"c1\u009bcontrol":  `c1\x9bcontrol`,
	}
	for in, want := range cases {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{t: t0}
	s := NewJSON(&buf, clk.now)
	fixed := t0.Add(-time.Hour)
	in := []Event{
		{Kind: Plan, Dest: "library", Files: 2040, Bytes: 25 * GiB},
		{Kind: Written, Dest: "library", Bytes: 4 * MiB},
		{Kind: Verified, Dest: "library", File: "2024/2024-06-01 Smith/IMG_0001.CR3", Bytes: 30 * MiB, Time: fixed},
		{Kind: Skipped, File: "IMG_0002.CR3", Message: "already in the catalog"},
		{Kind: Problem, Dest: "drive-b", File: "evil\x1b\n<b>.jpg", Err: "write: no space left on device"},
		{Kind: Message, Message: "drive-c is not attached: skipped"},
	}
	for i, e := range in {
		clk.set(t0.Add(time.Duration(i) * time.Second))
		s.Emit(e)
	}
	s.Close()
	s.Emit(Event{Kind: Message, Message: "after close"})

	sc := bufio.NewScanner(&buf)
	var out []Event
	for sc.Scan() {
		var e Event
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	if len(out) != len(in) {
		t.Fatalf("got %d lines, want %d (events after Close must be dropped)", len(out), len(in))
	}
	for i := range in {
		want := in[i]
		if want.Time.IsZero() {
			want.Time = t0.Add(time.Duration(i) * time.Second)
		}
		if !out[i].Time.Equal(want.Time) {
			t.Errorf("event %d time %v, want %v", i, out[i].Time, want.Time)
		}
		out[i].Time, want.Time = time.Time{}, time.Time{}
		if out[i] != want {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, out[i], want)
		}
	}
}

// TestJSONFieldNames pins the wire format: the dashboard and scripts read it.
func TestJSONFieldNames(t *testing.T) {
	var buf bytes.Buffer
	s := NewJSON(&buf, func() time.Time { return t0 })
	s.Emit(Event{Kind: Problem, Dest: "d", File: "f", Files: 1, Bytes: 2, Message: "m", Err: "e"})
	s.Emit(Event{Kind: Message, Message: "m"})
	s.Close()
	got := lines(buf.String())
	want := []string{
		`{"event":"problem","time":"2025-06-01T12:00:00Z","dest":"d","file":"f","files":1,"bytes":2,"message":"m","error":"e"}`,
		`{"event":"message","time":"2025-06-01T12:00:00Z","message":"m"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPlainThrottle(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{t: t0}
	s := NewPlain(&buf, clk.now)

	const files = 2040
	const fileSize = 10 * MiB
	s.Emit(Event{Kind: Plan, Dest: "library", Files: files, Bytes: files * fileSize})
	s.Emit(Event{Kind: Plan, Dest: "drive-a", Files: files, Bytes: files * fileSize})
	// One file every 100 ms on each destination = 100 MiB/s, for 60 s.
	for i := 1; i <= 600; i++ {
		clk.set(t0.Add(time.Duration(i) * 100 * time.Millisecond))
		for _, d := range []string{"library", "drive-a"} {
			s.Emit(Event{Kind: Written, Dest: d, Bytes: fileSize})
			s.Emit(Event{Kind: Verified, Dest: d, File: fmt.Sprintf("IMG_%04d.CR3", i), Bytes: fileSize})
		}
	}
	s.Close()

	out := lines(buf.String())
	var lib, plan, final []string
	for _, l := range out {
		switch {
		case strings.Contains(l, "to copy"):
			plan = append(plan, l)
		case strings.Contains(l, "verified"):
			final = append(final, l)
		case strings.HasPrefix(l, "library: "):
			lib = append(lib, l)
		}
	}
	if len(plan) != 2 || plan[0] != "library: 2040 files to copy (19.9 GiB)" {
		t.Errorf("plan lines %q", plan)
	}
	// 60 s at one status line per 5 s, the first at 5 s: 12 lines each.
	if len(lib) != 12 {
		t.Fatalf("library status lines = %d, want 12:\n%s", len(lib), strings.Join(out, "\n"))
	}
	if len(out) != 2+24+2 {
		t.Errorf("total lines = %d, want 28", len(out))
	}
	// At 5 s the Written event of file 50 triggers the line: 49 files read
	// back, 500 MiB written, 100 MiB/s, 20400-500 MiB left => 199 s.
	if want := "library: 49/2040 files, 500.0 MiB of 19.9 GiB, 100 MiB/s, ETA 3m19s"; lib[0] != want {
		t.Errorf("first status\n got %q\nwant %q", lib[0], want)
	}
	if want := "library: 599/2040 files, 5.9 GiB of 19.9 GiB, 100 MiB/s, ETA 2m24s"; lib[11] != want {
		t.Errorf("last status\n got %q\nwant %q", lib[11], want)
	}
	wantFinal := []string{
		"library: incomplete, 600/2040 files verified, 5.9 GiB of 19.9 GiB in 1m00s (100 MiB/s)",
		"drive-a: incomplete, 600/2040 files verified, 5.9 GiB of 19.9 GiB in 1m00s (100 MiB/s)",
	}
	if strings.Join(final, "\n") != strings.Join(wantFinal, "\n") {
		t.Errorf("final lines\n got %q\nwant %q", final, wantFinal)
	}
	for _, l := range out {
		if strings.IndexFunc(l, unsafeRune) >= 0 {
			t.Errorf("control character in %q", l)
		}
	}
}

func TestPlainShortRunAndDone(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{t: t0}
	s := NewPlain(&buf, clk.now)
	s.Emit(Event{Kind: Plan, Dest: "library", Files: 2, Bytes: 3 * MiB})
	clk.set(t0.Add(2 * time.Second))
	s.Emit(Event{Kind: Verified, Dest: "library", File: "a", Bytes: 1 * MiB})
	clk.set(t0.Add(4 * time.Second))
	s.Emit(Event{Kind: Verified, Dest: "library", File: "b", Bytes: 2 * MiB})
	s.Close()
	s.Close() // idempotent
	want := []string{
		"library: 2 files to copy (3.0 MiB)",
		"library: done, 2/2 files verified, 3.0 MiB of 3.0 MiB in 4s (768 KiB/s)",
	}
	if got := lines(buf.String()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPlainImmediateLines(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{t: t0}
	s := NewPlain(&buf, clk.now)
	s.Emit(Event{Kind: Plan, Dest: "drive-b", Files: 3, Bytes: 3})
	s.Emit(Event{Kind: Problem, Dest: "drive-b", File: "2024/IMG_0007.CR3", Err: "write: no space left on device"})
	s.Emit(Event{Kind: Problem, File: "IMG_0008.CR3", Err: "read card: input/output error"})
	s.Emit(Event{Kind: Problem, Dest: "drive-c"})
	s.Emit(Event{Kind: Problem, File: "evil\x1b[31m\nproblem: fake.jpg", Err: "bad"})
	s.Emit(Event{Kind: Skipped, File: "IMG_0001.CR3", Message: "already in the catalog"})
	s.Emit(Event{Kind: Skipped, File: "IMG_0002.CR3"})
	s.Emit(Event{Kind: Message, Message: "drive-c is not attached: skipped"})
	s.Emit(Event{Kind: Message, Dest: "nas", Message: "share is read-only"})
	s.Emit(Event{Kind: "future-kind", Message: "ignored"})

	want := []string{
		"drive-b: 3 files to copy (3 B)",
		"problem: 2024/IMG_0007.CR3 on drive-b: write: no space left on device",
		"problem: IMG_0008.CR3: read card: input/output error",
		"problem: on drive-c: unknown error",
		`problem: evil\x1b[31m\x0aproblem: fake.jpg: bad`,
		"skipped IMG_0001.CR3: already in the catalog",
		"skipped IMG_0002.CR3",
		"drive-c is not attached: skipped",
		"nas: share is read-only",
	}
	// Printed at once, before Close.
	if got := lines(buf.String()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	s.Close()
	got := lines(buf.String())
	wantFinal := []string{
		"drive-b: incomplete, 0/3 files verified, 0 B of 3 B, 1 problem",
		"drive-c: 0 files verified, 0 B, 1 problem",
	}
	if tail := got[len(want):]; strings.Join(tail, "\n") != strings.Join(wantFinal, "\n") {
		t.Fatalf("final\n got %q\nwant %q", tail, wantFinal)
	}
}

// TestPlainEventTime: an event's own Time drives throttling, not now().
func TestPlainEventTime(t *testing.T) {
	var buf bytes.Buffer
	s := NewPlain(&buf, func() time.Time { t.Fatal("now called for an event with a time"); return time.Time{} })
	s.Emit(Event{Kind: Plan, Dest: "d", Files: 10, Bytes: 10 * MiB, Time: t0})
	for i := 1; i <= 10; i++ {
		s.Emit(Event{Kind: Verified, Dest: "d", Bytes: MiB, Time: t0.Add(time.Duration(i) * time.Second)})
	}
	s.Close()
	got := lines(buf.String())
	want := []string{
		"d: 10 files to copy (10.0 MiB)",
		"d: 5/10 files, 5.0 MiB of 10.0 MiB, 1.0 MiB/s, ETA 5s",
		"d: 10/10 files, 10.0 MiB of 10.0 MiB, 1.0 MiB/s, ETA 0s",
		"d: done, 10/10 files verified, 10.0 MiB of 10.0 MiB in 10s (1.0 MiB/s)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// syncBuffer is a bytes.Buffer safe for mpb's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// closeWithin fails the test if s.Close does not return in time.
func closeWithin(t *testing.T, s Sink, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("Close did not return within %v", d)
	}
}

func TestTerminal(t *testing.T) {
	// A plain bytes.Buffer: reading it after Close is race-free only if Close
	// really waits for mpb's last write (-race checks that).
	var buf bytes.Buffer
	s := newTerminal(&buf, 10*time.Millisecond)
	s.Emit(Event{Kind: Plan, Dest: "library", Files: 3, Bytes: 3 * MiB})
	s.Emit(Event{Kind: Plan, Dest: "drive-b", Files: 3, Bytes: 3 * MiB})
	for i := range 3 {
		s.Emit(Event{Kind: Written, Dest: "library", Bytes: MiB})
		s.Emit(Event{Kind: Verified, Dest: "library", File: fmt.Sprintf("IMG_%d.CR3", i), Bytes: MiB})
	}
	s.Emit(Event{Kind: Written, Dest: "drive-b", Bytes: MiB})
	s.Emit(Event{Kind: Verified, Dest: "drive-b", File: "IMG_0.CR3", Bytes: MiB})
	s.Emit(Event{Kind: Problem, Dest: "drive-b", File: "IMG_1\x1b.CR3", Err: "no space left on device"})
	s.Emit(Event{Kind: Message, Message: "drive-c is not attached: skipped"})
	for i := range 40 {
		s.Emit(Event{Kind: Skipped, File: fmt.Sprintf("OLD_%d.CR3", i), Message: "already in the catalog"})
	}
	closeWithin(t, s, 5*time.Second)
	s.Emit(Event{Kind: Message, Message: "after close"}) // dropped, must not block or panic
	closeWithin(t, s, time.Second)

	out := buf.String()
	for _, want := range []string{
		"problem: IMG_1\\x1b.CR3 on drive-b: no space left on device",
		"drive-c is not attached: skipped",
		"40 files skipped: already in the catalog",
		"library",
		"done, 3/3 files verified, 3.0 MiB of 3.0 MiB",
		"incomplete, 1/3 files verified, 1.0 MiB of 3.0 MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "OLD_1.CR3") {
		t.Errorf("terminal listed skipped files one by one")
	}
	if strings.Contains(out, "after close") {
		t.Errorf("event after Close was printed")
	}
	if strings.Contains(out, "\x1b.CR3") {
		t.Errorf("raw escape from a file name reached the terminal")
	}
}

func TestTerminalEmpty(t *testing.T) {
	var buf syncBuffer
	s := newTerminal(&buf, 10*time.Millisecond)
	closeWithin(t, s, 2*time.Second)

	s = NewTerminal(io.Discard)
	s.Emit(Event{Kind: Verified, Dest: "x", Bytes: 1}) // no plan
	closeWithin(t, s, 2*time.Second)
}

// TestConcurrentEmit runs every sink under 8 emitting goroutines; run with -race.
func TestConcurrentEmit(t *testing.T) {
	sinks := map[string]func(w io.Writer) Sink{
		"json":     func(w io.Writer) Sink { return NewJSON(w, nil) },
		"plain":    func(w io.Writer) Sink { return NewPlain(w, nil) },
		"terminal": func(w io.Writer) Sink { return newTerminal(w, 5*time.Millisecond) },
		"discard":  func(io.Writer) Sink { return Discard() },
	}
	for name, mk := range sinks {
		t.Run(name, func(t *testing.T) {
			var buf syncBuffer
			s := mk(&buf)
			const workers, perWorker = 8, 200
			for w := range workers {
				s.Emit(Event{Kind: Plan, Dest: fmt.Sprintf("dest-%d", w%3), Files: perWorker, Bytes: perWorker * KiB})
			}
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := fmt.Sprintf("dest-%d", w%3)
					for i := range perWorker {
						s.Emit(Event{Kind: Written, Dest: d, Bytes: KiB})
						s.Emit(Event{Kind: Verified, Dest: d, File: fmt.Sprintf("w%d-%d", w, i), Bytes: KiB})
						if i%50 == 0 {
							s.Emit(Event{Kind: Problem, Dest: d, File: "x", Err: "e"})
							s.Emit(Event{Kind: Message, Message: "m"})
						}
					}
				}()
			}
			wg.Wait()
			closeWithin(t, s, 5*time.Second)
			if name == "json" {
				n := len(lines(buf.String()))
				if want := workers + workers*perWorker*2 + workers*4*2; n != want {
					t.Errorf("json lines = %d, want %d", n, want)
				}
			}
		})
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
}
