package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseWindow(t *testing.T) {
	good := []struct{ in, want string }{
		{"", "always"},
		{"always", "always"},
		{"00:00-24:00", "always"},
		{"01:00-06:00", "01:00-06:00"},
		{" 1:00 - 6:00 ", "01:00-06:00"},
		{"22:00-06:00", "22:00-06:00"},
		{"18:00-24:00", "18:00-24:00"},
		{"00:00-00:01", "00:00-00:01"},
	}
	for _, c := range good {
		w, err := ParseWindow(c.in)
		if err != nil {
			t.Errorf("ParseWindow(%q): %v", c.in, err)
			continue
		}
		if w.String() != c.want {
			t.Errorf("ParseWindow(%q) = %q, want %q", c.in, w, c.want)
		}
	}
	bad := []struct{ in, want string }{
		{"01:00", "HH:MM-HH:MM"},
		{"1-6", "not HH:MM"},
		{"01:00-25:00", "not HH:MM"},
		{"24:00-06:00", "not HH:MM"},
		{"01:00-06:61", "not HH:MM"},
		{"03:00-03:00", "the same"},
		{"00:00-00:00", "the same"},
		{"night", "HH:MM-HH:MM"},
	}
	for _, c := range bad {
		_, err := ParseWindow(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.in) {
			t.Errorf("ParseWindow(%q) error %v, want one quoting the input and containing %q", c.in, err, c.want)
		}
	}
}

func mustWindow(t *testing.T, s string) Window {
	t.Helper()
	w, err := ParseWindow(s)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWindow(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	d := func(day, h, m int) time.Time { return at(berlin, 2024, 6, day, h, m) }
	type want struct {
		contains  bool
		end       time.Time
		nextStart time.Time
	}
	cases := []struct {
		name   string
		window string
		t      time.Time
		want   want
	}{
		{"before", "01:00-06:00", d(5, 0, 59), want{false, d(5, 0, 59), d(5, 1, 0)}},
		{"at start", "01:00-06:00", d(5, 1, 0), want{true, d(5, 6, 0), d(6, 1, 0)}},
		{"inside", "01:00-06:00", d(5, 3, 0), want{true, d(5, 6, 0), d(6, 1, 0)}},
		{"at end: closed", "01:00-06:00", d(5, 6, 0), want{false, d(5, 6, 0), d(6, 1, 0)}},
		{"evening", "01:00-06:00", d(5, 23, 0), want{false, d(5, 23, 0), d(6, 1, 0)}},
		{"cross: evening inside", "22:00-06:00", d(5, 23, 0), want{true, d(6, 6, 0), d(6, 22, 0)}},
		{"cross: morning inside", "22:00-06:00", d(6, 5, 59), want{true, d(6, 6, 0), d(6, 22, 0)}},
		{"cross: day outside", "22:00-06:00", d(6, 12, 0), want{false, d(6, 12, 0), d(6, 22, 0)}},
		{"cross: midnight", "22:00-06:00", d(6, 0, 0), want{true, d(6, 6, 0), d(6, 22, 0)}},
		{"to midnight", "18:00-24:00", d(5, 23, 59), want{true, d(6, 0, 0), d(6, 18, 0)}},
		{"month end", "22:00-06:00", at(berlin, 2024, 6, 30, 23, 0), want{true, at(berlin, 2024, 7, 1, 6, 0), at(berlin, 2024, 7, 1, 22, 0)}},
		{"always", "", d(5, 12, 0), want{true, time.Time{}, time.Time{}}},

		// Spring forward (Berlin, 31 March 2024, 02:00 CET -> 03:00 CEST = 01:00 UTC).
		{"spring: end in gap closes at gap end", "01:00-02:30", at(berlin, 2024, 3, 31, 1, 30),
			want{true, time.Date(2024, 3, 31, 1, 0, 0, 0, time.UTC), at(berlin, 2024, 4, 1, 1, 0)}},
		{"spring: start in gap opens at gap end", "02:30-06:00", at(berlin, 2024, 3, 31, 1, 30),
			want{false, at(berlin, 2024, 3, 31, 1, 30), time.Date(2024, 3, 31, 1, 0, 0, 0, time.UTC)}},
		{"spring: overnight window is an hour shorter", "01:00-06:00", at(berlin, 2024, 3, 31, 1, 0),
			want{true, time.Date(2024, 3, 31, 4, 0, 0, 0, time.UTC), at(berlin, 2024, 4, 1, 1, 0)}},
		// Fall back (Berlin, 27 October 2024, 03:00 CEST -> 02:00 CET = 01:00 UTC).
		{"fall: overnight window is an hour longer", "01:00-06:00", at(berlin, 2024, 10, 27, 1, 0),
			want{true, time.Date(2024, 10, 27, 5, 0, 0, 0, time.UTC), at(berlin, 2024, 10, 28, 1, 0)}},
		{"fall: in repeated hour, end is the second 02:30", "01:00-02:30",
			time.Date(2024, 10, 27, 1, 10, 0, 0, time.UTC).In(berlin),
			want{true, time.Date(2024, 10, 27, 1, 30, 0, 0, time.UTC), at(berlin, 2024, 10, 28, 1, 0)}},
		{"fall: window opens again in repeated hour", "02:00-02:30",
			time.Date(2024, 10, 27, 0, 45, 0, 0, time.UTC).In(berlin),
			want{false, time.Date(2024, 10, 27, 0, 45, 0, 0, time.UTC), time.Date(2024, 10, 27, 1, 0, 0, 0, time.UTC)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := mustWindow(t, c.window)
			if got := w.Contains(c.t); got != c.want.contains {
				t.Errorf("%s.Contains(%v) = %v", c.window, c.t, got)
			}
			if got := w.End(c.t); !got.Equal(c.want.end) {
				t.Errorf("%s.End(%v) = %v, want %v", c.window, c.t, got, c.want.end)
			}
			if got := w.NextStart(c.t); !got.Equal(c.want.nextStart) {
				t.Errorf("%s.NextStart(%v) = %v, want %v", c.window, c.t, got, c.want.nextStart)
			}
		})
	}
}

// TestWindowWalk follows a job that waits for the window, works until its
// end, then waits again, for a year in Berlin: every night the window opens
// once and closes once, and End/NextStart always move forward.
func TestWindowWalk(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	// From 1 January noon: 365 nights from 2 January, 366 for the evening
	// window; windows that lie inside the spring-forward gap stay shut once,
	// and one inside the repeated hour of the fall-back night opens twice.
	for spec, want := range map[string]int{"01:00-06:00": 365, "22:00-06:00": 366, "02:00-03:00": 364, "02:30-02:45": 365} {
		w := mustWindow(t, spec)
		now := at(berlin, 2024, 1, 1, 12, 0)
		opens := 0
		for {
			start := w.NextStart(now)
			if !start.After(now) {
				t.Fatalf("%s: NextStart(%v) = %v does not move forward", spec, now, start)
			}
			if start.Year() != 2024 {
				break
			}
			end := w.End(start)
			if !w.Contains(start) {
				// A window entirely inside a spring-forward gap: shut that night.
				if start.Month() != time.March {
					t.Fatalf("%s: not open at its start %v", spec, start)
				}
				now = start
				continue
			}
			if !end.After(start) || end.Sub(start) > 9*time.Hour {
				t.Fatalf("%s: opened %v, closes %v", spec, start, end)
			}
			if w.Contains(end) && end.Month() != time.October {
				t.Fatalf("%s: still open at its end %v", spec, end)
			}
			opens++
			now = end
		}
		if opens != want {
			t.Errorf("%s: opened %d times in 2024, want %d", spec, opens, want)
		}
	}
}
