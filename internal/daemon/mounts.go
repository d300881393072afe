package daemon

import (
	"bufio"
	"context"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/trove-backup/trove/internal/mountinfo"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/store/local"
)

// reasonAttached starts the reason of a backup started by a drive appearing.
const reasonAttached = "drive attached"

// Root is a folder where drives appear, searched for .trove/target.json in
// the folder itself and in sub-folders down to Depth levels (0: only Dir).
type Root struct {
	Dir   string
	Depth int
}

// maxDirsPerRoot bounds the folders looked at under one root per scan.
const maxDirsPerRoot = 400

// MountRoots returns the platform's places where drives appear:
//
//   - Linux: every mount point in /proc/self/mountinfo except the root
//     filesystem and system filesystems (depth 1: the drive and the folders
//     in it), and /media/$USER, /run/media/$USER, /media and /mnt (depth 2:
//     the drives mounted there and the folders in them);
//   - macOS: /Volumes (depth 2);
//   - Windows: the drive letters D: to Z: (depth 1).
func MountRoots() []Root {
	var roots []Root
	switch runtime.GOOS {
	case "linux":
		for _, mp := range linuxMountPoints() {
			roots = append(roots, Root{Dir: mp, Depth: 1})
		}
		name := ""
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		dirs := []string{"/media", "/mnt"}
		if name != "" {
			dirs = append([]string{"/media/" + name, "/run/media/" + name}, dirs...)
		}
		for _, d := range dirs {
			roots = append(roots, Root{Dir: d, Depth: 2})
		}
	case "darwin":
		roots = append(roots, Root{Dir: "/Volumes", Depth: 2})
	case "windows":
		for c := 'D'; c <= 'Z'; c++ {
			roots = append(roots, Root{Dir: string(c) + `:\`, Depth: 1})
		}
	}
	return roots
}

// systemFS are filesystem types that never hold a drive.
var systemFS = map[string]bool{
	"proc": true, "sysfs": true, "devtmpfs": true, "devpts": true, "cgroup": true, "cgroup2": true,
	"securityfs": true, "pstore": true, "bpf": true, "tracefs": true, "debugfs": true, "mqueue": true,
	"hugetlbfs": true, "configfs": true, "fusectl": true, "autofs": true, "binfmt_misc": true,
	"rpc_pipefs": true, "nsfs": true, "efivarfs": true, "squashfs": true, "ramfs": true,
}

// linuxMountPoints reads the mount points of /proc/self/mountinfo, leaving
// out "/" and system places.
func linuxMountPoints() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		mp := mountinfo.Unescape(fields[4])
		fsType := ""
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				fsType = fields[i+1]
				break
			}
		}
		if mp == "/" || systemFS[fsType] || seen[mp] || systemPath(mp) {
			continue
		}
		seen[mp] = true
		out = append(out, mp)
	}
	return out
}

// systemPath reports whether a mount point is a system place (/proc, /sys,
// /dev, /run other than /run/media, /boot, /snap).
func systemPath(p string) bool {
	for _, s := range []string{"/proc", "/sys", "/dev", "/boot", "/snap"} {
		if p == s || strings.HasPrefix(p, s+"/") {
			return true
		}
	}
	return (p == "/run" || strings.HasPrefix(p, "/run/")) && !strings.HasPrefix(p, "/run/media/")
}

// found is one identity seen during a scan.
type found struct {
	id   local.Identity
	path string
}

// scan looks for target identities at the targets' registered paths and
// under the mount roots. It returns target id → path; a target found at its
// registered path is reported there even when another copy of its identity
// sits elsewhere.
func scan(ctx context.Context, targets []catalog.Target, roots []Root, libraryID string) map[string]string {
	known := map[string]catalog.Target{}
	for _, t := range targets {
		if isFolder(t) {
			known[t.ID] = t
		}
	}
	out := map[string]string{}
	ours := func(id local.Identity) bool {
		_, ok := known[id.TargetID]
		return ok && (libraryID == "" || id.LibraryID == "" || id.LibraryID == libraryID)
	}
	for _, t := range known {
		if id, err := local.ReadIdentity(t.Path); err == nil && id.TargetID == t.ID && ours(id) {
			out[t.ID] = filepath.Clean(t.Path)
		}
	}
	for _, r := range roots {
		n := 0
		walkRoot(ctx, r.Dir, r.Depth, &n, func(dir string) {
			id, err := local.ReadIdentity(dir)
			if err != nil || !ours(id) {
				return
			}
			if _, ok := out[id.TargetID]; !ok {
				out[id.TargetID] = dir
			}
		})
	}
	return out
}

// walkRoot calls fn for dir and its sub-folders down to depth levels,
// skipping hidden folders and stopping after maxDirsPerRoot folders.
func walkRoot(ctx context.Context, dir string, depth int, n *int, fn func(string)) {
	if ctx.Err() != nil || *n >= maxDirsPerRoot {
		return
	}
	*n++
	fn(dir)
	if depth == 0 {
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		walkRoot(ctx, filepath.Join(dir, e.Name()), depth-1, n, fn)
	}
}

// scanDrives updates which drives are present, records targets found at a
// new path in the catalog, queues a backup for every folder target that
// appeared, and returns targets with their current paths. A scan that does
// not finish within ScanTimeout (a hung network mount) is left running; the
// previous presence is kept until it returns.
func (d *Daemon) scanDrives(ctx context.Context, targets []catalog.Target, now time.Time) []catalog.Target {
	d.mu.Lock()
	if d.scanning {
		d.mu.Unlock()
		return d.withPaths(targets)
	}
	d.scanning = true
	d.mu.Unlock()
	res := make(chan map[string]string, 1)
	snapshot := slices.Clone(targets) // the scan may outlive this call
	go func() {
		m := scan(ctx, snapshot, d.o.MountRoots(), d.o.LibraryID)
		d.mu.Lock()
		d.scanning = false
		d.mu.Unlock()
		res <- m
	}()
	var now2 map[string]string
	select {
	case now2 = <-res:
	case <-time.After(d.o.ScanTimeout):
		d.o.Logf("warning: looking for drives took more than %v (a network mount not answering?); trying again later", d.o.ScanTimeout)
		return d.withPaths(targets)
	case <-ctx.Done():
		return d.withPaths(targets)
	}

	byID := map[string]*catalog.Target{}
	for i := range targets {
		byID[targets[i].ID] = &targets[i]
	}
	d.mu.Lock()
	first := !d.scanned
	d.scanned = true
	before := d.present
	d.present = now2
	d.mu.Unlock()
	for _, id := range sortedNames(now2) {
		t := byID[id]
		path := now2[id]
		if filepath.Clean(t.Path) != path {
			d.o.Logf("%s: found at %s (was %s): recording the new place", t.Name, path, t.Path)
			if err := d.o.Catalog.SetTargetPath(t.ID, path, now); err != nil {
				d.o.Logf("error: %v", err)
			} else {
				t.Path = path
			}
		}
		// A drive counts as attached when it was not there at the last
		// scan, or was somewhere else (unplugged and plugged in again
		// between two scans, mounted at another place).
		if prev, was := before[id]; (was && prev == path) || t.Kind != catalog.KindFolder {
			continue
		}
		reason := reasonAttached
		if first {
			reason += " (present when the service started)"
		} else {
			d.o.Logf("%s: drive attached at %s", t.Name, path)
		}
		d.mu.Lock()
		d.attachWant[id] = reason
		delete(d.waiting, key(JobBackup, id))
		d.mu.Unlock()
	}
	for _, id := range sortedNames(before) {
		if _, still := now2[id]; !still {
			if t, ok := byID[id]; ok {
				d.o.Logf("%s: drive gone from %s", t.Name, before[id])
			}
			d.mu.Lock()
			delete(d.attachWant, id)
			d.mu.Unlock()
		}
	}
	return targets
}

// withPaths applies the last known drive places to targets.
func (d *Daemon) withPaths(targets []catalog.Target) []catalog.Target {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, t := range targets {
		if p, ok := d.present[t.ID]; ok {
			targets[i].Path = p
		}
	}
	return targets
}

// takeAttach removes and returns a queued attach backup for target id.
func (d *Daemon) takeAttach(id string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.attachWant[id]
	if !ok {
		return "", false
	}
	if _, busy := d.running[id]; busy {
		return "", false // a job on it runs now; the backup starts when it ends
	}
	if until, ok := d.busyUntil[key(JobBackup, id)]; ok && d.o.Now().Before(until) {
		return "", false
	}
	delete(d.attachWant, id)
	return r, true
}

// requeueAttach puts an attach backup back in the queue while its drive is
// still present (it could not start now: the library is busy).
func (d *Daemon) requeueAttach(id, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.present[id]; ok {
		d.attachWant[id] = reason
	}
}
