package schedule

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Unlimited is the limit that means no limit.
const Unlimited int64 = 0

// maxBandwidth bounds a parsed limit (1 PiB/s): anything above is a typo.
const maxBandwidth = 1 << 50

var numberUnit = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)(/s)?$`)

// ParseBandwidth reads a transfer limit and returns bytes per second, 0
// meaning unlimited ("off", "unlimited", "0" or "").
//
// Units (a unit is required; "/s" is optional):
//
//	B                     bytes
//	KiB, MiB, GiB, TiB    binary: 1024, 1024², …   (K, M, G, T alone: the same, as in rclone)
//	KB, MB, GB, TB        decimal: 1000, 1000², …
//	kbit, Mbit, Gbit      bits, decimal (also kbps, Mbps, Gbps): 20Mbit/s = 2,500,000 B/s
//
// A lower-case b after a prefix ("Mb/s") is refused as ambiguous between bits
// and bytes. Limits below 1 byte per second or above 1 PiB/s are refused.
func ParseBandwidth(s string) (int64, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "", "off", "unlimited", "none", "0":
		return Unlimited, nil
	}
	bad := func(format string, args ...any) (int64, error) {
		return 0, fmt.Errorf("bandwidth %q: %s", s, fmt.Sprintf(format, args...))
	}
	m := numberUnit.FindStringSubmatch(t)
	if m == nil {
		return bad(`want a number and a unit, e.g. "10MiB/s", "500KiB/s" or "20Mbit/s"; "off" for unlimited`)
	}
	value, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return bad("%q is not a number", m[1])
	}
	unit := m[2]
	if unit == "" {
		if value == 0 {
			return Unlimited, nil
		}
		return bad(`add a unit, e.g. "%sMiB/s" (bytes) or "%sMbit/s" (bits)`, m[1], m[1])
	}
	mult, err := unitMultiplier(unit)
	if err != nil {
		return bad(`%v; e.g. "10MiB/s", "10MB/s" or "20Mbit/s"`, err)
	}
	bps := value * mult
	if bps == 0 {
		return Unlimited, nil
	}
	if bps < 1 {
		return bad("below 1 byte per second")
	}
	if bps > maxBandwidth {
		return bad("above 1 PiB/s; check the unit")
	}
	return int64(math.Round(bps)), nil
}

// unitMultiplier returns bytes per unit.
func unitMultiplier(unit string) (float64, error) {
	prefix := func(p string) (dec, bin float64, ok bool) {
		switch strings.ToLower(p) {
		case "":
			return 1, 1, true
		case "k":
			return 1e3, 1 << 10, true
		case "m":
			return 1e6, 1 << 20, true
		case "g":
			return 1e9, 1 << 30, true
		case "t":
			return 1e12, 1 << 40, true
		}
		return 0, 0, false
	}
	if p, ok := strings.CutSuffix(unit, "Bps"); ok { // MBps: bytes per second
		unit = p + "B"
	} else {
		lower := strings.ToLower(unit)
		for _, bits := range []string{"bits", "bit", "bps"} {
			if p, ok := strings.CutSuffix(lower, bits); ok {
				if dec, _, ok := prefix(p); ok {
					return dec / 8, nil
				}
			}
		}
	}
	if p, ok := strings.CutSuffix(unit, "iB"); ok && p != "" {
		if _, bin, ok := prefix(p); ok {
			return bin, nil
		}
	}
	if p, ok := strings.CutSuffix(unit, "B"); ok {
		if dec, _, ok := prefix(p); ok {
			return dec, nil
		}
	}
	if len(unit) == 1 { // K, M, G, T alone: binary, as rclone reads them
		if _, bin, ok := prefix(unit); ok {
			return bin, nil
		}
	}
	if p, ok := strings.CutSuffix(unit, "b"); ok {
		return 0, fmt.Errorf("%q could mean bits or bytes: write %q for bytes or %q for bits", unit, p+"B/s", p+"bit/s")
	}
	return 0, fmt.Errorf("unknown unit %q", unit)
}

// formatBandwidth prints a limit in the largest binary unit that keeps it
// whole, or "off".
func formatBandwidth(bps int64) string {
	if bps <= 0 {
		return "off"
	}
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if bps%u.size == 0 {
			return strconv.FormatInt(bps/u.size, 10) + u.name + "/s"
		}
	}
	return strconv.FormatInt(bps, 10) + "B/s"
}

// BandwidthPlan is a transfer limit by time of day. The zero BandwidthPlan is
// unlimited at all times.
type BandwidthPlan struct {
	parts []bandwidthPart // cover each minute of the day exactly once
}

type bandwidthPart struct {
	window Window
	limit  int64 // bytes per second, 0 = unlimited
}

// ParseBandwidthPlan reads a config bwlimit value: either one limit for the
// whole day ("10MiB/s", "off") or a table of time-of-day windows and limits
// separated by commas:
//
//	"08:00-18:00=2MiB/s, 18:00-08:00=off"
//
// The windows of a table must cover the whole day without overlapping; a gap
// or an overlap is refused with the minutes concerned and a fix.
func ParseBandwidthPlan(s string) (BandwidthPlan, error) {
	if !strings.Contains(s, "=") {
		if strings.Contains(s, ",") || strings.Contains(s, ":") {
			return BandwidthPlan{}, fmt.Errorf(`bandwidth plan %q: want one limit ("10MiB/s") or a table like "08:00-18:00=2MiB/s, 18:00-08:00=off"`, s)
		}
		limit, err := ParseBandwidth(s)
		if err != nil {
			return BandwidthPlan{}, err
		}
		if limit == Unlimited {
			return BandwidthPlan{}, nil
		}
		return BandwidthPlan{parts: []bandwidthPart{{limit: limit}}}, nil
	}
	var plan BandwidthPlan
	owner := make([]int, minutesPerDay) // 1 + index of the part covering each minute
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		span, value, ok := strings.Cut(item, "=")
		if !ok {
			return BandwidthPlan{}, fmt.Errorf(`bandwidth plan %q: entry %q is not "HH:MM-HH:MM=LIMIT", e.g. "08:00-18:00=2MiB/s"`, s, item)
		}
		w, err := ParseWindow(span)
		if err != nil {
			return BandwidthPlan{}, fmt.Errorf("bandwidth plan %q: %w", s, err)
		}
		if strings.TrimSpace(span) == "" {
			return BandwidthPlan{}, fmt.Errorf(`bandwidth plan %q: entry %q needs a time span such as "08:00-18:00"; for one limit all day write just the limit`, s, item)
		}
		limit, err := ParseBandwidth(value)
		if err != nil {
			return BandwidthPlan{}, fmt.Errorf("bandwidth plan %q: %w", s, err)
		}
		idx := len(plan.parts)
		for m := range minutesPerDay {
			if !w.containsMinute(m) {
				continue
			}
			if prev := owner[m]; prev != 0 {
				first, last := m, m
				for last+1 < minutesPerDay && w.containsMinute(last+1) && owner[last+1] == prev {
					last++
				}
				return BandwidthPlan{}, fmt.Errorf("bandwidth plan %q: %s and %s overlap at %s-%s; each time of day needs exactly one limit",
					s, plan.parts[prev-1].window.span(), w.span(), formatClock(first), formatClock(last+1))
			}
			owner[m] = idx + 1
		}
		plan.parts = append(plan.parts, bandwidthPart{window: w, limit: limit})
	}
	if len(plan.parts) == 0 {
		return BandwidthPlan{}, fmt.Errorf(`bandwidth plan %q: no entries; e.g. "08:00-18:00=2MiB/s, 18:00-08:00=off"`, s)
	}
	var gaps []string
	for m := 0; m < minutesPerDay; m++ {
		if owner[m] != 0 {
			continue
		}
		end := m
		for end < minutesPerDay && owner[end] == 0 {
			end++
		}
		gaps = append(gaps, formatClock(m)+"-"+formatClock(end))
		m = end
	}
	if len(gaps) > 0 {
		return BandwidthPlan{}, fmt.Errorf(`bandwidth plan %q: no limit given for %s; add an entry such as "%s=off" (off = unlimited)`,
			s, strings.Join(gaps, ", "), gaps[0])
	}
	return plan, nil
}

// Unlimited reports whether the plan never limits.
func (p BandwidthPlan) Unlimited() bool {
	for _, part := range p.parts {
		if part.limit != Unlimited {
			return false
		}
	}
	return true
}

// LimitAt returns the limit in bytes per second in force at t's wall clock,
// 0 meaning unlimited.
func (p BandwidthPlan) LimitAt(t time.Time) int64 {
	m := t.Hour()*60 + t.Minute()
	for _, part := range p.parts {
		if part.window.containsMinute(m) {
			return part.limit
		}
	}
	return Unlimited
}

// NextChange returns the first instant after t at which a table entry
// starts (the limit may change then), or the zero time if the plan has one
// limit all day.
func (p BandwidthPlan) NextChange(t time.Time) time.Time {
	var next time.Time
	for _, part := range p.parts {
		if s := part.window.NextStart(t); !s.IsZero() && (next.IsZero() || s.Before(next)) {
			next = s
		}
	}
	return next
}

// String returns the plan in config form: "off", "10MiB/s" or a table.
func (p BandwidthPlan) String() string {
	if len(p.parts) == 0 {
		return "off"
	}
	if len(p.parts) == 1 && p.parts[0].window.Always() {
		return formatBandwidth(p.parts[0].limit)
	}
	out := make([]string, len(p.parts))
	for i, part := range p.parts {
		out[i] = part.window.span() + "=" + formatBandwidth(part.limit)
	}
	return strings.Join(out, ", ")
}
