//go:build linux && !amd64 && !arm64

package local

import "golang.org/x/sys/unix"

// lstatAt is fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW).
func lstatAt(fd int, _ *byte, name string, st *unix.Stat_t) error {
	return unix.Fstatat(fd, name, st, unix.AT_SYMLINK_NOFOLLOW)
}
