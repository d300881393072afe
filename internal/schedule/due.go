package schedule

import "time"

// MaxMissed caps Decision.Missed: counting stops there.
const MaxMissed = 1000

// Decision is what Check decides for one job.
type Decision struct {
	// Due: run the job now.
	Due bool
	// Next is the next scheduled instant after now: when to call Check
	// again (after running the job, if Due). Zero for a manual schedule.
	Next time.Time
	// Missed counts the scheduled instants in (lastRun, now], up to
	// MaxMissed. More than 1 means runs were missed (the computer slept or
	// was off); the job is still due only once.
	Missed int
	// ClockBackwards: lastRun is after now, so the clock was set back (or
	// lastRun was recorded by a clock that ran ahead). The job is not due
	// now; it becomes due at Next, the first scheduled instant after now,
	// rather than waiting until the future lastRun has passed.
	ClockBackwards bool
	// LastRun is the reference the caller should pass as lastRun from now on
	// until the job runs again: lastRun itself, or now when ClockBackwards.
	// Keeping it is what makes the job due at Next after a backwards jump.
	LastRun time.Time
}

// Due reports whether the job with schedule s, last started at lastRun, is due
// at now, and the next scheduled instant after now. It is Check without the
// details; see Check for the rules.
func Due(s Schedule, lastRun, now time.Time) (due bool, next time.Time) {
	d := Check(s, lastRun, now)
	return d.Due, d.Next
}

// Check decides whether a job is due. lastRun is when the job last started
// (the zero time if it never ran); now is the current time.
//
//   - A manual schedule is never due.
//   - A job that never ran is due now.
//   - If one or more scheduled instants passed since lastRun — one on time,
//     or many while the computer slept or the clock jumped forward by days —
//     the job is due once, now; Missed says how many instants passed.
//   - If lastRun is after now (the clock went backwards), the job is not due
//     now and ClockBackwards is set; it becomes due at the first scheduled
//     instant after now, provided the caller passes the returned LastRun
//     (now) as lastRun on later calls instead of the future time.
//
// Check is pure: calling it twice with the same arguments gives the same
// answer, and nothing is remembered between calls.
func Check(s Schedule, lastRun, now time.Time) Decision {
	if s.Manual() {
		return Decision{LastRun: lastRun}
	}
	next := s.Next(now)
	switch {
	case lastRun.IsZero():
		return Decision{Due: true, Next: next}
	case lastRun.After(now):
		return Decision{Next: next, ClockBackwards: true, LastRun: now}
	}
	first := s.Next(lastRun)
	if first.IsZero() || first.After(now) {
		return Decision{Next: first, LastRun: lastRun}
	}
	missed := 0
	for n := first; !n.IsZero() && !n.After(now) && missed < MaxMissed; n = s.Next(n) {
		missed++
	}
	return Decision{Due: true, Next: next, Missed: missed, LastRun: lastRun}
}
