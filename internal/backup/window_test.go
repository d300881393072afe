package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
)

// windowSetup makes a catalog, a library of n files and an empty folder
// target, and returns the options for a run (clock still to be set).
func windowSetup(t *testing.T, n int) (Options, *local.Local) {
	t.Helper()
	dir := t.TempDir()
	cat, err := catalog.Open(filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	libDir, tgtDir := filepath.Join(dir, "lib"), filepath.Join(dir, "tgt")
	for _, d := range []string{libDir, tgtDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		p := filepath.Join(libDir, "2024", "2024-06-01 Smith Wedding", fmt.Sprintf("IMG_%04d.JPG", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 1000+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	lib := catalog.Target{ID: "lib", Name: catalog.LibraryName, Kind: catalog.KindLibrary, Path: libDir, Medium: "ssd", Location: "home", CreatedAt: now}
	tgt := catalog.Target{ID: "tgt", Name: "offsite", Kind: catalog.KindFolder, Path: tgtDir, Medium: "hdd", Location: "bank", CreatedAt: now}
	var stores []*local.Local
	for _, ct := range []catalog.Target{lib, tgt} {
		if err := cat.AddTarget(ct); err != nil {
			t.Fatal(err)
		}
		if _, err := local.Prepare(ct.Path, local.Identity{Format: 1, TargetID: ct.ID, Name: ct.Name, LibraryID: "L", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		l, err := local.Attach(ct.Path, ct.ID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		stores = append(stores, l)
	}
	return Options{Catalog: cat, Library: Dest{Target: lib, Store: stores[0]}, LibraryDir: libDir,
		Targets: []Dest{{Target: tgt, Store: stores[1]}}, InFlight: 1}, stores[1]
}

// fakeClock advances by step on every reading.
type fakeClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func TestUntilPausesAndNextRunContinues(t *testing.T) {
	const files = 12
	o, tgt := windowSetup(t, files)
	clock := &fakeClock{t: time.Date(2024, 6, 2, 5, 0, 0, 0, time.UTC)}
	o.Now = clock.now
	// Each file takes a minute to send (the clock moves when a file
	// starts); the window closes after five and a half.
	o.Targets[0].Until = clock.t.Add(330 * time.Second)
	o.Targets[0].Pace = func(_ context.Context, r io.Reader) io.Reader {
		clock.mu.Lock()
		clock.t = clock.t.Add(time.Minute)
		clock.mu.Unlock()
		return r
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Targets[0]
	if tr.Status != StatusPaused || tr.Copied < 5 || tr.Copied > 6 || tr.Copied+tr.Pending != files {
		t.Fatalf("want paused with some copied and the rest pending, got %+v (problems %v)", tr, res.Problems)
	}
	if !res.OK() || len(res.Problems) > 0 {
		t.Fatalf("a paused target is not a failure: ok=%v problems=%v", res.OK(), res.Problems)
	}
	onTarget := 0
	err = tgt.Walk(context.Background(), "2024/", func(store.Info) error {
		onTarget++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if onTarget != tr.Copied {
		t.Fatalf("%d files on the target, %d recorded copied: a half copy or an unrecorded one", onTarget, tr.Copied)
	}

	// Already closed: nothing starts.
	o.Targets[0].Until = clock.now().Add(-time.Minute)
	o.Targets[0].Pace = nil
	res, err = Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Targets[0]; got.Status != StatusPaused || got.Copied != 0 || got.Pending != tr.Pending {
		t.Fatalf("closed window: want paused, nothing copied, %d pending; got %+v", tr.Pending, got)
	}

	// Next night, no end: it continues where it stopped.
	o.Targets[0].Until = time.Time{}
	var paced int64
	var mu sync.Mutex
	o.Targets[0].Pace = func(_ context.Context, r io.Reader) io.Reader {
		return countingReader{r: r, n: &paced, mu: &mu}
	}
	res, err = Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Targets[0]; got.Status != StatusDone || got.Copied != tr.Pending {
		t.Fatalf("want the %d remaining files copied, got %+v", tr.Pending, got)
	}
	if paced != res.Targets[0].Bytes {
		t.Fatalf("the pacer saw %d bytes, %d were sent", paced, res.Targets[0].Bytes)
	}
}

type countingReader struct {
	r  io.Reader
	n  *int64
	mu *sync.Mutex
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.mu.Lock()
	*c.n += int64(k)
	c.mu.Unlock()
	return k, err
}
