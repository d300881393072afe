package daemon

import (
	"math"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/schedule"
)

// ScrubSample plans tonight's scrub of one target with schedule.PlanScrub
// over its copies (budget bytes, 0 = no limit; every copy re-read within
// maxAge) and turns the plan into a verify sample percentage: verify's
// --sample reads the head of catalog.CopiesOnTarget, least recently
// verified first — the same order PlanScrub picks in — so checking
// len(plan.Items) of the copies reads the planned ones (PlanScrub may skip a
// copy too large for what is left of the budget and take a smaller, younger
// one; the sample reads in strict age order, so it can then read a little
// more or less than planned). It returns 0 when there is nothing to read.
func ScrubSample(copies []catalog.TargetCopy, budget int64, maxAge time.Duration, now time.Time) (percent float64, plan schedule.ScrubPlan) {
	items := make([]schedule.Item, len(copies))
	for i, c := range copies {
		items[i] = schedule.Item{ID: c.FileID, Size: c.File.Size, VerifiedAt: c.VerifiedAt}
	}
	plan = schedule.PlanScrub(items, budget, maxAge, now)
	if len(copies) == 0 || len(plan.Items) == 0 {
		return 0, plan
	}
	// Just under n/len·100 so verify's ceil(len·p/100) gives exactly n.
	p := float64(len(plan.Items)) * 100 / float64(len(copies))
	p = math.Nextafter(p, 0)
	return min(max(p, math.SmallestNonzeroFloat64), 100), plan
}
