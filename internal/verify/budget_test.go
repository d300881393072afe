package verify

import (
	"testing"

	"github.com/trove-backup/trove/internal/catalog"
)

func TestWithinBudget(t *testing.T) {
	list := func(sizes ...int64) []catalog.TargetCopy {
		var out []catalog.TargetCopy
		for _, s := range sizes {
			out = append(out, catalog.TargetCopy{File: catalog.File{Size: s}})
		}
		return out
	}
	for _, c := range []struct {
		sizes  []int64
		budget int64
		want   int
	}{
		{[]int64{100, 100, 100}, 250, 2},
		{[]int64{100, 100, 100}, 300, 3},
		{[]int64{100, 100, 100}, 1 << 30, 3},
		{[]int64{500, 100}, 250, 1}, // the head is taken even when larger: rotation never sticks
		{[]int64{100, 500, 100}, 250, 1},
		{nil, 250, 0},
	} {
		if got := withinBudget(list(c.sizes...), c.budget); got != c.want {
			t.Errorf("withinBudget(%v, %d) = %d, want %d", c.sizes, c.budget, got, c.want)
		}
	}
}
