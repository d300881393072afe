// Package storetest is the conformance suite every store.Store runs, plus
// fault-injecting wrappers (FailAfter, FlipByte, Full) for other packages'
// tests.
//
// A store passes when, for each subtest of Run, a fresh empty store behaves
// as the store contract says: nothing is visible before Commit succeeds,
// nothing is overwritten, corrupt or aborted writes leave nothing behind,
// and Walk lists library names in byte order.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
)

// Options adapt the suite to a store's documented limits.
type Options struct {
	// ASCIINamesOnly says the store cannot hold names outside ASCII (the
	// fusefat driver, and so mapped names like "12：00" too). Names then
	// checks that such names fail cleanly (an error, nothing visible)
	// instead of round-tripping.
	ASCIINamesOnly bool
}

// Run runs the conformance suite. newStore must return a fresh, empty store
// for each subtest (cleaned up through t).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	RunWith(t, newStore, Options{})
}

// RunWith is Run with options.
func RunWith(t *testing.T, newStore func(t *testing.T) store.Store, opt Options) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"NoOverwrite", testNoOverwrite},
		{"CorruptRefused", testCorruptRefused},
		{"AbortLeavesNothing", testAbort},
		{"CancelMidWrite", testCancel},
		{"StatMissing", testStatMissing},
		{"WalkOrderAndPrefix", testWalk},
		{"ZeroByte", testZeroByte},
		{"LargeStreamed", testLarge},
		{"Names", func(t *testing.T, s store.Store) { testNames(t, s, opt) }},
		{"BadNames", testBadNames},
		{"Concurrent", testConcurrent},
		{"RenameNoReplace", testRename},
		{"Remove", testRemove},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// Sum returns the digest of b.
func Sum(b []byte) digest.Sum {
	h := digest.New()
	h.Write(b)
	return h.Sum()
}

// Put writes data under name and commits it, failing the test on error.
func Put(t testing.TB, s store.Store, name string, data []byte) store.Receipt {
	t.Helper()
	r, err := TryPut(context.Background(), s, name, data)
	if err != nil {
		t.Fatalf("put %q: %v", name, err)
	}
	return r
}

// TryPut writes data under name and commits it with data's digest,
// aborting on any error.
func TryPut(ctx context.Context, s store.Store, name string, data []byte) (store.Receipt, error) {
	w, err := s.Create(ctx, name, int64(len(data)))
	if err != nil {
		return store.Receipt{}, err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return store.Receipt{}, err
	}
	r, err := w.Commit(ctx, Sum(data))
	if err != nil {
		w.Abort()
	}
	return r, err
}

// Get reads name whole, failing the test on error.
func Get(t testing.TB, s store.Store, name string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("open %q: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	return b
}

// List returns the library names Walk reports below prefix, in its order.
func List(t testing.TB, s store.Store, prefix string) []string {
	t.Helper()
	var names []string
	err := s.Walk(context.Background(), prefix, func(i store.Info) error {
		names = append(names, i.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %q: %v", prefix, err)
	}
	return names
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func wantList(t *testing.T, s store.Store, prefix string, want []string) {
	t.Helper()
	got := List(t, s, prefix)
	if !slices.Equal(got, want) {
		t.Fatalf("Walk(%q) = %q, want %q", prefix, got, want)
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	data := []byte("raw photo bytes\x00\xff")
	r := Put(t, s, "2024/2024-06-01 Smith Wedding/IMG_0001.CR3", data)
	if r.Sum != Sum(data) || r.Size != int64(len(data)) || r.Stored == "" || r.VerifiedAt.IsZero() {
		t.Fatalf("receipt = %+v, want sum %s size %d, a stored name and a time", r, Sum(data), len(data))
	}
	if got := Get(t, s, "2024/2024-06-01 Smith Wedding/IMG_0001.CR3"); !bytes.Equal(got, data) {
		t.Fatalf("read back %q, want %q", got, data)
	}
	info, err := s.Stat(context.Background(), "2024/2024-06-01 Smith Wedding/IMG_0001.CR3")
	if err != nil || info.Size != int64(len(data)) || info.Stored != r.Stored || info.Name != "2024/2024-06-01 Smith Wedding/IMG_0001.CR3" {
		t.Fatalf("stat = %+v, %v", info, err)
	}
	wantList(t, s, "", []string{"2024/2024-06-01 Smith Wedding/IMG_0001.CR3"})
}

func testNoOverwrite(t *testing.T, s store.Store) {
	Put(t, s, "a/x.jpg", []byte("first"))
	_, err := TryPut(context.Background(), s, "a/x.jpg", []byte("second, longer"))
	wantErr(t, "commit over a taken name", err, store.ErrExist)
	if got := Get(t, s, "a/x.jpg"); string(got) != "first" {
		t.Fatalf("old content replaced: %q", got)
	}
	wantList(t, s, "", []string{"a/x.jpg"})
}

func testCorruptRefused(t *testing.T, s store.Store) {
	ctx := context.Background()
	w, err := s.Create(ctx, "bad/x.jpg", 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(ctx, Sum([]byte("HELLO")))
	wantErr(t, "commit with a wrong hash", err, store.ErrCorrupt)
	if err := w.Abort(); err != nil {
		t.Fatalf("abort after failed commit: %v", err)
	}
	_, err = s.Stat(ctx, "bad/x.jpg")
	wantErr(t, "stat after corrupt commit", err, store.ErrNotExist)
	wantList(t, s, "", nil)
}

func testAbort(t *testing.T, s store.Store) {
	ctx := context.Background()
	w, err := s.Create(ctx, "d/aborted.jpg", 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("second abort: %v", err)
	}
	if _, err := w.Commit(ctx, Sum([]byte("abc"))); err == nil {
		t.Fatal("commit after abort succeeded")
	}
	wantList(t, s, "", nil)
	// Abort after a successful Commit keeps the object.
	w, err = s.Create(ctx, "d/kept.jpg", 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("k"))
	if _, err := w.Commit(ctx, Sum([]byte("k"))); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("abort after commit: %v", err)
	}
	wantList(t, s, "", []string{"d/kept.jpg"})
}

func testCancel(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := s.Create(ctx, "c/cancel.jpg", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{7}, 64<<10)
	if _, err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, werr := w.Write(chunk)
	_, cerr := w.Commit(ctx, Sum(chunk))
	if cerr == nil {
		t.Fatal("commit after cancel succeeded")
	}
	if !errors.Is(werr, context.Canceled) && !errors.Is(cerr, context.Canceled) {
		t.Fatalf("write %v, commit %v: want context.Canceled from one of them", werr, cerr)
	}
	w.Abort()
	wantList(t, s, "", nil)
}

func testStatMissing(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.Stat(ctx, "no/such.jpg")
	wantErr(t, "stat", err, store.ErrNotExist)
	_, err = s.Open(ctx, "no/such.jpg")
	wantErr(t, "open", err, store.ErrNotExist)
	err = s.Remove(ctx, "no/such.jpg")
	wantErr(t, "remove", err, store.ErrNotExist)
	Put(t, s, "dir/file.jpg", []byte("x"))
	_, err = s.Stat(ctx, "dir")
	wantErr(t, "stat of a directory", err, store.ErrNotExist)
}

func testWalk(t *testing.T, s store.Store) {
	names := []string{"b.jpg", "a/z.jpg", "a.b", "a/b/c.jpg", "ab", "a/c.jpg", "a-b/x", "B2/upper.jpg"}
	for i, n := range names {
		Put(t, s, n, []byte{byte(i)})
	}
	all := slices.Clone(names)
	slices.Sort(all)
	wantList(t, s, "", all)
	wantList(t, s, "a/", []string{"a/b/c.jpg", "a/c.jpg", "a/z.jpg"})
	wantList(t, s, "a/b", []string{"a/b/c.jpg"})
	wantList(t, s, "a", []string{"a-b/x", "a.b", "a/b/c.jpg", "a/c.jpg", "a/z.jpg", "ab"})
	wantList(t, s, "zz", nil)
	wantList(t, s, "no/such/dir/", nil)
	stop := errors.New("stop")
	n := 0
	err := s.Walk(context.Background(), "", func(store.Info) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("walk with fn error: %v after %d calls, want stop after 1", err, n)
	}
	var sizes []int64
	s.Walk(context.Background(), "b", func(i store.Info) error { sizes = append(sizes, i.Size); return nil })
	if !slices.Equal(sizes, []int64{1}) {
		t.Fatalf("sizes = %v", sizes)
	}
}

func testZeroByte(t *testing.T, s store.Store) {
	r := Put(t, s, "empty.xmp", nil)
	if r.Size != 0 || r.Sum != Sum(nil) {
		t.Fatalf("receipt %+v", r)
	}
	if got := Get(t, s, "empty.xmp"); len(got) != 0 {
		t.Fatalf("read %d bytes", len(got))
	}
	if i, err := s.Stat(context.Background(), "empty.xmp"); err != nil || i.Size != 0 {
		t.Fatalf("stat %+v %v", i, err)
	}
}

func testLarge(t *testing.T, s store.Store) {
	const size = 20 << 20
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	h := digest.New()
	w, err := s.Create(ctx, "video/large.mp4", size)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for left := size; left > 0; {
		n := min(left, 1000+rng.IntN(len(buf)-1000))
		for i := range buf[:n] {
			buf[i] = byte(rng.Uint32())
		}
		h.Write(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			w.Abort()
			t.Fatal(err)
		}
		left -= n
	}
	r, err := w.Commit(ctx, h.Sum())
	if err != nil {
		t.Fatal(err)
	}
	if r.Size != size || r.Sum != h.Sum() {
		t.Fatalf("receipt %+v", r)
	}
	rc, err := s.Open(ctx, "video/large.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sum, n, err := digest.Reader(rc, nil)
	if err != nil || n != size || sum != h.Sum() {
		t.Fatalf("read back %d bytes %s %v, want %d %s", n, sum, err, size, h.Sum())
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func testNames(t *testing.T, s store.Store, opt Options) {
	ctx := context.Background()
	names := []string{
		"with space/file name.jpg",
		"Ünïcödé Wedding/Café.jpg",
		"times/12:30:00.jpg",
		"what?/why?.jpg",
		`odd/a*b"c<d>e|f\g.jpg`,
		"trail/dot.",
		"trail/space ",
		"trail/dir./x.jpg",
		"日本語/写真.jpg",
	}
	var stored []string
	for i, n := range names {
		data := fmt.Appendf(nil, "content %d", i)
		// Characters a restricted store maps end up outside ASCII.
		mapped := strings.ContainsAny(n, ":?*\"<>|\\") || strings.HasSuffix(n, ".") || strings.HasSuffix(n, " ") || strings.Contains(n, "./")
		if opt.ASCIINamesOnly && (!isASCII(n) || mapped) {
			if _, err := TryPut(ctx, s, n, data); err != nil {
				t.Logf("%q refused as documented: %v", n, err)
				continue
			}
		} else if _, err := TryPut(ctx, s, n, data); err != nil {
			t.Fatalf("put %q: %v", n, err)
		}
		if got := Get(t, s, n); !bytes.Equal(got, data) {
			t.Fatalf("%q read back %q", n, got)
		}
		stored = append(stored, n)
	}
	slices.Sort(stored)
	wantList(t, s, "", stored)

	// NFC and NFD spellings of one name: distinct objects where the store
	// preserves bytes; a normalising store must refuse the second (ErrExist).
	if opt.ASCIINamesOnly {
		return
	}
	nfc, nfd := "norm/e\u00e9.jpg", "norm/ee\u0301.jpg"
	Put(t, s, nfc, []byte("nfc"))
	_, err := TryPut(ctx, s, nfd, []byte("nfd"))
	switch {
	case errors.Is(err, store.ErrExist):
		t.Logf("store normalises Unicode: NFD name maps to the NFC object")
		if string(Get(t, s, nfc)) != "nfc" {
			t.Fatal("NFC object changed")
		}
	case err != nil:
		t.Fatalf("put NFD name: %v", err)
	default:
		if string(Get(t, s, nfc)) != "nfc" || string(Get(t, s, nfd)) != "nfd" {
			t.Fatal("NFC and NFD objects mixed up")
		}
		wantList(t, s, "norm/", []string{nfd, nfc})
	}
}

func testBadNames(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, n := range []string{"", "../x", "/abs", "a//b", "a/../../b", "./a", "a/.", "a/", "x\x00y", ".trove/target.json"} {
		_, err := s.Create(ctx, n, 1)
		wantErr(t, fmt.Sprintf("Create(%q)", n), err, store.ErrBadName)
		_, err = s.Stat(ctx, n)
		wantErr(t, fmt.Sprintf("Stat(%q)", n), err, store.ErrBadName)
		_, err = s.Open(ctx, n)
		wantErr(t, fmt.Sprintf("Open(%q)", n), err, store.ErrBadName)
		err = s.Remove(ctx, n)
		wantErr(t, fmt.Sprintf("Remove(%q)", n), err, store.ErrBadName)
	}
	Put(t, s, "ok.jpg", []byte("x"))
	err := s.Rename(ctx, "ok.jpg", "../escaped.jpg")
	wantErr(t, "Rename to ../escaped.jpg", err, store.ErrBadName)
	wantList(t, s, "", []string{"ok.jpg"})
}

func testConcurrent(t *testing.T, s store.Store) {
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	var want []string
	for g := range workers {
		for i := range each {
			want = append(want, fmt.Sprintf("shoot/g%d-%02d.jpg", g, i))
		}
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("shoot/g%d-%02d.jpg", g, i)
				data := bytes.Repeat([]byte{byte(g), byte(i)}, 10_000+g*100+i)
				if _, err := TryPut(context.Background(), s, name, data); err != nil {
					errs <- fmt.Errorf("put %s: %w", name, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	slices.Sort(want)
	wantList(t, s, "", want)
}

func testRename(t *testing.T, s store.Store) {
	ctx := context.Background()
	Put(t, s, "r/a.jpg", []byte("a"))
	Put(t, s, "r/b.jpg", []byte("b"))
	wantErr(t, "rename onto a taken name", s.Rename(ctx, "r/a.jpg", "r/b.jpg"), store.ErrExist)
	if string(Get(t, s, "r/a.jpg")) != "a" || string(Get(t, s, "r/b.jpg")) != "b" {
		t.Fatal("rename onto a taken name changed content")
	}
	if err := s.Rename(ctx, "r/a.jpg", "moved/deep/a.jpg"); err != nil {
		t.Fatal(err)
	}
	if string(Get(t, s, "moved/deep/a.jpg")) != "a" {
		t.Fatal("moved content wrong")
	}
	_, err := s.Stat(ctx, "r/a.jpg")
	wantErr(t, "stat of the old name", err, store.ErrNotExist)
	wantErr(t, "rename of a missing object", s.Rename(ctx, "r/none.jpg", "r/c.jpg"), store.ErrNotExist)
	wantList(t, s, "", []string{"moved/deep/a.jpg", "r/b.jpg"})
}

func testRemove(t *testing.T, s store.Store) {
	ctx := context.Background()
	Put(t, s, "rm/x.jpg", []byte("x"))
	Put(t, s, "rm/y.jpg", []byte("y"))
	if err := s.Remove(ctx, "rm/x.jpg"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Stat(ctx, "rm/x.jpg")
	wantErr(t, "stat after remove", err, store.ErrNotExist)
	wantErr(t, "second remove", s.Remove(ctx, "rm/x.jpg"), store.ErrNotExist)
	wantErr(t, "remove of a directory", s.Remove(ctx, "rm"), store.ErrNotExist)
	wantList(t, s, "", []string{"rm/y.jpg"})
}
