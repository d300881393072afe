// Package policy decides whether a file meets the 3-2-1 backup rule.
//
// It is pure: facts in, a verdict and plain-English reasons out. It does no
// I/O and never reads the wall clock; the caller passes "now".
//
// # Counting rules
//
// Evaluate counts honestly, because "protected" is a claim (DESIGN.md, value 2):
//
//   - Only copies in state [OK] can count. Missing, corrupt and unverified
//     copies never count, and each one is named in the reasons.
//   - An OK copy with a zero VerifiedAt was never read back, so it does not
//     count either ("copy on X has never been verified").
//   - With a non-zero Rule.MaxAge, an OK copy counts only while
//     now - VerifiedAt <= MaxAge. A copy verified exactly MaxAge ago still
//     counts; one nanosecond later it does not. A VerifiedAt in the future
//     (clock skew) counts as fresh.
//   - Copies whose Device is equal (non-empty) are on the same disk and count
//     once. The copy that counts is the one verified on the latest (UTC) day;
//     on a tie, the one whose target name sorts first, so copies written in
//     one run give a stable answer. Its Medium and Location are the
//     ones used for the media and off-site counts. An empty Device means
//     "identity unknown": the copy is treated as its own disk. Two entries for
//     the same target always count once (a target is one place), whatever
//     their Device says; grouping is transitive.
//   - Media counts distinct non-empty Medium values among counted copies; an
//     unknown (empty) medium never adds a kind.
//   - Off-site counts counted copies whose Location is non-empty and differs
//     from Facts.Home (compared case-insensitively, spaces trimmed). When Home
//     is empty nothing is off-site, because we cannot tell.
//
// # Reasons
//
// Result.Reasons is empty when the file is OK. Otherwise it lists, in this
// fixed order: the shortfalls (copies, then media, then off-site), then one
// line per copy that did not count (sorted by target name), then one line per
// same-disk group (sorted). When there are no counted copies at all, the media
// and off-site shortfalls are left out: "0 copies" already says it.
//
// Copy problems that did not break the rule (a corrupt fourth copy, say) are
// reported in Result.Notes so that nothing is hidden from the user.
package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Rule is what a file must meet. Zero MaxAge means verification age is not
// checked. A zero minimum is always met.
type Rule struct {
	MinCopies  int           // distinct disks holding a counted copy
	MinMedia   int           // distinct kinds of media among counted copies
	MinOffsite int           // counted copies away from the library's location
	MaxAge     time.Duration // a copy must have been verified within this long
}

// DefaultRule is 3 copies, 2 kinds of media, 1 off-site, each verified within
// 90 days.
func DefaultRule() Rule {
	return Rule{MinCopies: 3, MinMedia: 2, MinOffsite: 1, MaxAge: 90 * 24 * time.Hour}
}

// CopyState is what the catalog last learned about one copy.
type CopyState string

// Copy states.
const (
	OK         CopyState = "ok"         // read back and hash matched
	Missing    CopyState = "missing"    // the target was checked and the file was not there
	Corrupt    CopyState = "corrupt"    // read back and hash did not match
	Unverified CopyState = "unverified" // written but never read back
	Stale      CopyState = "stale"      // holds an older version of the file (edited in the library since)
)

// Copy is one copy of one file, as the catalog knows it (the target may be
// unplugged now: absent is not missing).
type Copy struct {
	Target     string    // target name ("library", "drive-a")
	Medium     string    // ssd, hdd, nas, raid, cloud, optical, tape
	Location   string    // home, studio, bank, cloud...
	Device     string    // filesystem identity; copies on targets sharing a Device count once (same disk)
	State      CopyState // see CopyState
	VerifiedAt time.Time // last successful read-back; zero means never
}

// Facts is everything the policy needs to know about one file.
type Facts struct {
	Home   string // the library's location
	Copies []Copy
}

// Result is the verdict for one file.
type Result struct {
	OK bool
	// Copies is the number of distinct disks holding a counted copy.
	Copies int
	// Media is the number of distinct kinds of media among counted copies.
	Media int
	// Offsite is the number of counted copies whose Location is not Home.
	Offsite int
	// Reasons says in plain words why the file is not OK; empty when OK.
	Reasons []string
	// Notes lists copy problems that did not break the rule (only when OK),
	// e.g. "copy on drive-c is corrupt" on a file that still has 3 good copies.
	Notes []string
}

// Evaluate applies r to the facts of one file at time now. See the package
// documentation for the counting rules and reason order.
func Evaluate(r Rule, f Facts, now time.Time) Result {
	copies := slices.Clone(f.Copies)
	slices.SortFunc(copies, compareCopies)

	var copyReasons []string
	var fresh []Copy
	for _, c := range copies {
		if why, ok := disqualify(r, c, now); !ok {
			copyReasons = append(copyReasons, why)
			continue
		}
		fresh = append(fresh, c)
	}

	// Group by disk: copies sharing a Device, or a Target, are one disk.
	// The copy of each group verified on the latest day counts (ties: by name).
	parent := make([]int, len(fresh))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	for i := range fresh {
		for j := range i {
			sameDev := fresh[i].Device != "" && fresh[i].Device == fresh[j].Device
			if sameDev || fresh[i].Target == fresh[j].Target {
				parent[find(i)] = find(j)
			}
		}
	}
	groups := map[int][]Copy{}
	var order []int
	for i, c := range fresh {
		root := find(i)
		if _, seen := groups[root]; !seen {
			order = append(order, root)
		}
		groups[root] = append(groups[root], c)
	}
	var counted []Copy
	var diskReasons []string
	for _, k := range order {
		g := groups[k]
		slices.SortFunc(g, func(a, b Copy) int {
			// Newest verification day first; within a day by target name, so
			// copies written in the same run give the same answer every time.
			if c := b.VerifiedAt.Truncate(24 * time.Hour).Compare(a.VerifiedAt.Truncate(24 * time.Hour)); c != 0 {
				return c
			}
			return compareCopies(a, b)
		})
		counted = append(counted, g[0])
		var names []string
		for _, c := range g {
			names = append(names, c.Target)
		}
		slices.Sort(names)
		names = slices.Compact(names)
		if len(names) > 1 {
			diskReasons = append(diskReasons, fmt.Sprintf("%s are on the same disk (count once)", joinAnd(names)))
		}
	}
	slices.Sort(diskReasons)

	res := Result{Copies: len(counted)}
	media := map[string]bool{}
	for _, c := range counted {
		if m := strings.TrimSpace(c.Medium); m != "" {
			media[strings.ToLower(m)] = true
		}
		if isOffsite(f.Home, c.Location) {
			res.Offsite++
		}
	}
	res.Media = len(media)

	var short []string
	if res.Copies < r.MinCopies {
		short = append(short, fmt.Sprintf("%s, policy wants %d", plural(res.Copies, "copy", "copies"), r.MinCopies))
	}
	// With no counted copy, "0 copies" already says it all; the media and
	// off-site lines are added only when it was not said (a zero MinCopies).
	tell := res.Copies > 0 || len(short) == 0
	if tell && res.Media < r.MinMedia {
		short = append(short, mediaReason(res.Copies, res.Media, media, r.MinMedia))
	}
	if tell && res.Offsite < r.MinOffsite {
		short = append(short, offsiteReason(res.Offsite, r.MinOffsite, f.Home, counted))
	}

	res.OK = res.Copies >= r.MinCopies && res.Media >= r.MinMedia && res.Offsite >= r.MinOffsite
	details := append(copyReasons, diskReasons...)
	if res.OK {
		res.Notes = details
	} else {
		res.Reasons = append(short, details...)
	}
	return res
}

// disqualify reports whether c may count and, when it may not, why.
func disqualify(r Rule, c Copy, now time.Time) (string, bool) {
	name := c.Target
	if name == "" {
		name = "an unnamed target"
	}
	switch c.State {
	case OK:
	case Missing:
		return fmt.Sprintf("copy on %s is missing", name), false
	case Corrupt:
		return fmt.Sprintf("copy on %s is corrupt", name), false
	case Unverified:
		return fmt.Sprintf("copy on %s has not been verified yet", name), false
	case Stale:
		return fmt.Sprintf("copy on %s is an older version (run trove backup)", name), false
	default:
		return fmt.Sprintf("copy on %s is in an unknown state (%q)", name, string(c.State)), false
	}
	if c.VerifiedAt.IsZero() {
		return fmt.Sprintf("copy on %s has never been verified", name), false
	}
	if r.MaxAge > 0 {
		if age := now.Sub(c.VerifiedAt); age > r.MaxAge {
			return fmt.Sprintf("%s not verified for %s", name, ageWords(age)), false
		}
	}
	return "", true
}

// ageWords renders an age in whole days (or hours/minutes below a day),
// rounded down: "94 days", "1 day", "5 hours".
func ageWords(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day", "days")
	case d >= time.Hour:
		return plural(int(d/time.Hour), "hour", "hours")
	default:
		return plural(max(int(d/time.Minute), 1), "minute", "minutes")
	}
}

// compareCopies orders copies by every field, so that results never depend
// on the order the catalog returned them in.
func compareCopies(a, b Copy) int {
	return cmp.Or(
		cmp.Compare(a.Target, b.Target),
		cmp.Compare(a.State, b.State),
		a.VerifiedAt.Compare(b.VerifiedAt),
		cmp.Compare(a.Device, b.Device),
		cmp.Compare(a.Medium, b.Medium),
		cmp.Compare(a.Location, b.Location),
	)
}

func isOffsite(home, loc string) bool {
	home, loc = strings.TrimSpace(home), strings.TrimSpace(loc)
	return home != "" && loc != "" && !strings.EqualFold(home, loc)
}

func mediaReason(copies, n int, media map[string]bool, want int) string {
	kinds := make([]string, 0, len(media))
	for m := range media {
		kinds = append(kinds, m)
	}
	slices.Sort(kinds)
	switch n {
	case 0:
		if copies == 0 {
			return fmt.Sprintf("no kind of media, policy wants %d", want)
		}
		return fmt.Sprintf("kind of media not known, policy wants %s", plural(want, "kind", "kinds"))
	case 1:
		return fmt.Sprintf("only one kind of media (%s)", kinds[0])
	default:
		return fmt.Sprintf("%d kinds of media (%s), policy wants %d", n, strings.Join(kinds, ", "), want)
	}
}

func offsiteReason(n, want int, home string, counted []Copy) string {
	if n > 0 {
		return fmt.Sprintf("%s off-site, policy wants %d", plural(n, "copy", "copies"), want)
	}
	if len(counted) == 0 {
		return fmt.Sprintf("none off-site, policy wants %d", want)
	}
	if strings.TrimSpace(home) == "" {
		return "none off-site (the library's location is not set)"
	}
	// Every counted copy that is not off-site is either at Home or has no
	// location set.
	atHome, unset := 0, 0
	for _, c := range counted {
		if strings.TrimSpace(c.Location) == "" {
			unset++
		} else {
			atHome++
		}
	}
	h := strings.ToLower(strings.TrimSpace(home))
	switch {
	case unset == 0:
		return fmt.Sprintf("none off-site (all copies at location %s)", h)
	case atHome == 0:
		return "none off-site (no location set for any copy)"
	default:
		return fmt.Sprintf("none off-site (copies at location %s, or with no location set)", h)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// joinAnd joins "a", "b", "c" as "a, b and c".
func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
