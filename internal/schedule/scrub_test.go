package schedule

import (
	"slices"
	"testing"
	"time"
)

func TestPlanScrub(t *testing.T) {
	now := time.Date(2024, 6, 5, 1, 0, 0, 0, time.UTC)
	ago := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	const GiB = 1 << 30
	never := time.Time{}
	cases := []struct {
		name   string
		copies []Item
		budget int64
		maxAge time.Duration
		want   ScrubPlan // Items compared by ID
	}{
		{"empty", nil, GiB, 0, ScrubPlan{}},
		{"never verified first, then oldest",
			[]Item{{1, 10, ago(5)}, {2, 10, never}, {3, 10, ago(80)}, {4, 10, ago(89)}, {5, 10, ago(100)}},
			30, 90 * 24 * time.Hour,
			ScrubPlan{Items: []Item{{ID: 2}, {ID: 5}, {ID: 4}}, Bytes: 30, Must: 3, MustBytes: 30, Overdue: 2, Needed: 30}},
		{"fresh target: an even share, not everything",
			// 90 copies of 1 GiB verified 0..89 days ago: one night's share is 1 GiB.
			func() []Item {
				var c []Item
				for i := range 90 {
					c = append(c, Item{int64(i), GiB, ago(i).Add(time.Hour)})
				}
				return c
			}(), 0, 0,
			ScrubPlan{Items: []Item{{ID: 89}}, Bytes: GiB, Needed: GiB}},
		{"share reads ahead of need",
			// 900 GiB verified yesterday: nothing is due, but the night's share
			// (10 GiB) starts the rotation with the oldest copy. The 700 GiB
			// copy can never fit in a 200 GiB night: a shortfall of 500 GiB.
			[]Item{{1, 100 * GiB, ago(1)}, {2, 100 * GiB, ago(1).Add(time.Minute)}, {3, 700 * GiB, ago(1)}},
			200 * GiB, 90 * 24 * time.Hour,
			ScrubPlan{Items: []Item{{ID: 1}}, Bytes: 100 * GiB, Needed: 700 * GiB, Shortfall: 500 * GiB}},
		{"budget too small: shortfall",
			[]Item{{1, 5 * GiB, never}, {2, 5 * GiB, never}, {3, 5 * GiB, ago(95)}},
			8 * GiB, 0,
			ScrubPlan{Items: []Item{{ID: 1}}, Bytes: 5 * GiB, Must: 3, MustBytes: 15 * GiB, Overdue: 3, Needed: 15 * GiB, Shortfall: 7 * GiB}},
		{"skip a copy that does not fit, take a smaller one",
			[]Item{{1, 6, ago(100)}, {2, 5, ago(99)}, {3, 4, ago(98)}},
			10, 0,
			ScrubPlan{Items: []Item{{ID: 1}, {ID: 3}}, Bytes: 10, Must: 3, MustBytes: 15, Overdue: 3, Needed: 15, Shortfall: 5}},
		{"copy larger than the budget is never picked",
			[]Item{{1, 50, ago(100)}, {2, 1, ago(10)}},
			10, 0,
			ScrubPlan{Items: []Item{{ID: 2}}, Bytes: 1, Must: 1, MustBytes: 50, Overdue: 1, Needed: 50, Shortfall: 40}},
		{"due by tomorrow night counts as must",
			[]Item{{1, 1, ago(89)}, {2, 1, ago(88)}, {3, 1, ago(2)}},
			0, 90 * 24 * time.Hour,
			ScrubPlan{Items: []Item{{ID: 1}}, Bytes: 1, Must: 1, MustBytes: 1, Needed: 1}},
		{"verified in the future (clock went back) counts as fresh",
			[]Item{{1, 1, now.AddDate(0, 0, 3)}, {2, 1, ago(95)}},
			0, 0,
			ScrubPlan{Items: []Item{{ID: 2}}, Bytes: 1, Must: 1, MustBytes: 1, Overdue: 1, Needed: 1}},
		{"short max age: every night everything",
			[]Item{{1, 3, ago(1)}, {2, 4, ago(1)}},
			0, 24 * time.Hour,
			ScrubPlan{Items: []Item{{ID: 1}, {ID: 2}}, Bytes: 7, Must: 2, MustBytes: 7, Overdue: 2, Needed: 7}},
		{"ties broken by ID",
			[]Item{{3, 1, never}, {1, 1, never}, {2, 1, never}},
			2, 0,
			ScrubPlan{Items: []Item{{ID: 1}, {ID: 2}}, Bytes: 2, Must: 3, MustBytes: 3, Overdue: 3, Needed: 3, Shortfall: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.copies)
			got := PlanScrub(c.copies, c.budget, c.maxAge, now)
			if !slices.Equal(in, c.copies) {
				t.Fatal("PlanScrub modified its input")
			}
			ids := func(items []Item) []int64 {
				var out []int64
				for _, it := range items {
					out = append(out, it.ID)
				}
				return out
			}
			if !slices.Equal(ids(got.Items), ids(c.want.Items)) {
				t.Errorf("items %v, want %v", ids(got.Items), ids(c.want.Items))
			}
			got.Items, c.want.Items = nil, nil
			if got.Bytes != c.want.Bytes || got.Must != c.want.Must || got.MustBytes != c.want.MustBytes ||
				got.Overdue != c.want.Overdue || got.Needed != c.want.Needed || got.Shortfall != c.want.Shortfall {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestScrubKeepsPromise runs the planner every night for a year over a
// target whose copies start never verified: with a budget that covers the
// even share, after the first cycle no copy is ever older than maxAge; and
// the work is spread, not done all at once.
func TestScrubKeepsPromise(t *testing.T) {
	now := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	maxAge := 30 * 24 * time.Hour
	var copies []Item
	var total int64
	for i := range 300 {
		size := int64(1+i%7) << 20 // 1..7 MiB
		copies = append(copies, Item{ID: int64(i), Size: size})
		total += size
	}
	budget := total/20 + 8<<20 // about 1/20 of the target a night: enough for 30 nights
	maxPerNight := int64(0)
	for night := range 365 {
		plan := PlanScrub(copies, budget, maxAge, now)
		if plan.Bytes > budget {
			t.Fatalf("night %d: read %d bytes, budget %d", night, plan.Bytes, budget)
		}
		if night >= 30 {
			if plan.Overdue != 0 || plan.Shortfall != 0 {
				t.Fatalf("night %d: %d overdue, shortfall %d", night, plan.Overdue, plan.Shortfall)
			}
			maxPerNight = max(maxPerNight, plan.Bytes)
		}
		read := map[int64]bool{}
		for _, it := range plan.Items {
			read[it.ID] = true
		}
		for i := range copies {
			if read[copies[i].ID] {
				copies[i].VerifiedAt = now
			}
		}
		now = now.Add(24 * time.Hour)
	}
	for _, c := range copies {
		if now.Sub(c.VerifiedAt) > maxAge+24*time.Hour {
			t.Fatalf("copy %d last verified %v, %v ago", c.ID, c.VerifiedAt, now.Sub(c.VerifiedAt))
		}
	}
	// Steady state reads about the even share (total/30), well under the budget.
	if share := total / 30; maxPerNight > share+share/2+8<<20 {
		t.Errorf("steady state read up to %d bytes a night, even share is %d", maxPerNight, share)
	}
}
