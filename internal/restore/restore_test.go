package restore

import "testing"

func TestValidPath(t *testing.T) {
	good := []string{"a.jpg", "2024/2024-06-01 Smith/IMG_0001.CR3", "a/b..c/d"}
	bad := []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/", ".", "..", "a/\x00b"}
	for _, p := range good {
		if !ValidPath(p) {
			t.Errorf("ValidPath(%q) = false, want true", p)
		}
	}
	for _, p := range bad {
		if ValidPath(p) {
			t.Errorf("ValidPath(%q) = true, want false", p)
		}
	}
}
