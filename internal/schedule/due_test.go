package schedule

import (
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	day := func(d, h, m int) time.Time { return at(berlin, 2024, 6, d, h, m) }
	cases := []struct {
		name    string
		sched   string
		lastRun time.Time
		now     time.Time
		want    Decision
	}{
		{"manual never due", "manual", day(1, 2, 0), day(9, 2, 0),
			Decision{LastRun: day(1, 2, 0)}},
		{"manual never ran", "", time.Time{}, day(9, 2, 0),
			Decision{}},
		{"never ran: due now", "daily 02:00", time.Time{}, day(5, 12, 0),
			Decision{Due: true, Next: day(6, 2, 0)}},
		{"not yet", "daily 02:00", day(4, 2, 0), day(5, 1, 59),
			Decision{Next: day(5, 2, 0), LastRun: day(4, 2, 0)}},
		{"on time", "daily 02:00", day(4, 2, 0), day(5, 2, 0),
			Decision{Due: true, Next: day(6, 2, 0), Missed: 1, LastRun: day(4, 2, 0)}},
		{"a little late", "daily 02:00", day(4, 2, 0), day(5, 2, 3),
			Decision{Due: true, Next: day(6, 2, 0), Missed: 1, LastRun: day(4, 2, 0)}},
		{"slept three nights: due once", "daily 02:00", day(1, 2, 0), day(4, 9, 0),
			Decision{Due: true, Next: day(5, 2, 0), Missed: 3, LastRun: day(1, 2, 0)}},
		{"clock forward by days, every 15m: due once", "every 15m", day(1, 10, 0), day(4, 10, 0),
			Decision{Due: true, Next: day(4, 10, 15), Missed: 288, LastRun: day(1, 10, 0)}},
		{"clock forward past cap", "every 1s", day(1, 10, 0), day(4, 10, 0),
			Decision{Due: true, Next: day(4, 10, 0).Add(time.Second), Missed: MaxMissed, LastRun: day(1, 10, 0)}},
		{"weekly slept through sunday", "weekly sun 03:30", day(2, 3, 30), day(10, 8, 0),
			Decision{Due: true, Next: day(16, 3, 30), Missed: 1, LastRun: day(2, 3, 30)}},
		{"run started early by hand counts", "daily 02:00", day(5, 1, 0), day(5, 2, 0),
			Decision{Due: true, Next: day(6, 2, 0), Missed: 1, LastRun: day(5, 1, 0)}},
		{"clock backwards: wait for next instant, not for lastRun", "daily 02:00", day(20, 2, 0), day(5, 12, 0),
			Decision{Next: day(6, 2, 0), ClockBackwards: true, LastRun: day(5, 12, 0)}},
		{"clock backwards, every", "every 1h", day(5, 14, 0), day(5, 12, 0),
			Decision{Next: day(5, 13, 0), ClockBackwards: true, LastRun: day(5, 12, 0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.sched)
			got := Check(s, c.lastRun, c.now)
			if got.Due != c.want.Due || !got.Next.Equal(c.want.Next) || got.Missed != c.want.Missed ||
				got.ClockBackwards != c.want.ClockBackwards || !got.LastRun.Equal(c.want.LastRun) {
				t.Fatalf("Check(%q, %v, %v)\n got %+v\nwant %+v", c.sched, c.lastRun, c.now, got, c.want)
			}
			due, next := Due(s, c.lastRun, c.now)
			if due != got.Due || !next.Equal(got.Next) {
				t.Fatalf("Due = %v, %v; Check says %v, %v", due, next, got.Due, got.Next)
			}
		})
	}
}

func TestClockBackwardsBecomesDueAtNextInstant(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	s := mustParse(t, "daily 02:00")
	future := at(berlin, 2024, 7, 1, 2, 0) // recorded while the clock ran ahead
	now := at(berlin, 2024, 6, 5, 12, 0)
	d := Check(s, future, now)
	if d.Due || !d.ClockBackwards {
		t.Fatalf("after the clock went back: %+v, want not due and ClockBackwards", d)
	}
	// Just before the next instant: still waiting.
	if e := Check(s, d.LastRun, d.Next.Add(-time.Second)); e.Due {
		t.Fatalf("due a second early: %+v", e)
	}
	// At the next instant (6 June 02:00, long before the future lastRun): due.
	e := Check(s, d.LastRun, d.Next)
	if !e.Due || !d.Next.Equal(at(berlin, 2024, 6, 6, 2, 0)) {
		t.Fatalf("at %v: %+v, want due", d.Next, e)
	}
	// A caller that forgot to keep LastRun would wait: documented, and shown here.
	if f := Check(s, future, d.Next); f.Due {
		t.Fatalf("with the future lastRun the job must not be due: %+v", f)
	}
}

// TestDaemonLoop drives Check the way the daemon will, over two weeks that
// hold a sleep of three days, a backwards clock jump and a DST change: the
// job runs once per scheduled day it was awake for, once after waking, and
// never twice in a day.
func TestDaemonLoop(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	s := mustParse(t, "daily 02:30")
	now := at(berlin, 2024, 3, 25, 12, 0)
	end := at(berlin, 2024, 4, 8, 12, 0)
	sleepFrom, wake := at(berlin, 2024, 3, 27, 23, 0), at(berlin, 2024, 3, 30, 9, 0)
	jumpAt, jumpTo := at(berlin, 2024, 4, 4, 12, 0), at(berlin, 2024, 4, 3, 12, 0)
	last := at(berlin, 2024, 3, 25, 2, 30)
	var ran []time.Time
	jumped := false
	for steps := 0; now.Before(end); steps++ {
		if steps > 1000 {
			t.Fatal("loop does not advance")
		}
		d := Check(s, last, now)
		if d.Due {
			ran = append(ran, now)
			last = now
		} else {
			last = d.LastRun
		}
		wakeAt := d.Next
		switch {
		case !now.After(sleepFrom) && wakeAt.After(sleepFrom):
			wakeAt = wake // the lid was closed
		case !jumped && !now.After(jumpAt) && wakeAt.After(jumpAt):
			jumped, wakeAt = true, jumpTo // the clock was set back a day
		}
		now = wakeAt
	}
	var got []string
	for _, r := range ran {
		got = append(got, r.Format("01-02 15:04 MST"))
	}
	wantStr := []string{
		"03-26 02:30 CET", "03-27 02:30 CET",
		"03-30 09:00 CET",
		"03-31 03:00 CEST",
		"04-01 02:30 CEST", "04-02 02:30 CEST", "04-03 02:30 CEST", "04-04 02:30 CEST",
		"04-04 02:30 CEST", // after the clock was set back to 3 April noon
		"04-05 02:30 CEST", "04-06 02:30 CEST", "04-07 02:30 CEST", "04-08 02:30 CEST",
	}
	if len(got) != len(wantStr) {
		t.Fatalf("runs:\n got %v\nwant %v", got, wantStr)
	}
	for i := range got {
		if got[i] != wantStr[i] {
			t.Fatalf("run %d at %s, want %s\nall: %v", i, got[i], wantStr[i], got)
		}
	}
}
