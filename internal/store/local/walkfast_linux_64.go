//go:build linux && (amd64 || arm64)

package local

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// lstatAt is fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW) with name given as
// a NUL-terminated byte string (cname), which saves unix.Fstatat's copy.
func lstatAt(fd int, cname *byte, name string, st *unix.Stat_t) error {
	_, _, e := unix.Syscall6(sysFstatat, uintptr(fd), uintptr(unsafe.Pointer(cname)), uintptr(unsafe.Pointer(st)),
		unix.AT_SYMLINK_NOFOLLOW, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
