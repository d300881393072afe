//go:build linux

package testenv

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/trove-backup/trove/internal/mountinfo"
)

func TestStrictFromEnv(t *testing.T) {
	t.Setenv(StrictEnv, "1")
	if !Strict() {
		t.Fatal("Strict() = false with TROVE_TEST_STRICT=1")
	}
	t.Setenv(StrictEnv, "0")
	if Strict() {
		t.Fatal("Strict() = true with TROVE_TEST_STRICT=0")
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := mountinfo.Unescape(`/media/My\040Drive`); got != "/media/My Drive" {
		t.Fatalf("got %q", got)
	}
}

func devOf(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Dev)
}

// checkMount writes a file on a fresh mount and checks it is another device.
func checkMount(t *testing.T, dir string) {
	t.Helper()
	if !IsMountPoint(dir) {
		t.Fatalf("%s is not a mount point", dir)
	}
	if devOf(t, dir) == devOf(t, filepath.Dir(dir)) {
		t.Fatalf("%s has the same device as its parent", dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "hello.txt"))
	if err != nil || string(b) != "hi" {
		t.Fatalf("read back %q, %v", b, err)
	}
}

func TestMounts(t *testing.T) {
	cases := map[string]func(testing.TB, int64) string{
		"tmpfs": MountTmpfs,
		"exfat": MountExFAT,
		"vfat":  MountVFAT,
		"ext4":  MountExt4,
	}
	for name, mount := range cases {
		t.Run(name, func(t *testing.T) {
			checkMount(t, mount(t, 64<<20))
		})
	}
}

func TestUnplug(t *testing.T) {
	dir := MountTmpfs(t, 1<<20)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	Unplug(t, dir)
	if IsMountPoint(dir) {
		t.Fatal("still mounted after Unplug")
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); !os.IsNotExist(err) {
		t.Fatalf("file still visible after Unplug: %v", err)
	}
	// Cleanup must tolerate the missing mount.
}
