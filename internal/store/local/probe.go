package local

import (
	"fmt"
	"os"
	"path"
	"slices"
	"time"
)

// fat32Max is the largest file FAT32 holds.
const fat32Max = 1<<32 - 1

// isFAT32 reports whether an FSType is a FAT (not exFAT) filesystem.
func isFAT32(t string) bool {
	switch t {
	case "vfat", "msdos", "fat", "fuseblk:vfat", "fuse.fusefat":
		return true
	}
	return false
}

// probeCaps finds out what the filesystem under root can do by creating
// and removing small files in .trove.
func probeCaps(root *os.Root, dir string) (Caps, error) {
	var c Caps
	fi, err := root.Stat(".")
	if err != nil {
		return c, fmt.Errorf("probe: %w", err)
	}
	dev, err := devOf(fi)
	if err != nil {
		return c, fmt.Errorf("probe: %w", err)
	}
	c.FSType = fsType(dir, dev)
	if isFAT32(c.FSType) {
		c.MaxFileSize = fat32Max
	}
	if err := mkdirDurable(root, metaDir); err != nil {
		return c, fmt.Errorf("probe: %w", err)
	}
	p := func(n string) string { return path.Join(metaDir, "probe-"+n) }

	// Case: create Aa, look for aA.
	if err := probeCreate(root, p("Aa")); err != nil {
		return c, fmt.Errorf("probe: cannot create files in %s: %w", metaDir, err)
	}
	_, err = root.Lstat(p("aA"))
	c.CaseInsensitive = err == nil
	c.CoarseTime = probeTime(root, p("Aa"))
	root.Remove(p("Aa"))

	// Restricted names: each must be created and then listed exactly as
	// given (some drivers silently drop trailing dots).
	for _, n := range []string{"a:b", `q?*"<>|\`, "dot.", "sp "} {
		name := p(n)
		if err := probeCreate(root, name); err != nil {
			c.RestrictedNames = true
			continue
		}
		if !listed(root, metaDir, path.Base(name)) {
			c.RestrictedNames = true
		}
		root.Remove(name)
	}
	return c, nil
}

// probeCreate creates an empty file, replacing a leftover probe.
func probeCreate(root *os.Root, name string) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func listed(root *os.Root, dir, base string) bool {
	d, err := root.Open(dir)
	if err != nil {
		return false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return err == nil && slices.Contains(names, base)
}

// probeTime sets an mtime with an odd second and a sub-second part and sees
// what the filesystem keeps: 0 when exact, else the apparent granularity.
func probeTime(root *os.Root, name string) time.Duration {
	set := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	if err := root.Chtimes(name, set, set); err != nil {
		return 0
	}
	fi, err := root.Stat(name)
	if err != nil {
		return 0
	}
	got := fi.ModTime()
	switch ns := got.Nanosecond(); {
	case got.Equal(set):
		return 0
	case ns == 0 && got.Unix()%2 == 0:
		return 2 * time.Second
	case ns == 0:
		return time.Second
	case ns%10_000_000 == 0:
		return 10 * time.Millisecond
	case ns%1000 == 0:
		return time.Microsecond
	default:
		return 100 * time.Nanosecond
	}
}
