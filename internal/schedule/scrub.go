package schedule

import (
	"cmp"
	"slices"
	"time"
)

// DefaultScrubAge is how often every copy is re-read when no age is given.
const DefaultScrubAge = 90 * 24 * time.Hour

// scrubPeriod is the time between two scrub runs: nightly.
const scrubPeriod = 24 * time.Hour

// Item is one copy on a target, as the scrub planner sees it.
type Item struct {
	ID         int64     // the caller's key, e.g. the catalog's file id
	Size       int64     // bytes to read
	VerifiedAt time.Time // last successful read-back; zero = never verified
}

// ScrubPlan is what to re-read tonight on one target.
type ScrubPlan struct {
	// Items to re-read tonight, in order: never verified first, then the
	// oldest verification first.
	Items []Item
	// Bytes is the total size of Items (never more than the budget).
	Bytes int64
	// Must counts the copies that have to be read tonight to keep the promise
	// (verified within maxAge by tomorrow night), and MustBytes their size.
	Must      int
	MustBytes int64
	// Overdue counts the copies already past maxAge (or never verified).
	Overdue int
	// Needed is the budget per night that keeps the promise: the larger of
	// tonight's MustBytes, an even share of the target (total size over the
	// nights in maxAge), and the largest single copy.
	Needed int64
	// Shortfall is Needed minus the budget when the budget is too small to
	// keep the promise, else 0. A copy larger than the whole budget is never
	// picked and always causes a shortfall.
	Shortfall int64
}

// PlanScrub picks the copies of one target to re-read tonight so that every
// copy is re-read at least every maxAge (DefaultScrubAge when maxAge <= 0),
// reading no more than budgetBytes (budgetBytes <= 0: no byte limit).
//
// It reads, oldest verification first (never verified first of all), every
// copy that would pass maxAge before tomorrow night, and then more of the
// oldest until tonight's share is reached: the target's total size divided
// by the nights in maxAge. Reading an even share each night spreads the
// work, so the whole target is re-read once per maxAge instead of all of it
// every night. A copy that does not fit in what is left of the budget is
// skipped (smaller, younger copies may still fit); when the promise cannot
// be kept, Shortfall says by how much the budget falls short.
//
// VerifiedAt after now (a clock that went back) counts as verified now.
// copies is not modified; the result is the same for the same input.
func PlanScrub(copies []Item, budgetBytes int64, maxAge time.Duration, now time.Time) ScrubPlan {
	if maxAge <= 0 {
		maxAge = DefaultScrubAge
	}
	nights := int64(maxAge / scrubPeriod)
	if nights < 1 {
		nights = 1
	}
	order := slices.Clone(copies)
	slices.SortStableFunc(order, func(a, b Item) int {
		if c := a.VerifiedAt.Compare(b.VerifiedAt); c != 0 {
			return c // the zero time sorts first: never verified
		}
		return cmp.Compare(a.ID, b.ID)
	})

	var plan ScrubPlan
	var total, largest int64
	tomorrow := now.Add(scrubPeriod)
	for _, it := range order {
		total += it.Size
		largest = max(largest, it.Size)
		if mustRead(it, maxAge, tomorrow) {
			plan.Must++
			plan.MustBytes += it.Size
			if mustRead(it, maxAge, now) {
				plan.Overdue++
			}
		}
	}
	share := (total + nights - 1) / nights
	plan.Needed = max(plan.MustBytes, share, largest)
	if budgetBytes > 0 && plan.Needed > budgetBytes {
		plan.Shortfall = plan.Needed - budgetBytes
	}

	quota := max(plan.MustBytes, share)
	if budgetBytes > 0 {
		quota = min(quota, budgetBytes)
	}
	for _, it := range order {
		// order puts every must-read copy first; after them, stop at the quota.
		if plan.Bytes >= quota && !mustRead(it, maxAge, tomorrow) {
			break
		}
		if budgetBytes > 0 && plan.Bytes+it.Size > budgetBytes {
			continue
		}
		plan.Items = append(plan.Items, it)
		plan.Bytes += it.Size
	}
	return plan
}

// mustRead reports whether a copy passes maxAge by the time by (never
// verified copies always do).
func mustRead(it Item, maxAge time.Duration, by time.Time) bool {
	return it.VerifiedAt.IsZero() || !it.VerifiedAt.Add(maxAge).After(by)
}
