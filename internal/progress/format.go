package progress

import (
	"fmt"
	"math"
	"time"
)

var units = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// FormatBytes renders a size in binary units with one decimal above bytes:
// "0 B", "512 B", "1.0 KiB", "25.5 GiB". Negative sizes get a minus sign.
func FormatBytes(n int64) string {
	if n < 0 {
		if n == math.MinInt64 {
			return "-8.0 EiB"
		}
		return "-" + FormatBytes(-n)
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := scale(float64(n))
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// FormatRate renders a transfer rate in bytes per second: "95 MiB/s",
// "9.5 MiB/s", "512 B/s". Values of 10 and above in their unit are shown
// without decimals. A zero, negative, NaN or infinite rate is "-" (unknown).
func FormatRate(bytesPerSecond float64) string {
	if !(bytesPerSecond > 0) || math.IsInf(bytesPerSecond, 0) {
		return "-"
	}
	v, i := scale(bytesPerSecond)
	if i == 0 || v >= 10 {
		return fmt.Sprintf("%.0f %s/s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s/s", v, units[i])
}

// scale divides v by 1024 until it is below 1024 (or the largest unit),
// taking care that rounding to one decimal never shows "1024.0".
func scale(v float64) (float64, int) {
	i := 0
	for v >= 1023.95 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return v, i
}

// FormatDuration renders a duration for people, rounded to whole seconds:
// "0s", "45s", "2m10s", "1h05m" (seconds dropped from an hour up).
// Negative durations are shown as "0s".
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		m := (s + 30) / 60 // round to the minute
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
}
