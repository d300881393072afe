package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseBandwidth(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"", 0}, {"off", 0}, {"Unlimited", 0}, {"0", 0}, {"0MiB/s", 0},
		{"10MiB/s", 10 << 20},
		{"10 MiB/s", 10 << 20},
		{"10MiB", 10 << 20},
		{"1.5MiB/s", 3 << 19},
		{"500KiB/s", 500 << 10},
		{"2GiB/s", 2 << 30},
		{"1TiB/s", 1 << 40},
		{"100B/s", 100},
		{"1B", 1},
		{"10MB/s", 10_000_000},
		{"10mB/s", 10_000_000},
		{"500kB/s", 500_000},
		{"500KB/s", 500_000},
		{"1GB/s", 1_000_000_000},
		{"10M", 10 << 20},   // rclone style
		{"512k", 512 << 10}, // rclone style
		{"20Mbit/s", 2_500_000},
		{"20mbit", 2_500_000},
		{"20Mbps", 2_500_000},
		{"800kbit/s", 100_000},
		{"1Gbit/s", 125_000_000},
		{"8bit/s", 1},
		{"10MBps", 10_000_000},
	}
	for _, c := range good {
		got, err := ParseBandwidth(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseBandwidth(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, want string }{
		{"10", "add a unit"},
		{"10Mb/s", "bits or bytes"},
		{"10mb", "bits or bytes"},
		{"10kb/s", "bits or bytes"},
		{"10 furlongs", "unknown unit"},
		{"-5MiB/s", "a number and a unit"},
		{"fast", "a number and a unit"},
		{"1bit/s", "below 1 byte"},
		{"0.5B/s", "below 1 byte"},
		{"2000TiB/s", "above 1 PiB/s"},
		{"10XiB/s", "unknown unit"},
	}
	for _, c := range bad {
		_, err := ParseBandwidth(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.in) {
			t.Errorf("ParseBandwidth(%q) error %v, want one quoting the input and containing %q", c.in, err, c.want)
		}
	}
}

func mustPlan(t *testing.T, s string) BandwidthPlan {
	t.Helper()
	p, err := ParseBandwidthPlan(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseBandwidthPlan(t *testing.T) {
	good := []struct{ in, want string }{
		{"", "off"},
		{"off", "off"},
		{"10MiB/s", "10MiB/s"},
		{"1000B/s", "1000B/s"},
		{"08:00-18:00=2MiB/s, 18:00-08:00=off", "08:00-18:00=2MiB/s, 18:00-08:00=off"},
		{"00:00-24:00=1MiB/s", "1MiB/s"},
		{"00:00-12:00=1MiB/s,12:00-24:00=512KiB/s,", "00:00-12:00=1MiB/s, 12:00-24:00=512KiB/s"},
		{"22:00-06:00=off, 06:00-22:00=20Mbit/s", "22:00-06:00=off, 06:00-22:00=2500000B/s"},
	}
	for _, c := range good {
		p, err := ParseBandwidthPlan(c.in)
		if err != nil {
			t.Errorf("ParseBandwidthPlan(%q): %v", c.in, err)
			continue
		}
		if p.String() != c.want {
			t.Errorf("ParseBandwidthPlan(%q) = %q, want %q", c.in, p, c.want)
		}
	}
	bad := []struct{ in, want string }{
		{"08:00-18:00=2MiB/s", `no limit given for 00:00-08:00, 18:00-24:00; add an entry such as "00:00-08:00=off"`},
		{"08:00-18:00=2MiB/s, 18:00-07:00=off", `no limit given for 07:00-08:00`},
		{"08:00-18:00=2MiB/s, 17:00-08:00=off", `08:00-18:00 and 17:00-08:00 overlap at 17:00-18:00`},
		{"00:00-24:00=1MiB/s, 01:00-02:00=off", `00:00-24:00 and 01:00-02:00 overlap at 01:00-02:00`},
		{"08:00-18:00", `one limit`},
		{"08:00-18:00 2MiB/s, 18:00-08:00=off", `not "HH:MM-HH:MM=LIMIT"`},
		{"08:00-18:00=fast, 18:00-08:00=off", `bandwidth "fast"`},
		{"08:00-08:00=1MiB/s", `the same`},
		{"=1MiB/s", `needs a time span`},
		{",", `one limit`},
	}
	for _, c := range bad {
		_, err := ParseBandwidthPlan(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseBandwidthPlan(%q) error %v, want one containing %q", c.in, err, c.want)
		}
	}
}

func TestBandwidthPlanLimitAt(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	d := func(h, m int) time.Time { return at(berlin, 2024, 6, 5, h, m) }
	day := mustPlan(t, "08:00-18:00=2MiB/s, 18:00-08:00=off")
	cases := []struct {
		name string
		plan BandwidthPlan
		t    time.Time
		want int64
		next time.Time
	}{
		{"zero plan", BandwidthPlan{}, d(12, 0), 0, time.Time{}},
		{"constant", mustPlan(t, "10MiB/s"), d(3, 0), 10 << 20, time.Time{}},
		{"day limited", day, d(8, 0), 2 << 20, d(18, 0)},
		{"day late", day, d(17, 59), 2 << 20, d(18, 0)},
		{"evening off", day, d(18, 0), 0, d(8, 0).AddDate(0, 0, 1)},
		{"night off", day, d(3, 0), 0, d(8, 0)},
		{"three parts", mustPlan(t, "00:00-06:00=off, 06:00-12:00=1MiB/s, 12:00-24:00=3MiB/s"), d(13, 0), 3 << 20, d(0, 0).AddDate(0, 0, 1)},
	}
	for _, c := range cases {
		if got := c.plan.LimitAt(c.t); got != c.want {
			t.Errorf("%s: LimitAt(%v) = %d, want %d", c.name, c.t, got, c.want)
		}
		if got := c.plan.NextChange(c.t); !got.Equal(c.next) {
			t.Errorf("%s: NextChange(%v) = %v, want %v", c.name, c.t, got, c.next)
		}
	}
	if !mustPlan(t, "off").Unlimited() || !mustPlan(t, "00:00-12:00=off, 12:00-00:00=off").Unlimited() || day.Unlimited() {
		t.Error("Unlimited wrong")
	}
}
