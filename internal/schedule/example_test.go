package schedule_test

import (
	"fmt"
	"time"

	"github.com/trove-backup/trove/internal/schedule"
)

func Example() {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	s, _ := schedule.Parse("daily 02:30")
	last := time.Date(2024, 3, 27, 2, 30, 0, 0, berlin)
	now := time.Date(2024, 3, 30, 9, 0, 0, 0, berlin) // the laptop slept three nights
	d := schedule.Check(s, last, now)
	fmt.Println(d.Due, d.Missed, d.Next.Format("2006-01-02 15:04 MST"))

	w, _ := schedule.ParseWindow("01:00-06:00")
	fmt.Println(w.Contains(now), "resumes", w.NextStart(now).Format("01-02 15:04"))

	p, _ := schedule.ParseBandwidthPlan("07:00-23:00=20Mbit/s, 23:00-07:00=off")
	fmt.Println(p.LimitAt(now), p.LimitAt(now.Add(15*time.Hour)))

	for _, bad := range []string{"daily 2", "0 2 * *"} {
		_, err := schedule.Parse(bad)
		fmt.Println(err)
	}
	for _, ok := range []string{"30 1 * * mon-fri", "0 */6 * * *", "0 3 1 * *", "@weekly"} {
		s, err := schedule.Parse(ok)
		fmt.Println(s.Next(now).Format("Mon 01-02 15:04"), err)
	}
	// Output:
	// true 3 2024-03-31 03:00 CEST
	// false resumes 03-31 01:00
	// 2500000 0
	// schedule "daily 2": time "2" is not HH:MM (24-hour clock), e.g. "daily 02:00"
	// schedule "0 2 * *": not a known schedule; a cron expression has 5 fields (minute hour day month weekday), this has 4; use one of "hourly", "daily 02:00", "weekly sun 03:30", "every 15m", "0 2 * * *" or "manual"
	// Mon 04-01 01:30 <nil>
	// Sat 03-30 12:00 <nil>
	// Mon 04-01 03:00 <nil>
	// Sun 03-31 00:00 <nil>
}
