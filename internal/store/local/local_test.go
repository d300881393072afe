package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/testenv"
)

const targetID = "tgt-0001"

// attach prepares dir as a target and attaches it, closed in Cleanup.
func attach(t testing.TB, dir string) *local.Local {
	t.Helper()
	if _, err := local.Prepare(dir, local.Identity{TargetID: targetID, Name: "drive-a", LibraryID: "lib-1"}); err != nil {
		t.Fatal(err)
	}
	l, err := local.Attach(dir, targetID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// subdir returns a fresh folder inside base for one target.
func subdir(t testing.TB, base string) string {
	t.Helper()
	d, err := os.MkdirTemp(base, "target-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rawNames lists every entry below dir (relative, slash-separated), except
// the .trove folder: what is really on the disk.
func rawNames(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".trove" && d.IsDir() {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConformance(t *testing.T) {
	fss := []struct {
		name  string
		mount func(t testing.TB) string
	}{
		{"dir", func(t testing.TB) string { return t.TempDir() }},
		{"tmpfs", func(t testing.TB) string { return testenv.MountTmpfs(t, 128<<20) }},
		{"exfat", func(t testing.TB) string { return testenv.MountExFAT(t, 128<<20) }},
		{"vfat", func(t testing.TB) string { return testenv.MountVFAT(t, 128<<20) }},
	}
	for _, fs := range fss {
		t.Run(fs.name, func(t *testing.T) {
			base := fs.mount(t)
			probe := attach(t, subdir(t, base))
			caps := probe.Caps()
			t.Logf("%s caps: %+v", fs.name, caps)
			opt := storetest.Options{ASCIINamesOnly: caps.FSType == "fuse.fusefat"}
			storetest.RunWith(t, func(t *testing.T) store.Store {
				l := attach(t, subdir(t, base))
				t.Cleanup(func() {
					// Whatever the subtest did, no temporary may remain.
					for _, n := range rawNames(t, l.Root()) {
						if strings.Contains(n, ".trove-tmp-") {
							t.Errorf("temporary left behind: %s", n)
						}
					}
				})
				return l
			}, opt)
		})
	}
}

func TestPrepareAndIdentity(t *testing.T) {
	dir := t.TempDir()
	id := local.Identity{TargetID: targetID, Name: "drive-a", LibraryID: "lib-1"}
	if _, err := local.Prepare(dir, id); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Prepare(dir, id); err != nil {
		t.Fatalf("second Prepare with the same id: %v", err)
	}
	got, err := local.ReadIdentity(dir)
	if err != nil || got.TargetID != targetID || got.Name != "drive-a" || got.Format != local.IdentityFormat || got.CreatedAt.IsZero() {
		t.Fatalf("ReadIdentity = %+v, %v", got, err)
	}
	_, err = local.Prepare(dir, local.Identity{TargetID: "tgt-other", Name: "drive-b"})
	if !errors.Is(err, store.ErrWrongTarget) {
		t.Fatalf("Prepare over another identity: %v, want ErrWrongTarget", err)
	}
	_, err = local.Attach(dir, "tgt-other")
	if !errors.Is(err, store.ErrWrongTarget) || !strings.Contains(err.Error(), targetID) || !strings.Contains(err.Error(), "tgt-other") {
		t.Fatalf("Attach with another id: %v, want ErrWrongTarget naming both", err)
	}
	f := filepath.Join(dir, "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := local.Prepare(f, id); err == nil {
		t.Fatal("Prepare of a file succeeded")
	}
}

func TestAttachMissingIdentity(t *testing.T) {
	empty := t.TempDir()
	_, err := local.Attach(empty, targetID)
	if !errors.Is(err, store.ErrNotAttached) || !strings.Contains(err.Error(), "empty mount point") {
		t.Fatalf("Attach of an empty folder: %v, want ErrNotAttached", err)
	}
	_, err = local.Attach(filepath.Join(empty, "missing"), targetID)
	if !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("Attach of a missing folder: %v, want ErrNotAttached", err)
	}
	if _, err := local.ReadIdentity(empty); !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("ReadIdentity: %v", err)
	}
}

func TestAttachLocked(t *testing.T) {
	dir := t.TempDir()
	l := attach(t, dir)
	_, err := local.Attach(dir, targetID)
	if !errors.Is(err, local.ErrLocked) {
		t.Fatalf("second Attach: %v, want ErrLocked", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := local.Attach(dir, targetID)
	if err != nil {
		t.Fatalf("Attach after Close: %v", err)
	}
	l2.Close()
}

func TestDevice(t *testing.T) {
	dir := t.TempDir()
	l := attach(t, dir)
	d, err := local.DeviceOf(dir)
	if err != nil || d != l.Device() || !strings.HasPrefix(d, "dev:") {
		t.Fatalf("DeviceOf = %q %v, Device = %q", d, err, l.Device())
	}
	other, err := local.DeviceOf(testenv.MountExt4(t, 32<<20))
	if err != nil || other == d {
		t.Fatalf("ext4 mount device %q %v, same as %q", other, err, d)
	}
	free, total, err := l.Usage()
	if err != nil || total == 0 || free > total {
		t.Fatalf("Usage = %d/%d %v", free, total, err)
	}
}

func TestFullTmpfs(t *testing.T) {
	dir := testenv.MountTmpfs(t, 1<<20)
	l := attach(t, dir)
	ctx := context.Background()
	data := bytes.Repeat([]byte("x"), 2<<20)
	w, err := l.Create(ctx, "big.jpg", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	_, werr := w.Write(data)
	_, cerr := w.Commit(ctx, storetest.Sum(data))
	if !errors.Is(werr, store.ErrFull) && !errors.Is(cerr, store.ErrFull) {
		t.Fatalf("write %v, commit %v: want ErrFull", werr, cerr)
	}
	w.Abort()
	if n := rawNames(t, dir); len(n) != 0 {
		t.Fatalf("left on the disk: %q", n)
	}
}

func TestUnplugMidWrite(t *testing.T) {
	dir := testenv.MountTmpfs(t, 16<<20)
	l := attach(t, dir)
	ctx := context.Background()
	chunk := bytes.Repeat([]byte("y"), 1<<20)
	w, err := l.Create(ctx, "shoot/a.jpg", 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	testenv.Unplug(t, dir)
	_, werr := w.Write(chunk)
	_, cerr := w.Commit(ctx, storetest.Sum(append(chunk, chunk...)))
	bad := func(err error) bool {
		return errors.Is(err, store.ErrNotAttached) || errors.Is(err, store.ErrDeviceChanged)
	}
	if !bad(werr) && !bad(cerr) {
		t.Fatalf("write %v, commit %v: want ErrNotAttached or ErrDeviceChanged", werr, cerr)
	}
	t.Logf("commit after unplug: %v", cerr)
	w.Abort()
	if n := rawNames(t, dir); len(n) != 0 {
		t.Fatalf("landed on the empty mount point: %q", n)
	}
	if _, err := l.Create(ctx, "shoot/b.jpg", 1); !bad(err) {
		t.Fatalf("Create after unplug: %v", err)
	}
	if _, err := local.Attach(dir, targetID); !errors.Is(err, store.ErrNotAttached) {
		t.Fatalf("Attach after unplug: %v", err)
	}
}

func TestStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	l := attach(t, dir)
	for _, d := range []string{"shoot", "other"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
		if err := os.WriteFile(filepath.Join(dir, d, ".x.jpg.trove-tmp-deadbeef"), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := storetest.List(t, l, ""); len(got) != 0 {
		t.Fatalf("Walk shows temporaries: %q", got)
	}
	storetest.Put(t, l, "shoot/y.jpg", []byte("y"))
	if _, err := os.Stat(filepath.Join(dir, "shoot", ".x.jpg.trove-tmp-deadbeef")); !os.IsNotExist(err) {
		t.Fatalf("stale temporary not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other", ".x.jpg.trove-tmp-deadbeef")); err != nil {
		t.Fatalf("temporary in an untouched folder removed: %v", err)
	}
}

func TestSymlinkEscape(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	l := attach(t, dir)
	if err := os.Symlink(outside, filepath.Join(dir, "evil")); err != nil {
		t.Fatal(err)
	}
	if _, err := storetest.TryPut(context.Background(), l, "evil/x.jpg", []byte("x")); err == nil {
		t.Fatal("wrote through a symlink leading out of the root")
	}
	if n := rawNames(t, outside); len(n) != 0 {
		t.Fatalf("files outside the root: %q", n)
	}
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644)
	if _, err := l.Open(context.Background(), "evil/secret"); err == nil {
		t.Fatal("read through a symlink leading out of the root")
	}
}

func TestFaultWrappers(t *testing.T) {
	ctx := context.Background()
	l := attach(t, t.TempDir())
	data := bytes.Repeat([]byte("photo"), 1000)

	_, err := storetest.TryPut(ctx, storetest.FlipByte(l, 1234), "flip.jpg", data)
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("flipped byte: %v, want ErrCorrupt", err)
	}
	s := storetest.FailAfter(l, 2, io.ErrUnexpectedEOF)
	w, err := s.Create(ctx, "fail.jpg", 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:5]); err != nil {
		t.Fatalf("first write: %v", err)
	}
	if _, err := w.Write(data[:5]); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("second write: %v, want the injected error", err)
	}
	w.Abort()
	_, err = storetest.TryPut(ctx, storetest.Full(l, 100), "full.jpg", data)
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("Full: %v, want ErrFull", err)
	}
	if got := storetest.List(t, l, ""); len(got) != 0 {
		t.Fatalf("visible after injected faults: %q", got)
	}
	if n := rawNames(t, l.Root()); len(n) != 0 {
		t.Fatalf("left on disk after injected faults: %q", n)
	}
}

func TestExFAT(t *testing.T) {
	dir := testenv.MountExFAT(t, 64<<20)
	l := attach(t, dir)
	c := l.Caps()
	t.Logf("caps %+v", c)
	if !c.RestrictedNames || !c.CaseInsensitive || !strings.Contains(c.FSType, "exfat") || c.MaxFileSize != 0 {
		t.Fatalf("exFAT caps = %+v", c)
	}
	ctx := context.Background()
	r := storetest.Put(t, l, "t/12:30:00.jpg", []byte("x"))
	if r.Stored != "t/12\uFF1A30\uFF1A00.jpg" {
		t.Fatalf("stored as %q", r.Stored)
	}
	if _, err := os.Stat(filepath.Join(dir, "t", "12\uFF1A30\uFF1A00.jpg")); err != nil {
		t.Fatalf("mapped file not on the disk: %v", err)
	}
	var infos []store.Info
	l.Walk(ctx, "t/", func(i store.Info) error { infos = append(infos, i); return nil })
	if len(infos) != 1 || infos[0].Name != "t/12:30:00.jpg" || infos[0].Stored != r.Stored {
		t.Fatalf("walk = %+v", infos)
	}
	storetest.Put(t, l, "case/a.jpg", []byte("lower"))
	_, err := storetest.TryPut(ctx, l, "case/A.jpg", []byte("upper"))
	if !errors.Is(err, store.ErrExist) {
		t.Fatalf("A.jpg after a.jpg: %v, want ErrExist", err)
	}
	if string(storetest.Get(t, l, "case/a.jpg")) != "lower" {
		t.Fatal("a.jpg replaced")
	}
	// One folder under two spellings: creating in the second must not
	// remove the first writer's live temporary as stale.
	w, err := l.Create(ctx, "Shoot/1.jpg", 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("1"))
	storetest.Put(t, l, "shoot/2.jpg", []byte("2"))
	if _, err := w.Commit(ctx, storetest.Sum([]byte("1"))); err != nil {
		t.Fatalf("commit in the other spelling of the folder: %v", err)
	}
	_, err = l.Create(ctx, "t/already\uFF1Amapped.jpg", 1)
	if !errors.Is(err, store.ErrBadName) {
		t.Fatalf("ambiguous name: %v, want ErrBadName", err)
	}
}

func TestVFAT(t *testing.T) {
	dir := testenv.MountVFAT(t, 64<<20)
	l := attach(t, dir)
	c := l.Caps()
	t.Logf("caps %+v", c)
	if c.MaxFileSize != 1<<32-1 || !c.RestrictedNames || !c.CaseInsensitive {
		t.Fatalf("FAT32 caps = %+v", c)
	}
	_, err := l.Create(context.Background(), "video/long.mp4", 5<<30)
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Create 5 GiB: %v, want ErrTooLarge", err)
	}
	if n := rawNames(t, dir); len(n) != 0 {
		t.Fatalf("left on disk: %q", n)
	}
	storetest.Put(t, l, "ok/IMG_0001.JPG", []byte("fits"))
}
