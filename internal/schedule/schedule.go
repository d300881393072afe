// Package schedule holds the pure time arithmetic behind Trove's background
// work: when a target's backup is next due, whether a run was missed while
// the computer slept, the overnight upload window, the bandwidth limit by time
// of day, a token-bucket limiter for stores, and the nightly scrub budget.
//
// Nothing here reads the clock, sleeps on its own or touches a file: every
// function takes the current time (and the limiter takes a clock and a sleep
// function), so the daemon built on it is tested without waiting.
//
// Time zones: schedules, windows and bandwidth tables are wall-clock times in
// the location of the time.Time passed in (the daemon passes local time).
// Daylight-saving changes are handled the way a photographer expects: a
// wall time that does not exist (spring forward) fires at the first instant
// after the gap; a wall time that happens twice (fall back) fires once, at its
// first occurrence. See docs/schedule.md for the config syntax.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

type kind uint8

const (
	kindManual kind = iota // never runs on its own
	kindHourly             // every hour at minute 0, in elapsed time
	kindEvery              // a fixed interval after the previous run
	kindWall               // daily, weekly, cron: wall-clock times
)

// Schedule says when a job runs on its own. The zero Schedule is "manual":
// it never runs on its own and Next returns the zero time.
type Schedule struct {
	kind  kind
	every time.Duration      // kindEvery
	spec  *cron.SpecSchedule // kindWall, evaluated on wall clocks (Location UTC)
	text  string             // canonical form for String
}

// Examples printed with every parse error.
const scheduleExamples = `"hourly", "daily 02:00", "weekly sun 03:30", "every 15m", "0 2 * * *" or "manual"`

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse reads a schedule as written in the config file:
//
//	""  or "manual"       never on its own (only `trove backup` by hand)
//	"hourly"              every hour at minute 0
//	"daily 02:00"         every day at 02:00 (24-hour clock)
//	"weekly sun 03:30"    every Sunday at 03:30 (sun, mon, … or full names)
//	"every 15m"           15 minutes after the previous run (Go durations
//	                      such as 90s, 15m, 1h30m, or whole days: 2d; ≥ 1s)
//	"0 2 * * *"           a 5-field cron expression (minute hour day month
//	                      weekday), also @daily, @weekly, @monthly, @hourly
//
// Input is case-insensitive and extra spaces are ignored. Errors name the
// problem and show an example. A cron expression that never fires (such as
// "0 0 30 2 *") is refused.
func Parse(s string) (Schedule, error) {
	fields := strings.Fields(strings.ToLower(s))
	if len(fields) == 0 || (len(fields) == 1 && fields[0] == "manual") {
		return Schedule{}, nil
	}
	bad := func(format string, args ...any) (Schedule, error) {
		return Schedule{}, fmt.Errorf("schedule %q: %s", s, fmt.Sprintf(format, args...))
	}
	switch fields[0] {
	case "manual":
		return bad(`"manual" takes nothing after it`)
	case "hourly":
		if len(fields) != 1 {
			return bad(`"hourly" runs at minute 0 of every hour and takes nothing after it; for another minute use cron, e.g. "15 * * * *"`)
		}
		return Schedule{kind: kindHourly, text: "hourly"}, nil
	case "daily":
		if len(fields) != 2 {
			return bad(`want "daily HH:MM", e.g. "daily 02:00"`)
		}
		m, err := parseClock(fields[1], false)
		if err != nil {
			return bad(`%v, e.g. "daily 02:00"`, err)
		}
		return wallSchedule(fmt.Sprintf("%d %d * * *", m%60, m/60), "daily "+formatClock(m))
	case "weekly":
		if len(fields) != 3 {
			return bad(`want "weekly DAY HH:MM", e.g. "weekly sun 03:30"`)
		}
		d, ok := weekdays[fields[1]]
		if !ok {
			return bad(`%q is not a weekday (sun, mon, tue, wed, thu, fri, sat), e.g. "weekly sun 03:30"`, fields[1])
		}
		m, err := parseClock(fields[2], false)
		if err != nil {
			return bad(`%v, e.g. "weekly sun 03:30"`, err)
		}
		return wallSchedule(fmt.Sprintf("%d %d * * %d", m%60, m/60, d),
			"weekly "+strings.ToLower(d.String()[:3])+" "+formatClock(m))
	case "every":
		if len(fields) != 2 {
			return bad(`want "every DURATION", e.g. "every 15m", "every 6h" or "every 2d"`)
		}
		d, err := parseEvery(fields[1])
		if err != nil {
			return bad(`%v, e.g. "every 15m", "every 6h" or "every 2d"`, err)
		}
		return Schedule{kind: kindEvery, every: d, text: "every " + formatDuration(d)}, nil
	}
	if strings.HasPrefix(fields[0], "tz=") || strings.HasPrefix(fields[0], "cron_tz=") {
		return bad("a time zone prefix is not supported: schedules follow the computer's time zone")
	}
	if strings.HasPrefix(fields[0], "@") {
		if fields[0] == "@every" {
			return bad(`write "every 15m" instead of "@every 15m"`)
		}
		if len(fields) != 1 {
			return bad(`%q takes nothing after it`, fields[0])
		}
		sch, err := wallSchedule(fields[0], fields[0])
		if err != nil {
			return bad(`unknown shorthand %q; use @hourly, @daily, @weekly, @monthly or @yearly, or one of %s`, fields[0], scheduleExamples)
		}
		return sch, nil
	}
	if len(fields) != 5 {
		return bad("not a known schedule; a cron expression has 5 fields (minute hour day month weekday), this has %d; use one of %s",
			len(fields), scheduleExamples)
	}
	expr := strings.Join(fields, " ")
	sch, err := wallSchedule(expr, expr)
	if err != nil {
		return bad(`%v; a cron expression is "minute hour day month weekday", e.g. "0 2 * * *" (02:00 daily)`, err)
	}
	return sch, nil
}

// wallSchedule parses a cron expression to be evaluated on wall clocks.
func wallSchedule(expr, text string) (Schedule, error) {
	c, err := cronParser.Parse(expr)
	if err != nil {
		return Schedule{}, err
	}
	spec, ok := c.(*cron.SpecSchedule)
	if !ok {
		return Schedule{}, fmt.Errorf("unsupported cron form %q", expr)
	}
	sp := *spec
	sp.Location = time.UTC // the wall clock, see Next
	// The cron library searches five years ahead; nothing found means never.
	if sp.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return Schedule{}, fmt.Errorf("%q never fires (no such date)", expr)
	}
	return Schedule{kind: kindWall, spec: &sp, text: text}, nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "sunday": time.Sunday,
	"mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tues": time.Tuesday, "tuesday": time.Tuesday,
	"wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thur": time.Thursday, "thurs": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
}

// parseEvery reads a Go duration or a whole number of days ("2d").
func parseEvery(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 || days > 366 {
			return 0, fmt.Errorf("%q is not a whole number of days from 1 to 366", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
	}
	if d < time.Second {
		return 0, fmt.Errorf("interval %q is shorter than 1s", s)
	}
	return d, nil
}

// formatDuration prints 15m rather than 15m0s, and whole days as 2d.
func formatDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// String returns the schedule in its canonical config form ("manual" for the
// zero Schedule).
func (s Schedule) String() string {
	if s.kind == kindManual {
		return "manual"
	}
	return s.text
}

// Manual reports whether the schedule never runs on its own.
func (s Schedule) Manual() bool { return s.kind == kindManual }

// Next returns the first scheduled instant strictly after after, in after's
// location, or the zero time for a manual schedule.
//
//   - hourly: the next full hour of elapsed time (a fall-back night has two
//     runs during the repeated hour, a spring-forward night none in the gap);
//   - every D: after + D (after is the start of the previous run);
//   - daily, weekly and cron: the next wall-clock match. A match inside a
//     spring-forward gap (02:30 when clocks jump from 02:00 to 03:00) fires
//     at the end of the gap (03:00 new time); a match in a repeated hour
//     (fall back) fires at its first occurrence only, so a daily job never
//     runs twice on that day.
func (s Schedule) Next(after time.Time) time.Time {
	switch s.kind {
	case kindHourly:
		into := time.Duration(after.Minute())*time.Minute +
			time.Duration(after.Second())*time.Second + time.Duration(after.Nanosecond())
		return after.Add(-into).Add(time.Hour)
	case kindEvery:
		return after.Add(s.every)
	case kindWall:
		loc := after.Location()
		w := wallOf(after)
		// A few wall matches may lie before after (the repeated hour of a
		// fall-back night resolves to its first occurrence): at most 60 for a
		// minute-level expression. The bound only guards against a surprise.
		for range 10000 {
			n := s.spec.Next(w)
			if n.IsZero() {
				return time.Time{}
			}
			if inst := resolve(n, loc)[0]; inst.After(after) {
				return inst
			}
			w = n
		}
	}
	return time.Time{}
}

// wallOf returns t's wall-clock reading in its own location, as a UTC time:
// a zone-free date and time of day that the cron library can step through
// without daylight-saving surprises.
func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// resolve returns the instants in loc whose wall clock reads w (a wallOf
// value), earliest first: one on ordinary days, two when w falls in the hour
// repeated by a fall-back change. When w falls in a spring-forward gap no
// instant reads w and resolve returns the instant the gap ends, the first
// valid instant after w.
func resolve(w time.Time, loc *time.Location) []time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	if got := wallOf(t); !got.Equal(w) {
		// In a gap: time.Date normalised to one side of it.
		start, end := t.ZoneBounds()
		if got.After(w) {
			return []time.Time{start}
		}
		return []time.Time{end}
	}
	out := []time.Time{t}
	start, end := t.ZoneBounds()
	with := func(offset int) time.Time {
		return time.Unix(w.Unix()-int64(offset), int64(w.Nanosecond())).In(loc)
	}
	if !start.IsZero() {
		_, off := start.Add(-time.Nanosecond).Zone()
		if c := with(off); c.Before(start) && wallOf(c).Equal(w) {
			out = []time.Time{c, t}
		}
	}
	if !end.IsZero() {
		_, off := end.Zone()
		if c := with(off); !c.Before(end) && wallOf(c).Equal(w) {
			out = append(out, c)
		}
	}
	return out
}
