package backup

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mrand "math/rand/v2"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
)

// slowStore is a folder target whose writers sleep after every chunk: a
// slow uplink.
type slowStore struct {
	*local.Local
	delay   time.Duration
	written atomic.Int64
}

func (s *slowStore) Create(ctx context.Context, name string, size int64) (store.Writer, error) {
	w, err := s.Local.Create(ctx, name, size)
	if err != nil {
		return nil, err
	}
	return &slowWriter{Writer: w, s: s}, nil
}

type slowWriter struct {
	store.Writer
	s *slowStore
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.s.delay)
	n, err := w.Writer.Write(p)
	w.s.written.Add(int64(n))
	return n, err
}

// TestWindowClosesMidFile: a large file is still being sent when the
// upload window closes. The copy stops there, not at the file's end: the
// target ends paused, nothing is counted or reported as failed, no
// temporary stays on the folder target, and the next run copies the file.
func TestWindowClosesMidFile(t *testing.T) {
	o, tgt := windowSetup(t, 0)
	const size = 8 << 20
	data := make([]byte, size)
	mrand.NewChaCha8([32]byte{1}).Read(data)
	p := filepath.Join(o.LibraryDir, "2024", "2024-06-01 Smith Wedding", "clip.mov")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	slow := &slowStore{Local: tgt, delay: 20 * time.Millisecond}
	o.Targets[0].Store = slow
	o.BufferSize = 64 << 10 // 128 chunks: 2.5 s at full length
	o.Targets[0].Until = time.Now().Add(400 * time.Millisecond)

	start := time.Now()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	tr := res.Targets[0]
	t.Logf("window closed after %v with %d of %d bytes sent: %+v", took, slow.written.Load(), size, tr)
	if tr.Status != StatusPaused || tr.Reason != "the upload window closed" || tr.Copied != 0 || tr.Failed != 0 || tr.Pending != 1 {
		t.Fatalf("want paused, nothing copied or failed, 1 pending; got %+v (problems %v)", tr, res.Problems)
	}
	if !res.OK() || len(res.Problems) > 0 {
		t.Fatalf("a window closing mid-file is not a failure: ok=%v problems=%v", res.OK(), res.Problems)
	}
	if w := slow.written.Load(); w == 0 || w >= size {
		t.Fatalf("%d of %d bytes written: the window did not close mid-file", w, size)
	}
	if took > 2*time.Second {
		t.Fatalf("the run took %v: the copy ran past the window", took)
	}
	if cp, err := o.Catalog.CopyOf(fileID(t, o, "2024/2024-06-01 Smith Wedding/clip.mov"), "tgt"); err == nil {
		t.Fatalf("a half copy was recorded: %+v", cp)
	}
	err = filepath.WalkDir(o.Targets[0].Target.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && (strings.Contains(d.Name(), store.TempMarker) || d.Name() == "clip.mov") {
			t.Errorf("left on the target: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The next night the window is open long enough: the file is copied.
	o.Targets[0].Until = time.Now().Add(time.Hour)
	slow.delay = 0
	res, err = Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Targets[0]; got.Status != StatusDone || got.Copied != 1 || got.Bytes != size || !res.OK() {
		t.Fatalf("next run: %+v (problems %v)", got, res.Problems)
	}
	got, err := os.ReadFile(filepath.Join(o.Targets[0].Target.Path, "2024", "2024-06-01 Smith Wedding", "clip.mov"))
	if err != nil || string(got) != string(data) {
		t.Fatalf("copy on the target: %d bytes, %v", len(got), err)
	}
}

// fileID returns the catalog id of a library file.
func fileID(t *testing.T, o Options, name string) int64 {
	t.Helper()
	f, err := o.Catalog.FileByPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return f.ID
}
