// Package testenv gives tests the real environment they need: root, external
// commands, and freshly made filesystems (tmpfs, exFAT, FAT32, ext4 on loop
// devices), so store code is tested on the filesystems photographers use
// instead of mocks.
//
// A missing capability skips the test locally. When TROVE_TEST_STRICT=1 (CI
// sets it) the same missing capability fails the test, so a skip can never
// hide in CI.
//
// Every mount is made on a new temporary directory and undone in t.Cleanup
// (lazy unmount, then the loop device is detached), also after Unplug. The
// helpers only work on Linux as root; elsewhere they skip (or fail when
// strict).
package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/trove-backup/trove/internal/mountinfo"
)

// StrictEnv is the environment variable that turns skips into failures.
const StrictEnv = "TROVE_TEST_STRICT"

// Strict reports whether TROVE_TEST_STRICT=1 (set by CI): then a missing
// capability fails the test instead of skipping.
func Strict() bool { return os.Getenv(StrictEnv) == "1" }

// Skip skips the test with reason, or fails it when Strict().
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Strict() {
		t.Fatalf("%s=1 forbids skipping: %s", StrictEnv, msg)
	}
	t.Skip(msg)
}

// RequireRoot skips the test unless it runs on Linux with euid 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		Skip(t, "needs Linux (mounts, loop devices), running on %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		Skip(t, "needs root (euid 0) to mount filesystems")
	}
}

// RequireCommand returns the path of the named command, looking in PATH and
// then in /usr/sbin and /sbin (often missing from a user's PATH); it skips
// the test when the command is not installed.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Skip(t, "command %s not installed (Debian: exfatprogs exfat-fuse dosfstools fusefat)", name)
	return ""
}

// run runs a command and returns its combined output in the error.
func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return s, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, s)
	}
	return s, nil
}

// IsMountPoint reports whether dir is the mount point of a mounted filesystem
// (per /proc/self/mountinfo).
func IsMountPoint(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && mountinfo.Unescape(fields[4]) == abs {
			return true
		}
	}
	return false
}

// unmount lazily unmounts dir if it is still mounted.
func unmount(t testing.TB, dir string) {
	t.Helper()
	if !IsMountPoint(dir) {
		return
	}
	if _, err := run("umount", "-l", dir); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// Unplug lazily unmounts dir now, simulating a drive pulled mid-run: open
// files keep working on the detached filesystem while the path falls through
// to the empty mount point. The Cleanup of the mount tolerates it.
func Unplug(t testing.TB, dir string) {
	t.Helper()
	if _, err := run("umount", "-l", dir); err != nil {
		t.Fatalf("unplug: %v", err)
	}
}

// MountTmpfs mounts a fresh tmpfs of size bytes at a new temp dir; it is
// unmounted (lazily, -l) in t.Cleanup.
func MountTmpfs(t testing.TB, size int64) string {
	t.Helper()
	RequireRoot(t)
	dir := t.TempDir()
	if _, err := run("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir); err != nil {
		Skip(t, "cannot mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

// loopImage makes a sparse image file of size bytes, formats it with mkfs
// (the command and its arguments, image path appended) and attaches it to a
// free loop device, detached in t.Cleanup (registered before the unmount, so
// it runs after it). It returns the device path.
func loopImage(t testing.TB, size int64, mkfs string, args ...string) string {
	t.Helper()
	RequireRoot(t)
	mkfsPath := RequireCommand(t, mkfs)
	losetup := RequireCommand(t, "losetup")
	img := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatalf("create image: %v", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		t.Fatalf("size image: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close image: %v", err)
	}
	if _, err := run(mkfsPath, append(args, img)...); err != nil {
		t.Fatalf("format image: %v", err)
	}
	dev, err := run(losetup, "--find", "--show", img)
	if err != nil {
		Skip(t, "no loop device: %v", err)
	}
	t.Cleanup(func() {
		// A lazily unmounted FUSE daemon may still hold the device for a
		// moment; losetup -d then marks it autoclear, which frees it later.
		if _, err := run(losetup, "-d", dev); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return dev
}

// mountDev mounts dev at a new temp dir with the kernel driver kernelFS when
// the kernel offers it (or auto-loads it), else with the FUSE command
// fuseCmd (args before device and mount point). Cleanup unmounts it.
func mountDev(t testing.TB, dev, kernelFS string, fuseCmd string, fuseArgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	_, kerr := run("mount", "-t", kernelFS, dev, dir)
	if kerr != nil {
		if fuseCmd == "" {
			Skip(t, "cannot mount %s: %v", kernelFS, kerr)
		}
		if _, err := os.Stat("/dev/fuse"); err != nil {
			Skip(t, "no kernel %s (%v) and no /dev/fuse", kernelFS, kerr)
		}
		p := RequireCommand(t, fuseCmd)
		args := append(append([]string{}, fuseArgs...), dev, dir)
		if _, err := run(p, args...); err != nil {
			Skip(t, "cannot mount %s: kernel: %v; fuse: %v", kernelFS, kerr, err)
		}
	}
	t.Cleanup(func() { unmount(t, dir) })
	if !IsMountPoint(dir) {
		t.Fatalf("mount %s at %s: not a mount point afterwards", dev, dir)
	}
	return dir
}

// MountExFAT makes a loop-backed exFAT filesystem of size bytes (mkfs.exfat
// from exfatprogs) and mounts it: with the kernel exfat driver if available,
// else with exfat-fuse (mount.exfat-fuse). Cleanup unmounts it and frees the
// loop device.
func MountExFAT(t testing.TB, size int64) string {
	t.Helper()
	dev := loopImage(t, size, "mkfs.exfat")
	return mountDev(t, dev, "exfat", "mount.exfat-fuse")
}

// MountVFAT makes a loop-backed FAT32 filesystem (mkfs.vfat -F 32 from
// dosfstools; at least ~33 MiB) and mounts it with the kernel vfat driver, else
// with fusefat (-o rw+). fusefat is a limited driver: it refuses names outside
// ASCII, so tests on it must expect that.
func MountVFAT(t testing.TB, size int64) string {
	t.Helper()
	dev := loopImage(t, size, "mkfs.vfat", "-F", "32")
	return mountDev(t, dev, "vfat", "fusefat", "-o", "rw+")
}

// MountExt4 mounts a fresh ext4 filesystem of size bytes from a loop file: a
// distinct device, for "two drives" tests.
func MountExt4(t testing.TB, size int64) string {
	t.Helper()
	dev := loopImage(t, size, "mkfs.ext4", "-q", "-F")
	return mountDev(t, dev, "ext4", "")
}
