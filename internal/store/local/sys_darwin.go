package local

import (
	"errors"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames inside root with RENAME_EXCL; errUnsupported when
// the filesystem refuses it.
func renameNoReplace(root *os.Root, from, to string) error {
	fd, err := root.Open(path.Dir(from))
	if err != nil {
		return err
	}
	defer fd.Close()
	td, err := root.Open(path.Dir(to))
	if err != nil {
		return err
	}
	defer td.Close()
	err = unix.RenameatxNp(int(fd.Fd()), path.Base(from), int(td.Fd()), path.Base(to), unix.RENAME_EXCL)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.ENOSYS) {
		return errUnsupported
	}
	if err != nil {
		return &os.LinkError{Op: "renameatx_np", Old: from, New: to, Err: err}
	}
	return nil
}

// dropCache turns caching off for this descriptor, so reads hit the device.
func dropCache(f *os.File) {
	_, _ = unix.FcntlInt(f.Fd(), unix.F_NOCACHE, 1)
}

func fsType(dir string, _ uint64) string {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return ""
	}
	return unix.ByteSliceToString(s.Fstypename[:])
}
