package schedule

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // real zones even where the system has no tz database
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

// at builds a wall time in loc. Around daylight-saving changes tests use
// explicit UTC instants instead, since such wall times are missing or doubled.
func at(loc *time.Location, y int, mo time.Month, d, h, mi int, sec ...int) time.Time {
	s := 0
	if len(sec) > 0 {
		s = sec[0]
	}
	return time.Date(y, mo, d, h, mi, s, 0, loc)
}

func utc(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

func mustParse(t *testing.T, s string) Schedule {
	t.Helper()
	sch, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return sch
}

func TestParse(t *testing.T) {
	good := []struct{ in, want string }{
		{"", "manual"},
		{"  manual ", "manual"},
		{"hourly", "hourly"},
		{"HOURLY", "hourly"},
		{"daily 02:00", "daily 02:00"},
		{"daily  2:00", "daily 02:00"},
		{"Daily 23:59", "daily 23:59"},
		{"weekly sun 03:30", "weekly sun 03:30"},
		{"weekly Sunday 3:30", "weekly sun 03:30"},
		{"weekly thu 00:00", "weekly thu 00:00"},
		{"every 15m", "every 15m"},
		{"every 90s", "every 1m30s"},
		{"every 1h30m", "every 1h30m"},
		{"every 6h", "every 6h"},
		{"every 2d", "every 2d"},
		{"every 1s", "every 1s"},
		{"0 2 * * *", "0 2 * * *"},
		{"*/15  * * * MON-FRI", "*/15 * * * mon-fri"},
		{"@daily", "@daily"},
		{"@weekly", "@weekly"},
	}
	for _, c := range good {
		s, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if s.String() != c.want {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, s.String(), c.want)
		}
		// The canonical form reads back to the same schedule.
		again, err := Parse(s.String())
		if err != nil || again.String() != s.String() {
			t.Errorf("Parse(%q) round trip: %v, %q", s.String(), err, again.String())
		}
	}

	bad := []struct{ in, want string }{
		{"daily", `"daily 02:00"`},
		{"daily 2", `not HH:MM`},
		{"daily 25:00", `not HH:MM`},
		{"daily 24:00", `not HH:MM`},
		{"daily 02:60", `not HH:MM`},
		{"daily 2pm", `not HH:MM`},
		{"weekly 03:30", `"weekly sun 03:30"`},
		{"weekly someday 03:30", `not a weekday`},
		{"every", `"every 15m"`},
		{"every 0s", `shorter than 1s`},
		{"every 500ms", `shorter than 1s`},
		{"every fortnight", `not a duration`},
		{"every 0d", `whole number of days`},
		{"hourly 15", `"15 * * * *"`},
		{"manual now", `takes nothing`},
		{"nightly", `not a known schedule`},
		{"0 2 * *", `5 fields`},
		{"0 0 2 * * *", `5 fields`},
		{"61 2 * * *", `cron expression`},
		{"0 0 30 2 *", `never fires`},
		{"@every 5m", `"every 15m"`},
		{"@sometimes", `unknown shorthand`},
		{"TZ=Europe/Berlin 0 2 * * *", `time zone`},
	}
	for _, c := range bad {
		_, err := Parse(c.in)
		if err == nil {
			t.Errorf("Parse(%q) = nil error, want one containing %s", c.in, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.in) {
			t.Errorf("Parse(%q) error %q: want it to quote the input and contain %s", c.in, err, c.want)
		}
	}
}

func TestNext(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	newYork := zone(t, "America/New_York")
	kolkata := zone(t, "Asia/Kolkata")
	cases := []struct {
		name  string
		sched string
		after time.Time
		want  time.Time // compared as instants
	}{
		{"manual never", "manual", at(berlin, 2024, 6, 1, 12, 0), time.Time{}},
		{"daily later today", "daily 02:00", at(berlin, 2024, 6, 1, 1, 0), at(berlin, 2024, 6, 1, 2, 0)},
		{"daily exactly now is not after", "daily 02:00", at(berlin, 2024, 6, 1, 2, 0), at(berlin, 2024, 6, 2, 2, 0)},
		{"daily tomorrow", "daily 02:00", at(berlin, 2024, 6, 1, 2, 1), at(berlin, 2024, 6, 2, 2, 0)},
		{"daily year end", "daily 02:00", at(berlin, 2024, 12, 31, 23, 0), at(berlin, 2025, 1, 1, 2, 0)},
		{"weekly next sunday", "weekly sun 03:30", at(berlin, 2024, 6, 5, 9, 0), at(berlin, 2024, 6, 9, 3, 30)},
		{"weekly same sunday later", "weekly sun 03:30", at(berlin, 2024, 6, 9, 3, 29), at(berlin, 2024, 6, 9, 3, 30)},
		{"weekly after this sunday's", "weekly sun 03:30", at(berlin, 2024, 6, 9, 3, 30), at(berlin, 2024, 6, 16, 3, 30)},
		{"every 15m from last run", "every 15m", at(berlin, 2024, 6, 1, 10, 7), at(berlin, 2024, 6, 1, 10, 22)},
		{"hourly", "hourly", at(berlin, 2024, 6, 1, 10, 7), at(berlin, 2024, 6, 1, 11, 0)},
		{"hourly on the hour", "hourly", at(berlin, 2024, 6, 1, 10, 0), at(berlin, 2024, 6, 1, 11, 0)},
		{"hourly half-hour zone", "hourly", at(kolkata, 2024, 6, 1, 10, 59), at(kolkata, 2024, 6, 1, 11, 0)},
		{"cron weekdays", "0 2 * * mon-fri", at(berlin, 2024, 6, 7, 3, 0), at(berlin, 2024, 6, 10, 2, 0)},
		{"cron monthly", "@monthly", at(berlin, 2024, 2, 10, 0, 0), at(berlin, 2024, 3, 1, 0, 0)},
		{"cron leap day", "0 0 29 2 *", at(berlin, 2025, 1, 1, 0, 0), at(berlin, 2028, 2, 29, 0, 0)},

		// Spring forward in Berlin: 2024-03-31 02:00 CET becomes 03:00 CEST (01:00 UTC).
		{"spring: 02:30 runs at end of gap", "daily 02:30", at(berlin, 2024, 3, 30, 12, 0), utc(2024, 3, 31, 1, 0)},
		{"spring: next day normal", "daily 02:30", utc(2024, 3, 31, 1, 0).In(berlin), at(berlin, 2024, 4, 1, 2, 30)},
		{"spring: cron too", "30 2 * * *", at(berlin, 2024, 3, 31, 0, 0), utc(2024, 3, 31, 1, 0)},
		{"spring: 03:00 unaffected", "daily 03:00", at(berlin, 2024, 3, 31, 0, 0), utc(2024, 3, 31, 1, 0)},
		{"spring: hourly in elapsed time", "hourly", utc(2024, 3, 31, 0, 10).In(berlin), utc(2024, 3, 31, 1, 0)},
		{"spring: new york", "daily 02:30", at(newYork, 2024, 3, 9, 12, 0), utc(2024, 3, 10, 7, 0)},

		// Fall back in Berlin: 2024-10-27 03:00 CEST becomes 02:00 CET (01:00 UTC);
		// 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
		{"fall: first occurrence", "daily 02:30", at(berlin, 2024, 10, 26, 12, 0), utc(2024, 10, 27, 0, 30)},
		{"fall: not again in repeated hour", "daily 02:30", utc(2024, 10, 27, 0, 30).In(berlin), at(berlin, 2024, 10, 28, 2, 30)},
		{"fall: from inside repeated hour", "daily 02:30", utc(2024, 10, 27, 1, 10).In(berlin), at(berlin, 2024, 10, 28, 2, 30)},
		{"fall: hourly runs each real hour", "hourly", utc(2024, 10, 27, 0, 0).In(berlin), utc(2024, 10, 27, 1, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mustParse(t, c.sched).Next(c.after)
			if !got.Equal(c.want) {
				t.Fatalf("%q.Next(%v) = %v, want %v", c.sched, c.after, got, c.want)
			}
			if !got.IsZero() && got.Location() != c.after.Location() {
				t.Errorf("result in %v, want the input's location %v", got.Location(), c.after.Location())
			}
		})
	}
}

// runs lists every instant s fires in [from, to), following Next.
func runs(s Schedule, from, to time.Time) []time.Time {
	var out []time.Time
	for n := s.Next(from.Add(-time.Nanosecond)); !n.IsZero() && n.Before(to); n = s.Next(n) {
		out = append(out, n)
	}
	return out
}

func TestDSTDaysRunOnce(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	for _, sched := range []string{"daily 02:30", "30 2 * * *", "daily 02:00", "daily 02:59"} {
		s := mustParse(t, sched)
		for _, day := range []struct {
			name string
			date time.Time
		}{
			{"spring forward", at(berlin, 2024, 3, 31, 0, 0)},
			{"fall back", at(berlin, 2024, 10, 27, 0, 0)},
		} {
			got := runs(s, day.date, day.date.AddDate(0, 0, 1))
			if len(got) != 1 {
				t.Errorf("%q on %s day: %d runs %v, want exactly 1", sched, day.name, len(got), got)
			}
		}
		// Around each change, one run per day for a week.
		for _, start := range []time.Time{at(berlin, 2024, 3, 28, 0, 0), at(berlin, 2024, 10, 24, 0, 0)} {
			got := runs(s, start, start.AddDate(0, 0, 7))
			if len(got) != 7 {
				t.Errorf("%q week from %v: %d runs, want 7: %v", sched, start, len(got), got)
			}
			for i := 1; i < len(got); i++ {
				if got[i].YearDay() == got[i-1].YearDay() {
					t.Errorf("%q: two runs on one day: %v and %v", sched, got[i-1], got[i])
				}
			}
		}
	}
	// The run on spring-forward day is the first valid instant after 02:30.
	got := runs(mustParse(t, "daily 02:30"), at(berlin, 2024, 3, 31, 0, 0), at(berlin, 2024, 4, 1, 0, 0))
	if len(got) == 1 && (got[0].Hour() != 3 || got[0].Minute() != 0) {
		t.Errorf("spring-forward run at %v, want 03:00 CEST", got[0])
	}
	// Hourly keeps to elapsed hours: 25 runs on the 25-hour day, 23 on the short one.
	hourly := mustParse(t, "hourly")
	if n := len(runs(hourly, at(berlin, 2024, 10, 27, 0, 0), at(berlin, 2024, 10, 28, 0, 0))); n != 25 {
		t.Errorf("hourly on fall-back day: %d runs, want 25", n)
	}
	if n := len(runs(hourly, at(berlin, 2024, 3, 31, 0, 0), at(berlin, 2024, 4, 1, 0, 0))); n != 23 {
		t.Errorf("hourly on spring-forward day: %d runs, want 23", n)
	}
}

func TestMidnightTransition(t *testing.T) {
	// Chile springs forward at midnight: 2024-09-08 00:00 does not exist there.
	santiago := zone(t, "America/Santiago")
	s := mustParse(t, "daily 00:00")
	got := s.Next(at(santiago, 2024, 9, 7, 12, 0))
	if got.Day() != 8 || got.Hour() != 1 || got.Minute() != 0 {
		t.Fatalf("daily 00:00 on Chile's spring-forward day = %v, want 2024-09-08 01:00 local", got)
	}
	if n := s.Next(got); n.Day() != 9 || n.Hour() != 0 {
		t.Fatalf("next after %v = %v, want 2024-09-09 00:00", got, n)
	}
}

func TestResolve(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	cases := []struct {
		name string
		wall time.Time
		want []time.Time
	}{
		{"ordinary", utc(2024, 6, 1, 2, 30), []time.Time{utc(2024, 6, 1, 0, 30)}},
		{"gap", utc(2024, 3, 31, 2, 30), []time.Time{utc(2024, 3, 31, 1, 0)}},
		{"gap start", utc(2024, 3, 31, 2, 0), []time.Time{utc(2024, 3, 31, 1, 0)}},
		{"overlap", utc(2024, 10, 27, 2, 30), []time.Time{utc(2024, 10, 27, 0, 30), utc(2024, 10, 27, 1, 30)}},
		{"overlap start", utc(2024, 10, 27, 2, 0), []time.Time{utc(2024, 10, 27, 0, 0), utc(2024, 10, 27, 1, 0)}},
		{"after overlap", utc(2024, 10, 27, 3, 0), []time.Time{utc(2024, 10, 27, 2, 0)}},
	}
	for _, c := range cases {
		got := resolve(c.wall, berlin)
		if len(got) != len(c.want) {
			t.Errorf("%s: resolve(%v) = %v, want %v", c.name, c.wall, got, c.want)
			continue
		}
		for i := range got {
			if !got[i].Equal(c.want[i]) {
				t.Errorf("%s: resolve(%v)[%d] = %v, want %v", c.name, c.wall, i, got[i], c.want[i])
			}
		}
	}
}
