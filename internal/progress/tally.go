package progress

import (
	"fmt"
	"strings"
	"time"
)

// dest is what a renderer knows about one destination. Not safe for
// concurrent use; renderers guard it with their own lock.
type dest struct {
	name          string
	planned       bool
	planFiles     int
	planBytes     int64
	written       int64
	verifiedFiles int
	verifiedBytes int64
	problems      int
	start, last   time.Time // first and latest event times
}

// tally keeps destinations in the order they first appeared.
type tally struct {
	order []*dest
	byKey map[string]*dest
}

// get returns the destination named name, creating it at time t.
func (t *tally) get(name string, at time.Time) *dest {
	if t.byKey == nil {
		t.byKey = map[string]*dest{}
	}
	d, ok := t.byKey[name]
	if !ok {
		d = &dest{name: name, start: at, last: at}
		t.byKey[name] = d
		t.order = append(t.order, d)
	}
	return d
}

// apply records e (with its time filled) and returns the destination it
// concerned, or nil when it concerned none.
func (t *tally) apply(e Event) *dest {
	if e.Dest == "" {
		return nil
	}
	switch e.Kind {
	case Plan, Written, Verified, Problem, Skipped:
	default:
		return nil
	}
	d := t.get(e.Dest, e.Time)
	if e.Time.After(d.last) {
		d.last = e.Time
	}
	switch e.Kind {
	case Plan:
		// A second Plan for the same destination adds to it (a job may plan
		// in batches).
		d.planned = true
		d.planFiles += e.Files
		d.planBytes += e.Bytes
	case Written:
		d.written += e.Bytes
	case Verified:
		d.verifiedFiles++
		d.verifiedBytes += e.Bytes
	case Problem:
		d.problems++
	case Skipped:
		// A destination that already holds a planned file: it leaves the plan.
		d.planFiles--
		d.planBytes -= e.Bytes
	}
	return d
}

// done is the bytes done so far.
func (d *dest) done() int64 { return max(d.written, d.verifiedBytes) }

// rate is the average rate since the destination's first event, in bytes
// per second, measured up to at; 0 when unknown.
func (d *dest) rate(at time.Time) float64 {
	el := at.Sub(d.start)
	if el <= 0 {
		return 0
	}
	return float64(d.done()) / el.Seconds()
}

// eta is the time left at the average rate; ok is false when unknown.
func (d *dest) eta(at time.Time) (time.Duration, bool) {
	r := d.rate(at)
	if !d.planned || r <= 0 {
		return 0, false
	}
	left := max(d.planBytes-d.done(), 0)
	return time.Duration(float64(left) / r * float64(time.Second)), true
}

// complete reports whether everything planned was verified without problems.
func (d *dest) complete() bool {
	return d.planned && d.problems == 0 && d.verifiedFiles >= d.planFiles && d.verifiedBytes >= d.planBytes
}

// counts renders "812/2040 files, 10.2 GiB of 25.5 GiB" (totals left out
// when there was no plan).
func (d *dest) counts(doneBytes int64) string {
	if d.planned {
		return fmt.Sprintf("%d/%d files, %s of %s", d.verifiedFiles, d.planFiles,
			FormatBytes(doneBytes), FormatBytes(d.planBytes))
	}
	return fmt.Sprintf("%d files, %s", d.verifiedFiles, FormatBytes(doneBytes))
}

// status renders the live status at time at:
// "812/2040 files, 10.2 GiB of 25.5 GiB, 95 MiB/s, ETA 2m10s".
func (d *dest) status(at time.Time) string {
	parts := []string{d.counts(d.done())}
	if r := d.rate(at); r > 0 {
		parts = append(parts, FormatRate(r))
	}
	if eta, ok := d.eta(at); ok {
		parts = append(parts, "ETA "+FormatDuration(eta))
	}
	if d.problems > 0 {
		parts = append(parts, plural(d.problems, "problem", "problems"))
	}
	return strings.Join(parts, ", ")
}

// final renders the closing line. It counts verified bytes only, since that
// is what is known to be safe, and says "done" only when everything planned
// was verified without a problem:
// "done, 2040/2040 files verified, 25.5 GiB of 25.5 GiB in 4m30s (95 MiB/s)".
func (d *dest) final() string {
	var s string
	switch {
	case d.complete():
		s = "done, "
	case d.planned:
		s = "incomplete, "
	}
	if d.planned {
		s += fmt.Sprintf("%d/%d files verified, %s of %s", d.verifiedFiles, d.planFiles,
			FormatBytes(d.verifiedBytes), FormatBytes(d.planBytes))
	} else {
		s += fmt.Sprintf("%s verified, %s", plural(d.verifiedFiles, "file", "files"), FormatBytes(d.verifiedBytes))
	}
	if el := d.last.Sub(d.start); el > 0 {
		s += " in " + FormatDuration(el)
		if d.verifiedBytes > 0 {
			s += " (" + FormatRate(float64(d.verifiedBytes)/el.Seconds()) + ")"
		}
	}
	if d.problems > 0 {
		s += ", " + plural(d.problems, "problem", "problems")
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
