package backup

import "testing"

func TestProjectOf(t *testing.T) {
	for name, want := range map[string]string{
		"2024/2024-06-01 Smith Wedding/IMG_0001.CR3":       "Smith Wedding",
		"2024/2024-06-01 Smith Wedding/Edits/IMG_0001.psd": "Smith Wedding",
		"2024/Misc/IMG_0001.JPG":                           "2024",
		"2024/2023-06-01 Wrong Year/IMG_0001.JPG":          "2024",
		"Exports/Client/cover.jpg":                         "Exports",
		"cover.jpg":                                        "Unsorted",
		"2024/2024-06-01 Smith Wedding":                    "2024",
	} {
		if got := projectOf(name); got != want {
			t.Errorf("projectOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 12000: "12,000", 1234567: "1,234,567", -4000: "-4,000"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}
