package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const minutesPerDay = 24 * 60

// Window is a daily span of wall-clock time, such as 01:00-06:00 for
// overnight uploads; it may cross midnight (22:00-06:00). The zero Window is
// always open.
//
// Windows are read on the wall clock of the time passed in. On a fall-back
// night a time in the repeated hour is inside the window whenever its wall
// reading is; on a spring-forward night the skipped wall times simply do not
// happen (a window 02:00-02:30 stays shut that night).
type Window struct {
	start, end int // minutes since midnight; end may be 1440
	set        bool
}

// ParseWindow reads "HH:MM-HH:MM" (24-hour clock; "24:00" allowed as an end;
// start after end crosses midnight). "" and "always" mean always open, and so
// does "00:00-24:00". Start equal to end is refused as ambiguous.
func ParseWindow(s string) (Window, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	if t == "" || t == "always" {
		return Window{}, nil
	}
	bad := func(format string, args ...any) (Window, error) {
		return Window{}, fmt.Errorf("window %q: %s", s, fmt.Sprintf(format, args...))
	}
	a, b, ok := strings.Cut(t, "-")
	if !ok {
		return bad(`want "HH:MM-HH:MM", e.g. "01:00-06:00" or "22:00-06:00" (crossing midnight); "" means always`)
	}
	start, err := parseClock(strings.TrimSpace(a), false)
	if err != nil {
		return bad(`start: %v, e.g. "01:00-06:00"`, err)
	}
	end, err := parseClock(strings.TrimSpace(b), true)
	if err != nil {
		return bad(`end: %v, e.g. "01:00-06:00"`, err)
	}
	if start == end%minutesPerDay {
		if start == 0 && end == minutesPerDay {
			return Window{}, nil
		}
		return bad(`start and end are the same; for always open leave the window empty`)
	}
	return Window{start: start, end: end, set: true}, nil
}

// parseClock reads "HH:MM" or "H:MM" as minutes since midnight; "24:00" only
// when allow24.
func parseClock(s string, allow24 bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("time %q is not HH:MM (24-hour clock)", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && (mm != 0 || !allow24)) {
		return 0, fmt.Errorf("time %q is not HH:MM (24-hour clock, 00:00 to 23:59)", s)
	}
	return hh*60 + mm, nil
}

func formatClock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// Always reports whether the window is always open.
func (w Window) Always() bool { return !w.set }

// String returns "HH:MM-HH:MM", or "always".
func (w Window) String() string {
	if !w.set {
		return "always"
	}
	return formatClock(w.start) + "-" + formatClock(w.end)
}

// span is String with "00:00-24:00" for always.
func (w Window) span() string {
	if !w.set {
		return "00:00-24:00"
	}
	return w.String()
}

// crosses reports whether the window spans midnight.
func (w Window) crosses() bool { return w.start > w.end }

// containsMinute reports whether a wall-clock minute of the day is inside.
func (w Window) containsMinute(m int) bool {
	if !w.set {
		return true
	}
	if w.crosses() {
		return m >= w.start || m < w.end
	}
	return m >= w.start && m < w.end
}

// Contains reports whether t's wall clock is inside the window (start
// included, end excluded).
func (w Window) Contains(t time.Time) bool {
	return w.containsMinute(t.Hour()*60 + t.Minute())
}

// End returns when the window that contains t closes: the instant a running
// job should stop cleanly. It returns the zero time for an always-open window
// (it never closes) and t itself when t is outside the window (already
// closed). An end inside a spring-forward gap closes at the end of the gap.
func (w Window) End(t time.Time) time.Time {
	if !w.set {
		return time.Time{}
	}
	if !w.Contains(t) {
		return t
	}
	day := 0
	if w.crosses() && t.Hour()*60+t.Minute() >= w.start {
		day = 1 // opened this evening, closes tomorrow morning
	}
	if e, ok := firstAfter(t, day, w.end); ok {
		return e
	}
	return t
}

// NextStart returns the first instant strictly after t at which the window
// opens: for a job waiting outside the window, when it resumes ("resumes
// 01:00"); for t inside the window, the opening after this one. It returns
// the zero time for an always-open window (it never opens, it is open).
func (w Window) NextStart(t time.Time) time.Time {
	if !w.set {
		return time.Time{}
	}
	for day := range 3 {
		if s, ok := firstAfter(t, day, w.start); ok {
			return s
		}
	}
	return time.Time{} // not reached for real zones
}

// firstAfter returns the first instant after t whose wall clock reads minute
// m of the day that is days after t's date (m may be 1440: next midnight).
func firstAfter(t time.Time, days, m int) (time.Time, bool) {
	w := time.Date(t.Year(), t.Month(), t.Day()+days, 0, m, 0, 0, time.UTC)
	for _, c := range resolve(w, t.Location()) {
		if c.After(t) {
			return c, true
		}
	}
	return time.Time{}, false
}
