package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func ago(d time.Duration) time.Time { return now.Add(-d) }

// good returns an OK copy verified yesterday.
func good(target, medium, location, device string) Copy {
	return Copy{Target: target, Medium: medium, Location: location, Device: device, State: OK, VerifiedAt: ago(day)}
}

func TestDefaultRule(t *testing.T) {
	want := Rule{MinCopies: 3, MinMedia: 2, MinOffsite: 1, MaxAge: 90 * day}
	if got := DefaultRule(); got != want {
		t.Fatalf("DefaultRule() = %+v, want %+v", got, want)
	}
}

func TestEvaluate(t *testing.T) {
	lib := good("library", "ssd", "home", "dev-lib")
	driveA := good("drive-a", "hdd", "home", "dev-a")
	driveB := good("drive-b", "hdd", "bank", "dev-b")
	cloud := good("vault", "cloud", "cloud", "")

	with := func(c Copy, f func(*Copy)) Copy { f(&c); return c }

	tests := []struct {
		name    string
		rule    Rule
		copies  []Copy
		ok      bool
		counts  [3]int // copies, media, offsite
		reasons []string
		notes   []string
	}{
		{
			name:   "3-2-1 met",
			rule:   DefaultRule(),
			copies: []Copy{lib, driveA, driveB},
			ok:     true, counts: [3]int{3, 2, 1},
		},
		{
			name:    "no copies at all",
			rule:    DefaultRule(),
			copies:  nil,
			counts:  [3]int{0, 0, 0},
			reasons: []string{"0 copies, policy wants 3"},
		},
		{
			name:    "too few copies",
			rule:    DefaultRule(),
			copies:  []Copy{lib, driveB},
			counts:  [3]int{2, 2, 1},
			reasons: []string{"2 copies, policy wants 3"},
		},
		{
			name:    "one copy singular",
			rule:    DefaultRule(),
			copies:  []Copy{with(driveB, func(c *Copy) { c.Medium = "ssd" })},
			counts:  [3]int{1, 1, 1},
			reasons: []string{"1 copy, policy wants 3", "only one kind of media (ssd)"},
		},
		{
			name:    "none off-site",
			rule:    DefaultRule(),
			copies:  []Copy{lib, driveA, with(driveB, func(c *Copy) { c.Location = "home" })},
			counts:  [3]int{3, 2, 0},
			reasons: []string{"none off-site (all copies at location home)"},
		},
		{
			name:    "none off-site, mixed locations with one unset",
			rule:    DefaultRule(),
			copies:  []Copy{lib, driveA, with(driveB, func(c *Copy) { c.Location = "" })},
			counts:  [3]int{3, 2, 0},
			reasons: []string{"none off-site (copies at location home, or with no location set)"},
		},
		{
			name:    "home not set: nothing is off-site",
			rule:    DefaultRule(),
			copies:  []Copy{lib, driveA, driveB},
			counts:  [3]int{3, 2, 0},
			reasons: []string{"none off-site (the library's location is not set)"},
		},
		{
			name:   "location compared case-insensitively",
			rule:   DefaultRule(),
			copies: []Copy{lib, driveA, with(driveB, func(c *Copy) { c.Location = " Home " })},
			counts: [3]int{3, 2, 0},
			reasons: []string{
				"none off-site (all copies at location home)",
			},
		},
		{
			name:    "two off-site wanted, one present",
			rule:    Rule{MinCopies: 3, MinMedia: 2, MinOffsite: 2},
			copies:  []Copy{lib, driveA, driveB},
			counts:  [3]int{3, 2, 1},
			reasons: []string{"1 copy off-site, policy wants 2"},
		},
		{
			name:    "only one kind of media",
			rule:    DefaultRule(),
			copies:  []Copy{with(lib, func(c *Copy) { c.Medium = "hdd" }), driveA, driveB},
			counts:  [3]int{3, 1, 1},
			reasons: []string{"only one kind of media (hdd)"},
		},
		{
			name:    "media compared case-insensitively",
			rule:    DefaultRule(),
			copies:  []Copy{with(lib, func(c *Copy) { c.Medium = "HDD" }), driveA, driveB},
			counts:  [3]int{3, 1, 1},
			reasons: []string{"only one kind of media (hdd)"},
		},
		{
			name:    "three kinds wanted",
			rule:    Rule{MinCopies: 3, MinMedia: 3, MinOffsite: 1},
			copies:  []Copy{lib, driveA, driveB},
			counts:  [3]int{3, 2, 1},
			reasons: []string{"2 kinds of media (hdd, ssd), policy wants 3"},
		},
		{
			name: "unknown medium adds no kind",
			rule: DefaultRule(),
			copies: []Copy{
				with(lib, func(c *Copy) { c.Medium = "" }),
				with(driveA, func(c *Copy) { c.Medium = "" }),
				with(driveB, func(c *Copy) { c.Medium = "" }),
			},
			counts:  [3]int{3, 0, 1},
			reasons: []string{"kind of media not known, policy wants 2 kinds"},
		},
		{
			name:   "corrupt copy never counts",
			rule:   DefaultRule(),
			copies: []Copy{lib, driveB, with(driveA, func(c *Copy) { c.State = Corrupt; c.Target = "drive-c" })},
			counts: [3]int{2, 2, 1},
			reasons: []string{
				"2 copies, policy wants 3",
				"copy on drive-c is corrupt",
			},
		},
		{
			name:   "missing copy never counts",
			rule:   DefaultRule(),
			copies: []Copy{lib, driveB, with(driveA, func(c *Copy) { c.State = Missing; c.Target = "drive-c" })},
			counts: [3]int{2, 2, 1},
			reasons: []string{
				"2 copies, policy wants 3",
				"copy on drive-c is missing",
			},
		},
		{
			name:   "unverified copy never counts, even with a VerifiedAt",
			rule:   DefaultRule(),
			copies: []Copy{lib, driveB, with(driveA, func(c *Copy) { c.State = Unverified })},
			counts: [3]int{2, 2, 1},
			reasons: []string{
				"2 copies, policy wants 3",
				"copy on drive-a has not been verified yet",
			},
		},
		{
			name:   "OK state but never read back does not count",
			rule:   Rule{MinCopies: 3},
			copies: []Copy{lib, driveB, with(driveA, func(c *Copy) { c.VerifiedAt = time.Time{} })},
			counts: [3]int{2, 2, 1},
			reasons: []string{
				"2 copies, policy wants 3",
				"copy on drive-a has never been verified",
			},
		},
		{
			name:   "unknown state does not count",
			rule:   DefaultRule(),
			copies: []Copy{lib, driveB, with(driveA, func(c *Copy) { c.State = "pending" })},
			counts: [3]int{2, 2, 1},
			reasons: []string{
				"2 copies, policy wants 3",
				`copy on drive-a is in an unknown state ("pending")`,
			},
		},
		{
			name:   "stale verification does not count",
			rule:   DefaultRule(),
			copies: []Copy{lib, driveA, with(driveB, func(c *Copy) { c.VerifiedAt = ago(94*day + 3*time.Hour) })},
			counts: [3]int{2, 2, 0},
			reasons: []string{
				"2 copies, policy wants 3",
				"none off-site (all copies at location home)",
				"drive-b not verified for 94 days",
			},
		},
		{
			name:   "age exactly MaxAge still counts",
			rule:   DefaultRule(),
			copies: []Copy{lib, driveA, with(driveB, func(c *Copy) { c.VerifiedAt = ago(90 * day) })},
			ok:     true, counts: [3]int{3, 2, 1},
		},
		{
			name:   "age one nanosecond past MaxAge does not count",
			rule:   DefaultRule(),
			copies: []Copy{lib, driveA, with(driveB, func(c *Copy) { c.VerifiedAt = ago(90*day + 1) })},
			counts: [3]int{2, 2, 0},
			reasons: []string{
				"2 copies, policy wants 3",
				"none off-site (all copies at location home)",
				"drive-b not verified for 90 days",
			},
		},
		{
			name:   "zero MaxAge ignores age",
			rule:   Rule{MinCopies: 3, MinMedia: 2, MinOffsite: 1},
			copies: []Copy{lib, driveA, with(driveB, func(c *Copy) { c.VerifiedAt = ago(3650 * day) })},
			ok:     true, counts: [3]int{3, 2, 1},
		},
		{
			name:   "short MaxAge speaks in hours",
			rule:   Rule{MinCopies: 1, MaxAge: time.Hour},
			copies: []Copy{with(lib, func(c *Copy) { c.VerifiedAt = ago(5*time.Hour + time.Minute) })},
			counts: [3]int{0, 0, 0},
			reasons: []string{
				"0 copies, policy wants 1",
				"library not verified for 5 hours",
			},
		},
		{
			name: "same disk counts once, names both",
			rule: DefaultRule(),
			copies: []Copy{
				lib,
				with(driveA, func(c *Copy) { c.Device = "dev-lib"; c.VerifiedAt = ago(2 * day) }),
				driveB,
			},
			counts: [3]int{2, 2, 1},
			reasons: []string{
				"2 copies, policy wants 3",
				"drive-a and library are on the same disk (count once)",
			},
		},
		{
			name: "same disk: the more recently verified copy counts (its medium is used)",
			rule: Rule{MinCopies: 1, MinMedia: 2},
			copies: []Copy{
				with(lib, func(c *Copy) { c.VerifiedAt = ago(2 * day) }),              // ssd, older
				with(driveA, func(c *Copy) { c.Device = "dev-lib" }),                  // hdd, newer: counts
				with(driveB, func(c *Copy) { c.Medium = "hdd"; c.Location = "bank" }), // hdd
			},
			counts: [3]int{2, 1, 1},
			reasons: []string{
				"only one kind of media (hdd)",
				"drive-a and library are on the same disk (count once)",
			},
		},
		{
			name: "same disk: three targets",
			rule: DefaultRule(),
			copies: []Copy{
				lib,
				with(driveA, func(c *Copy) { c.Device = "dev-lib" }),
				with(driveB, func(c *Copy) { c.Device = "dev-lib" }),
			},
			counts: [3]int{1, 1, 0},
			reasons: []string{
				"1 copy, policy wants 3",
				"only one kind of media (hdd)",
				"none off-site (all copies at location home)",
				"drive-a, drive-b and library are on the same disk (count once)",
			},
		},
		{
			name:   "empty device means distinct disks",
			rule:   DefaultRule(),
			copies: []Copy{with(lib, func(c *Copy) { c.Device = "" }), with(driveA, func(c *Copy) { c.Device = "" }), cloud},
			ok:     true, counts: [3]int{3, 3, 1},
		},
		{
			name:   "same target listed twice counts once",
			rule:   Rule{MinCopies: 2},
			copies: []Copy{cloud, cloud},
			counts: [3]int{1, 1, 1},
			reasons: []string{
				"1 copy, policy wants 2",
			},
		},
		{
			name: "same target with different devices counts once; grouping is transitive",
			rule: Rule{MinCopies: 2},
			copies: []Copy{
				with(cloud, func(c *Copy) { c.Device = "x" }),
				with(cloud, func(c *Copy) { c.Device = "y" }),
				with(driveB, func(c *Copy) { c.Device = "y" }),
			},
			counts: [3]int{1, 1, 1},
			reasons: []string{
				"1 copy, policy wants 2",
				"drive-b and vault are on the same disk (count once)",
			},
		},
		{
			name:   "stale copy sharing a disk does not trigger same-disk reason",
			rule:   DefaultRule(),
			copies: []Copy{lib, driveB, with(driveA, func(c *Copy) { c.Device = "dev-lib"; c.VerifiedAt = ago(100 * day) })},
			counts: [3]int{2, 2, 1},
			reasons: []string{
				"2 copies, policy wants 3",
				"drive-a not verified for 100 days",
			},
		},
		{
			name: "OK file keeps copy problems as notes",
			rule: DefaultRule(),
			copies: []Copy{
				lib, driveA, driveB,
				with(cloud, func(c *Copy) { c.State = Corrupt }),
				with(driveA, func(c *Copy) { c.Target = "drive-z" }),
			},
			ok: true, counts: [3]int{3, 2, 1},
			notes: []string{
				"copy on vault is corrupt",
				"drive-a and drive-z are on the same disk (count once)",
			},
		},
		{
			name: "reasons sorted by target regardless of input order",
			rule: DefaultRule(),
			copies: []Copy{
				with(driveB, func(c *Copy) { c.State = Missing; c.Target = "zeta" }),
				with(driveB, func(c *Copy) { c.State = Corrupt; c.Target = "alpha" }),
				with(driveB, func(c *Copy) { c.VerifiedAt = ago(200 * day); c.Target = "mid" }),
			},
			counts: [3]int{0, 0, 0},
			reasons: []string{
				"0 copies, policy wants 3",
				"copy on alpha is corrupt",
				"mid not verified for 200 days",
				"copy on zeta is missing",
			},
		},
		{
			name:    "zero copies wanted but media and off-site wanted",
			rule:    Rule{MinMedia: 2, MinOffsite: 1},
			counts:  [3]int{0, 0, 0},
			reasons: []string{"no kind of media, policy wants 2", "none off-site, policy wants 1"},
		},
		{
			name:   "zero rule is met by nothing",
			rule:   Rule{},
			copies: nil,
			ok:     true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := "home"
			if tc.name == "home not set: nothing is off-site" {
				home = ""
			}
			got := Evaluate(tc.rule, Facts{Home: home, Copies: tc.copies}, now)
			if got.OK != tc.ok {
				t.Errorf("OK = %v, want %v (result %+v)", got.OK, tc.ok, got)
			}
			if c := [3]int{got.Copies, got.Media, got.Offsite}; c != tc.counts {
				t.Errorf("counts (copies, media, offsite) = %v, want %v", c, tc.counts)
			}
			if !slices.Equal(got.Reasons, tc.reasons) {
				t.Errorf("reasons:\n got %q\nwant %q", got.Reasons, tc.reasons)
			}
			if !slices.Equal(got.Notes, tc.notes) {
				t.Errorf("notes:\n got %q\nwant %q", got.Notes, tc.notes)
			}
			if got.OK && len(got.Reasons) != 0 {
				t.Errorf("OK result carries reasons %q", got.Reasons)
			}
		})
	}
}

// TestEvaluateClock shows the clock is only the parameter: the same facts
// pass today and fail when "now" moves on.
func TestEvaluateClock(t *testing.T) {
	f := Facts{Home: "home", Copies: []Copy{
		good("library", "ssd", "home", "1"),
		good("drive-a", "hdd", "home", "2"),
		good("drive-b", "hdd", "bank", "3"),
	}}
	if r := Evaluate(DefaultRule(), f, now); !r.OK {
		t.Fatalf("now: want OK, got %+v", r)
	}
	later := now.Add(95 * day)
	r := Evaluate(DefaultRule(), f, later)
	if r.OK || r.Copies != 0 {
		t.Fatalf("95 days later: want 0 counted copies, got %+v", r)
	}
	want := []string{
		"0 copies, policy wants 3",
		"drive-a not verified for 96 days",
		"drive-b not verified for 96 days",
		"library not verified for 96 days",
	}
	if !slices.Equal(r.Reasons, want) {
		t.Fatalf("reasons:\n got %q\nwant %q", r.Reasons, want)
	}
	// Evaluate must not modify the caller's slice order.
	if f.Copies[0].Target != "library" {
		t.Fatalf("Evaluate reordered the caller's copies")
	}
}

// TestEvaluateProperties checks invariants over random facts.
func TestEvaluateProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	states := []CopyState{OK, OK, OK, Missing, Corrupt, Unverified}
	for i := range 5000 {
		rule := Rule{
			MinCopies:  rng.IntN(5),
			MinMedia:   rng.IntN(4),
			MinOffsite: rng.IntN(3),
			MaxAge:     time.Duration(rng.IntN(3)) * 30 * day,
		}
		var copies []Copy
		for range rng.IntN(7) {
			c := Copy{
				Target:   pick("library", "drive-a", "drive-b", "nas", "vault", "tape"),
				Medium:   pick("ssd", "hdd", "nas", "cloud", ""),
				Location: pick("home", "studio", "bank", ""),
				Device:   pick("d1", "d2", "d3", "d4", ""),
				State:    states[rng.IntN(len(states))],
			}
			if rng.IntN(8) != 0 {
				c.VerifiedAt = ago(time.Duration(rng.Int64N(int64(120 * day))))
			}
			copies = append(copies, c)
		}
		f := Facts{Home: pick("home", "home", ""), Copies: copies}
		r := Evaluate(rule, f, now)
		desc := fmt.Sprintf("case %d: rule %+v facts %+v => %+v", i, rule, f, r)

		if r.OK != (r.Copies >= rule.MinCopies && r.Media >= rule.MinMedia && r.Offsite >= rule.MinOffsite) {
			t.Fatalf("OK disagrees with counts: %s", desc)
		}
		if r.OK == (len(r.Reasons) > 0) {
			t.Fatalf("reasons must be empty exactly when OK: %s", desc)
		}
		if !r.OK && len(r.Notes) > 0 {
			t.Fatalf("notes set on a failing result: %s", desc)
		}
		if r.Media > r.Copies || r.Offsite > r.Copies {
			t.Fatalf("media/offsite exceed copies: %s", desc)
		}
		// Honest counting: never more counted copies than distinct disks of
		// fresh OK copies.
		targets := map[string]bool{}
		for _, c := range copies {
			if c.State != OK || c.VerifiedAt.IsZero() || (rule.MaxAge > 0 && now.Sub(c.VerifiedAt) > rule.MaxAge) {
				continue
			}
			targets[c.Target] = true
		}
		if r.Copies > len(targets) {
			t.Fatalf("counted %d copies but only %d targets with a fresh OK copy: %s", r.Copies, len(targets), desc)
		}
		if len(targets) > 0 && r.Copies < 1 {
			t.Fatalf("a fresh OK copy exists but none counted: %s", desc)
		}
		if f.Home == "" && r.Offsite != 0 {
			t.Fatalf("off-site counted without a home location: %s", desc)
		}
		// Deterministic: shuffling the input changes nothing.
		shuffled := slices.Clone(copies)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		r2 := Evaluate(rule, Facts{Home: f.Home, Copies: shuffled}, now)
		if r2.OK != r.OK || r2.Copies != r.Copies || r2.Media != r.Media || r2.Offsite != r.Offsite ||
			!slices.Equal(r2.Reasons, r.Reasons) || !slices.Equal(r2.Notes, r.Notes) {
			t.Fatalf("order-dependent result:\n%s\nshuffled => %+v", desc, r2)
		}
	}
}

func TestSummarise(t *testing.T) {
	okRes := Result{OK: true, Copies: 3, Media: 2, Offsite: 1}
	twoCopies := Result{Copies: 2, Media: 2, Offsite: 1, Reasons: []string{"2 copies, policy wants 3"}}
	twoAndStale := Result{Copies: 2, Media: 2, Offsite: 0, Reasons: []string{
		"2 copies, policy wants 3", "none off-site (all copies at location home)", "drive-b not verified for 94 days",
	}}

	t.Run("all protected", func(t *testing.T) {
		ps := Summarise("2024-06-01 Smith Wedding", []FileResult{
			{Path: "a.CR3", Size: 10, Result: okRes},
			{Path: "b.CR3", Size: 20, Result: okRes},
		})
		want := ProjectStatus{Name: "2024-06-01 Smith Wedding", Files: 2, Bytes: 30, Protected: true}
		if !slices.Equal(ps.Reasons, nil) || ps.Name != want.Name || ps.Files != want.Files ||
			ps.Bytes != want.Bytes || ps.Protected != want.Protected || ps.AtRisk != 0 {
			t.Fatalf("got %+v, want %+v", ps, want)
		}
	})

	t.Run("dedupe with counts", func(t *testing.T) {
		var files []FileResult
		for i := range 40 {
			r := okRes
			switch {
			case i < 2:
				r = twoAndStale
			case i < 12:
				r = twoCopies
			}
			files = append(files, FileResult{Path: fmt.Sprintf("IMG_%04d.CR3", i), Size: 1 << 20, Result: r})
		}
		ps := Summarise("shoot", files)
		if ps.Protected || ps.AtRisk != 12 || ps.Files != 40 || ps.Bytes != 40<<20 {
			t.Fatalf("got %+v", ps)
		}
		want := []string{
			"12 of 40 files: 2 copies, policy wants 3",
			"2 of 40 files: drive-b not verified for 94 days",
			"2 of 40 files: none off-site (all copies at location home)",
		}
		if !slices.Equal(ps.Reasons, want) {
			t.Fatalf("reasons:\n got %q\nwant %q", ps.Reasons, want)
		}
	})

	t.Run("reason shared by every file has no count", func(t *testing.T) {
		ps := Summarise("shoot", []FileResult{
			{Path: "a", Result: twoCopies},
			{Path: "b", Result: twoAndStale},
		})
		want := []string{
			"2 copies, policy wants 3",
			"1 of 2 files: drive-b not verified for 94 days",
			"1 of 2 files: none off-site (all copies at location home)",
		}
		if !slices.Equal(ps.Reasons, want) || ps.AtRisk != 2 || ps.Protected {
			t.Fatalf("got %+v\nwant reasons %q", ps, want)
		}
	})

	t.Run("empty project is not protected", func(t *testing.T) {
		ps := Summarise("empty", nil)
		if ps.Protected || ps.Files != 0 || !slices.Equal(ps.Reasons, []string{"no files in this project"}) {
			t.Fatalf("got %+v", ps)
		}
	})

	t.Run("not OK without reasons still says something", func(t *testing.T) {
		ps := Summarise("odd", []FileResult{{Path: "a", Result: Result{}}, {Path: "b", Result: okRes}})
		if ps.Protected || ps.AtRisk != 1 || !slices.Equal(ps.Reasons, []string{"1 of 2 files do not meet the policy"}) {
			t.Fatalf("got %+v", ps)
		}
	})

	t.Run("real evaluations", func(t *testing.T) {
		f := Facts{Home: "home", Copies: []Copy{good("library", "ssd", "home", "1"), good("drive-a", "hdd", "bank", "2")}}
		r := Evaluate(DefaultRule(), f, now)
		ps := Summarise("x", []FileResult{{Path: "a", Size: 5, Result: r}, {Path: "b", Size: 5, Result: r}})
		if !slices.Equal(ps.Reasons, []string{"2 copies, policy wants 3"}) {
			t.Fatalf("got %q", ps.Reasons)
		}
	})
}
