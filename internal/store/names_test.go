package store

import (
	"errors"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a.jpg", "2024/2024-06-01 Smith/IMG 1.CR3", "Caf\u00e9/x", ".hidden/x"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/abs", "a//b", "a/./b", "../x", "a/..", ".trove", ".trove/x", "x\x00y",
		"\xff.jpg", "d/.a.jpg.trove-tmp-1234"} {
		if err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", bad, err)
		}
	}
}
