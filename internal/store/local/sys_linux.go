package local

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames inside root with RENAME_NOREPLACE; errUnsupported
// when the filesystem refuses the flag (FUSE exFAT/FAT drivers, old kernels).
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
	err = unix.Renameat2(int(fd.Fd()), path.Base(from), int(td.Fd()), path.Base(to), unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOTSUP) {
		return errUnsupported
	}
	if err != nil {
		return &os.LinkError{Op: "renameat2", Old: from, New: to, Err: err}
	}
	return nil
}

// dropCache evicts the file's clean pages so the next reads hit the device.
func dropCache(f *os.File) {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// statfs magic numbers for a fallback name.
var fsMagic = map[int64]string{
	0xEF53: "ext4", 0x01021994: "tmpfs", 0x2011BAB0: "exfat", 0x4d44: "vfat",
	0x65735546: "fuse", 0x9123683E: "btrfs", 0x58465342: "xfs", 0x6969: "nfs",
	0xFF534D42: "cifs", 0xFE534D42: "smb2", 0x794c7630: "overlay", 0x5346544e: "ntfs",
	0x7366746e: "ntfs3", 0x2FC12FC1: "zfs", 0xF15F: "ecryptfs",
}

// fsType names the filesystem of dir (device dev): the mountinfo entry for
// the device, refined for fuseblk by the boot sector of its device.
func fsType(dir string, dev uint64) string {
	if t := mountinfoType(dev); t != "" {
		return t
	}
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err == nil {
		if n, ok := fsMagic[int64(s.Type)]; ok {
			return n
		}
		return fmt.Sprintf("0x%x", s.Type)
	}
	return ""
}

func mountinfoType(dev uint64) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	want := fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != want {
			continue
		}
		for i, fl := range fields {
			if fl == "-" && i+2 < len(fields) {
				t, src := fields[i+1], fields[i+2]
				if t == "fuseblk" {
					if k := sniffBootSector(src); k != "" {
						t += ":" + k
					}
				}
				return t
			}
		}
	}
	return ""
}

// sniffBootSector tells exfat, ntfs or vfat from a block device's first
// sector (needs read access to the device; "" otherwise).
func sniffBootSector(dev string) string {
	if !strings.HasPrefix(dev, "/dev/") {
		return ""
	}
	f, err := os.Open(dev)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, 512)
	if _, err := f.ReadAt(b, 0); err != nil {
		return ""
	}
	switch {
	case string(b[3:11]) == "EXFAT   ":
		return "exfat"
	case string(b[3:11]) == "NTFS    ":
		return "ntfs"
	case string(b[82:87]) == "FAT32" || string(b[54:59]) == "FAT16" || string(b[54:59]) == "FAT12":
		return "vfat"
	}
	return ""
}
