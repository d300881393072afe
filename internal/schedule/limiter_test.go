package schedule

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock whose sleep advances it at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	slept  time.Duration
	sleeps int
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept += d
	c.sleeps++
	return nil
}

// zeroes is an endless source.
type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func within(t *testing.T, what string, got, want, tol time.Duration) {
	t.Helper()
	if got < want-tol || got > want+tol {
		t.Errorf("%s took %v, want %v ± %v", what, got, want, tol)
	}
}

func TestLimitedReaderRate(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	cases := []struct {
		plan  string
		bytes int64
		want  time.Duration
	}{
		{"1MiB/s", 4 << 20, 4 * time.Second},
		{"10MiB/s", 50 << 20, 5 * time.Second},
		{"100KiB/s", 1 << 20, 10240 * time.Millisecond},
		{"100B/s", 1000, 10 * time.Second},
		{"off", 100 << 20, 0},
	}
	for _, c := range cases {
		clk := &fakeClock{now: at(berlin, 2024, 6, 5, 12, 0)}
		r := NewLimitedReader(context.Background(), io.LimitReader(zeroes{}, c.bytes), mustPlan(t, c.plan), clk.Now, clk.Sleep)
		n, err := io.Copy(io.Discard, r)
		if err != nil || n != c.bytes {
			t.Fatalf("%s: copied %d, %v; want %d", c.plan, n, err, c.bytes)
		}
		// The first step passes at once (one step of burst): allow a step.
		within(t, c.plan, clk.slept, c.want, c.want/10+time.Millisecond)
	}
}

func TestLimiterFollowsPlanChanges(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	plan := mustPlan(t, "00:00-12:00=1MiB/s, 12:00-12:01=4MiB/s, 12:01-24:00=off")
	clk := &fakeClock{now: at(berlin, 2024, 6, 5, 11, 59, 50)}
	r := NewLimitedReader(context.Background(), zeroes{}, plan, clk.Now, clk.Sleep)
	var beforeNoon, firstMinute int64
	buf := make([]byte, 64<<10)
	for clk.Now().Before(at(berlin, 2024, 6, 5, 12, 1, 0)) {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		// Attribute the bytes to the moment they were let through.
		if clk.Now().Before(at(berlin, 2024, 6, 5, 12, 0, 0)) {
			beforeNoon += int64(n)
		} else {
			firstMinute += int64(n)
		}
	}
	// 10 s at 1 MiB/s, then 60 s at 4 MiB/s; a step or two of slack.
	if beforeNoon < 9<<20 || beforeNoon > 11<<20 {
		t.Errorf("before noon: %d bytes, want about 10 MiB", beforeNoon)
	}
	if firstMinute < 236<<20 || firstMinute > 244<<20 {
		t.Errorf("12:00-12:01: %d bytes, want about 240 MiB", firstMinute)
	}
	// After 12:01 the limit is off: reads pass without sleeping.
	sleeps := clk.sleeps
	for range 1000 {
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if clk.sleeps != sleeps {
		t.Errorf("slept %d times while the limit was off", clk.sleeps-sleeps)
	}
}

func TestLimiterLimitComesBack(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	plan := mustPlan(t, "00:00-01:00=off, 01:00-24:00=1MiB/s")
	clk := &fakeClock{now: at(berlin, 2024, 6, 5, 0, 59, 59)}
	l := NewLimiter(plan, clk.Now, clk.Sleep)
	r := l.Reader(context.Background(), zeroes{})
	buf := make([]byte, 1<<20)
	for clk.Now().Before(at(berlin, 2024, 6, 5, 1, 0, 0)) {
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
		clk.Sleep(context.Background(), 10*time.Millisecond) // unlimited reads take some time
	}
	start := clk.Now()
	n, err := io.CopyN(io.Discard, r, 5<<20)
	if err != nil || n != 5<<20 {
		t.Fatal(n, err)
	}
	within(t, "5 MiB after the limit came back", clk.Now().Sub(start), 5*time.Second, 200*time.Millisecond)
}

func TestLimitedWriterShared(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	clk := &fakeClock{now: at(berlin, 2024, 6, 5, 12, 0)}
	l := NewLimiter(mustPlan(t, "1MiB/s"), clk.Now, clk.Sleep)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var outs []*bytes.Buffer
	for range 4 {
		buf := new(bytes.Buffer)
		outs = append(outs, buf)
		wg.Go(func() {
			w := l.Writer(context.Background(), &lockedWriter{mu: &mu, w: buf})
			n, err := w.Write(make([]byte, 1<<20))
			if err != nil || n != 1<<20 {
				t.Errorf("write: %d, %v", n, err)
			}
		})
	}
	wg.Wait()
	for i, b := range outs {
		if b.Len() != 1<<20 {
			t.Errorf("writer %d wrote %d bytes", i, b.Len())
		}
	}
	// Four streams share 1 MiB/s: at least about 4 s of waiting in total.
	if clk.slept < 3800*time.Millisecond {
		t.Errorf("4 MiB shared at 1 MiB/s slept only %v", clk.slept)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (lw *lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}

func TestLimiterContextCancel(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	clk := &fakeClock{now: at(berlin, 2024, 6, 5, 12, 0)}
	ctx, cancel := context.WithCancel(context.Background())
	r := NewLimitedReader(ctx, zeroes{}, mustPlan(t, "1KiB/s"), clk.Now, clk.Sleep)
	buf := make([]byte, 4096)
	if _, err := r.Read(buf); err != nil { // the first step needs no wait
		t.Fatal(err)
	}
	cancel()
	_, err := r.Read(buf)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
	// The real Sleep honours the context too, without waiting out d.
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep did not return at once on a cancelled context")
	}
}

func TestLimiterClockBackwards(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	clk := &fakeClock{now: at(berlin, 2024, 6, 5, 12, 0)}
	l := NewLimiter(mustPlan(t, "1MiB/s"), clk.Now, clk.Sleep)
	r := l.Reader(context.Background(), zeroes{})
	if _, err := io.CopyN(io.Discard, r, 1<<20); err != nil {
		t.Fatal(err)
	}
	clk.mu.Lock()
	clk.now = clk.now.Add(-time.Hour)
	clk.mu.Unlock()
	slept := clk.slept
	if _, err := io.CopyN(io.Discard, r, 1<<20); err != nil {
		t.Fatal(err)
	}
	// No stall and no burst: still about one second per MiB.
	within(t, "1 MiB after the clock went back", clk.slept-slept, time.Second, 150*time.Millisecond)
}
