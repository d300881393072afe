package vault_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/storetest"
	"github.com/trove-backup/trove/internal/store/vault"
)

// indexBlobs counts the Puts of index objects, can make each of them
// slow (a cloud round trip), and can fail the failAt-th one.
type indexBlobs struct {
	vault.Blobs
	delay  time.Duration
	puts   atomic.Int64
	failAt atomic.Int64 // 1-based index Put to fail; 0: none
}

func (b *indexBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if !strings.HasPrefix(key, "index/") {
		return b.Blobs.Put(ctx, key, r, size)
	}
	n := b.puts.Add(1)
	if b.delay > 0 {
		select {
		case <-time.After(b.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if n == b.failAt.Load() {
		io.CopyN(io.Discard, r, size/2)
		return errors.New("connection reset by peer")
	}
	return b.Blobs.Put(ctx, key, r, size)
}

func groupContent(i int) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "photo %d ", i), 200+i)
}

// commitAll writes n objects, then commits them all at once; it returns
// each commit's error.
func commitAll(t *testing.T, v *vault.Vault, names []string) []error {
	t.Helper()
	ctx := context.Background()
	ws := make([]store.Writer, len(names))
	sums := make([]digest.Sum, len(names))
	for i, n := range names {
		data := groupContent(i)
		w, err := v.Create(ctx, n, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		ws[i], sums[i] = w, digest.Sum(sha256.Sum256(data))
	}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range names {
		wg.Go(func() {
			<-start
			_, errs[i] = ws[i].Commit(ctx, sums[i])
			ws[i].Abort()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func groupNames(n int, prefix string) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s/IMG_%04d.JPG", prefix, i)
	}
	return names
}

func reattach(t *testing.T, b vault.Blobs, opt vault.Options) *vault.Vault {
	t.Helper()
	opt.TempDir = t.TempDir()
	v, err := vault.Attach(context.Background(), b, pass, opt)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGroupCommitSharesIndexObjects(t *testing.T) {
	for _, compact := range []int{0, 3} {
		t.Run(fmt.Sprintf("CompactAfter=%d", compact), func(t *testing.T) {
			b := &indexBlobs{Blobs: vault.DirBlobs{Dir: t.TempDir()}, delay: 20 * time.Millisecond}
			if err := vault.Init(context.Background(), b, pass, fast); err != nil {
				t.Fatal(err)
			}
			opt := vault.Options{CompactAfter: compact}
			v := reattach(t, b, opt)
			names := groupNames(16, "2024/shoot")
			for i, err := range commitAll(t, v, names) {
				if err != nil {
					t.Fatalf("commit %s: %v", names[i], err)
				}
			}
			puts := b.puts.Load()
			t.Logf("16 concurrent commits wrote %d index objects (logs and snapshots)", puts)
			if puts >= 16 {
				t.Fatalf("16 concurrent commits wrote %d index objects, want fewer than 16", puts)
			}
			for _, v := range []*vault.Vault{v, reattach(t, b, opt)} {
				for i, n := range names {
					if got := storetest.Get(t, v, n); !bytes.Equal(got, groupContent(i)) {
						t.Fatalf("%s: wrong content after group commit", n)
					}
				}
			}
		})
	}
}

func TestGroupCommitFailedWriteFailsTheBatch(t *testing.T) {
	b := &indexBlobs{Blobs: vault.DirBlobs{Dir: t.TempDir()}, delay: 100 * time.Millisecond}
	if err := vault.Init(context.Background(), b, pass, fast); err != nil {
		t.Fatal(err)
	}
	v := reattach(t, b, vault.Options{})
	// The first commit's index write takes 100 ms; the seven others queue
	// behind it and share the second write, which fails.
	b.failAt.Store(2)
	names := groupNames(8, "2024/fail")
	errs := commitAll(t, v, names)
	var failed, ok []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, names[i])
		} else {
			ok = append(ok, names[i])
		}
	}
	t.Logf("%d commits failed with one index write (%d index Puts): %v", len(failed), b.puts.Load(), errs)
	if len(failed) < 2 || len(ok) < 1 {
		t.Fatalf("%d failed, %d succeeded; want the first alone to succeed and a failed batch of several", len(failed), len(ok))
	}
	if b.puts.Load() != 2 {
		t.Fatalf("%d index Puts, want 2 (one ok, one failed batch)", b.puts.Load())
	}
	for _, vv := range []*vault.Vault{v, reattach(t, b, vault.Options{})} {
		for _, n := range failed {
			if _, err := vv.Stat(context.Background(), n); !errors.Is(err, store.ErrNotExist) {
				t.Fatalf("%s: failed commit is in the index: %v", n, err)
			}
		}
		for _, n := range ok {
			if _, err := vv.Stat(context.Background(), n); err != nil {
				t.Fatalf("%s: successful commit missing: %v", n, err)
			}
		}
	}
	// A retry of the failed commits succeeds.
	for i, err := range commitAll(t, v, failed) {
		if err != nil {
			t.Fatalf("retry %s: %v", failed[i], err)
		}
	}
	v2 := reattach(t, b, vault.Options{})
	for _, n := range names {
		if _, err := v2.Stat(context.Background(), n); err != nil {
			t.Fatalf("%s after retry: %v", n, err)
		}
	}
}

func TestSequentialCommitsOneIndexObjectEach(t *testing.T) {
	b := &indexBlobs{Blobs: vault.DirBlobs{Dir: t.TempDir()}}
	v := newVault(t, b)
	for i, n := range groupNames(5, "seq") {
		before := b.puts.Load()
		storetest.Put(t, v, n, groupContent(i))
		if got := b.puts.Load() - before; got != 1 {
			t.Fatalf("commit %d wrote %d index objects, want 1", i, got)
		}
	}
}

// Other index writers (Rename, Remove) run between batches, never inside.
func TestGroupCommitWithConcurrentRenames(t *testing.T) {
	ctx := context.Background()
	b := &indexBlobs{Blobs: vault.DirBlobs{Dir: t.TempDir()}, delay: 5 * time.Millisecond}
	v := newVault(t, b)
	olds := groupNames(8, "old")
	for i, n := range olds {
		storetest.Put(t, v, n, groupContent(100+i))
	}
	var wg sync.WaitGroup
	renErr := make([]error, len(olds))
	for i, n := range olds {
		wg.Go(func() { renErr[i] = v.Rename(ctx, n, "moved/"+n) })
	}
	names := groupNames(8, "new")
	errs := commitAll(t, v, names)
	wg.Wait()
	for i := range names {
		if errs[i] != nil || renErr[i] != nil {
			t.Fatalf("commit %v, rename %v", errs[i], renErr[i])
		}
	}
	v2 := reattach(t, b, vault.Options{})
	for i, n := range olds {
		if got := storetest.Get(t, v2, "moved/"+n); !bytes.Equal(got, groupContent(100+i)) {
			t.Fatalf("moved/%s: wrong content", n)
		}
	}
	for i, n := range names {
		if got := storetest.Get(t, v2, n); !bytes.Equal(got, groupContent(i)) {
			t.Fatalf("%s: wrong content", n)
		}
	}
}

// A commit cancelled while its record waits for the write in flight fails
// and is not recorded; the commit writing meanwhile is not disturbed.
func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	ctx := context.Background()
	b := &indexBlobs{Blobs: vault.DirBlobs{Dir: t.TempDir()}, delay: 150 * time.Millisecond}
	v := newVault(t, b)
	put := func(ctx context.Context, name string, data []byte) error {
		w, err := v.Create(ctx, name, int64(len(data)))
		if err != nil {
			return err
		}
		defer w.Abort()
		if _, err := w.Write(data); err != nil {
			return err
		}
		_, err = w.Commit(ctx, digest.Sum(sha256.Sum256(data)))
		return err
	}
	first := make(chan error, 1)
	go func() { first <- put(ctx, "a.jpg", groupContent(1)) }()
	time.Sleep(30 * time.Millisecond) // a.jpg's index write is in flight
	cctx, cancel := context.WithCancel(ctx)
	second := make(chan error, 1)
	go func() { second <- put(cctx, "b.jpg", groupContent(2)) }()
	time.Sleep(50 * time.Millisecond) // b.jpg is queued behind it
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled queued commit: %v, want context.Canceled", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("commit in flight: %v", err)
	}
	v2 := reattach(t, b, vault.Options{})
	if _, err := v2.Stat(ctx, "b.jpg"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("cancelled commit is in the index: %v", err)
	}
	if got := storetest.Get(t, v2, "a.jpg"); !bytes.Equal(got, groupContent(1)) {
		t.Fatal("a.jpg: wrong content")
	}
	if err := put(ctx, "b.jpg", groupContent(2)); err != nil {
		t.Fatalf("retry: %v", err)
	}
}
