package schedule

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// maxChunk bounds the bytes let through in one step, so that a limit change
// at a window boundary takes effect within a fraction of a second.
const maxChunk = 256 << 10

// Limiter paces byte streams to a BandwidthPlan with a token bucket. One
// Limiter may be shared by all transfers to a target (it is safe for
// concurrent use): their total stays within the limit.
//
// The limit is looked up again for every step of at most a tenth of a
// second's worth of bytes (and at most 256 KiB), so a change at a window
// boundary ("08:00-18:00=2MiB/s, 18:00-08:00=off") applies to transfers
// already running, without restarting them. Bursts are bounded by one step.
type Limiter struct {
	plan  BandwidthPlan
	clock func() time.Time
	sleep func(context.Context, time.Duration) error

	mu     sync.Mutex
	last   time.Time // last refill
	tokens float64   // bytes that may pass now; negative = debt to wait off
	primed bool
}

// NewLimiter returns a limiter for plan. clock returns the current time (the
// daemon passes time.Now); sleep waits for a duration or until the context
// ends, returning the context's error (the daemon passes Sleep). Tests pass
// a fake clock and a sleep that advances it, so nothing really waits. Both
// must be non-nil.
func NewLimiter(plan BandwidthPlan, clock func() time.Time, sleep func(context.Context, time.Duration) error) *Limiter {
	if clock == nil || sleep == nil {
		panic("schedule.NewLimiter: clock and sleep must not be nil")
	}
	return &Limiter{plan: plan, clock: clock, sleep: sleep}
}

// Sleep waits for d or until ctx ends; it returns ctx.Err() in the latter
// case. It is the sleep function to pass to NewLimiter outside tests.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// chunkFor is the largest step for a limit: a tenth of a second's worth.
func chunkFor(limit int64) int {
	c := limit / 10
	if c < 1 {
		c = 1
	}
	if c > maxChunk {
		c = maxChunk
	}
	return int(c)
}

// reserve takes up to n bytes from the bucket and says how long to wait
// before moving them. n is cut to one step; a zero wait and n itself mean
// unlimited.
func (l *Limiter) reserve(n int) (allowed int, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	limit := l.plan.LimitAt(now)
	if limit <= 0 {
		l.primed = false // start afresh when a limit comes back
		return n, 0
	}
	chunk := chunkFor(limit)
	if n > chunk {
		n = chunk
	}
	switch {
	case !l.primed:
		l.tokens, l.primed = float64(chunk), true
	case now.After(l.last):
		l.tokens += now.Sub(l.last).Seconds() * float64(limit)
	}
	// A clock that went backwards refills nothing; it never adds debt.
	l.last = now
	if l.tokens > float64(chunk) {
		l.tokens = float64(chunk)
	}
	l.tokens -= float64(n)
	if l.tokens < 0 {
		wait = time.Duration(-l.tokens / float64(limit) * float64(time.Second))
		// Debt is paid at the limit in force when it is paid: if the table
		// changes before then, wake at the change and re-evaluate.
		if change := l.plan.NextChange(now); !change.IsZero() && change.Sub(now) < wait {
			wait = change.Sub(now)
		}
	}
	return n, wait
}

// refund returns bytes that were reserved but not moved.
func (l *Limiter) refund(n int) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.primed {
		l.tokens += float64(n)
	}
}

// take reserves up to n bytes and waits until they may pass.
func (l *Limiter) take(ctx context.Context, n int) (int, error) {
	allowed, wait := l.reserve(n)
	if wait > 0 {
		if err := l.sleep(ctx, wait); err != nil {
			l.refund(allowed)
			return 0, fmt.Errorf("bandwidth limit: waiting: %w", err)
		}
	}
	return allowed, nil
}

// Reader returns r paced by the limiter. Each Read moves at most one step of
// bytes; waiting ends early with the context's error.
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	return &limitedReader{ctx: ctx, r: r, l: l}
}

// Writer returns w paced by the limiter. A Write moves all of p (in steps)
// unless w fails or the context ends.
func (l *Limiter) Writer(ctx context.Context, w io.Writer) io.Writer {
	return &limitedWriter{ctx: ctx, w: w, l: l}
}

// NewLimitedReader is a Reader on a limiter of its own: the plan's limit
// applies to this stream alone. See NewLimiter for clock and sleep.
func NewLimitedReader(ctx context.Context, r io.Reader, plan BandwidthPlan,
	clock func() time.Time, sleep func(context.Context, time.Duration) error) io.Reader {
	return NewLimiter(plan, clock, sleep).Reader(ctx, r)
}

type limitedReader struct {
	ctx context.Context
	r   io.Reader
	l   *Limiter
}

func (lr *limitedReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return lr.r.Read(p)
	}
	n, err := lr.l.take(lr.ctx, len(p))
	if err != nil {
		return 0, err
	}
	got, err := lr.r.Read(p[:n])
	lr.l.refund(n - got)
	return got, err
}

type limitedWriter struct {
	ctx context.Context
	w   io.Writer
	l   *Limiter
}

func (lw *limitedWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := lw.l.take(lw.ctx, len(p)-done)
		if err != nil {
			return done, err
		}
		wrote, err := lw.w.Write(p[done : done+n])
		done += wrote
		lw.l.refund(n - wrote)
		if err != nil {
			return done, err
		}
		if wrote < n {
			return done, io.ErrShortWrite
		}
	}
	return done, nil
}
