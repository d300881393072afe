package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
	"github.com/trove-backup/trove/internal/store/storetest"
)

// The fakes below stand in for the vault (store.ServerChecker) and the
// SFTP store (store.RemoteHasher) over a real folder store: the "service's
// checksum" of an object is the SHA-256 of the file in the folder now, and
// the recorded one is what was current when it was "uploaded" or proven.

// countingStore is a folder store that records every Stat and Open.
type countingStore struct {
	store.Store
	dir   string
	mu    sync.Mutex
	reads []string // names Stat or Open was called for
}

func (c *countingStore) Stat(ctx context.Context, name string) (store.Info, error) {
	c.mu.Lock()
	c.reads = append(c.reads, name)
	c.mu.Unlock()
	return c.Store.Stat(ctx, name)
}

func (c *countingStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.reads = append(c.reads, name)
	c.mu.Unlock()
	return c.Store.Open(ctx, name)
}

// touched returns the distinct names read, sorted.
func (c *countingStore) touched() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.reads)
	slices.Sort(out)
	return slices.Compact(out)
}

// serverSum is the fake service's checksum: the file's hash as it is now.
func (c *countingStore) serverSum(name string) (digest.Sum, int64, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, filepath.FromSlash(name)))
	if errors.Is(err, os.ErrNotExist) {
		return digest.Sum{}, 0, fmt.Errorf("%s: %w", name, store.ErrNotExist)
	}
	if err != nil {
		return digest.Sum{}, 0, err
	}
	return storetest.Sum(b), int64(len(b)), nil
}

// checkerStore is a store.ServerChecker.
type checkerStore struct {
	*countingStore
	recorded map[string]digest.Sum // name -> checksum recorded at upload or RecordProven
	err      error                 // returned by ServerCheck after no finding
	proven   [][]string            // each RecordProven call's names
}

var _ store.ServerChecker = (*checkerStore)(nil)

func (c *checkerStore) ServerCheck(ctx context.Context, names []string, fn func(store.ServerFinding) error) error {
	if c.err != nil {
		return c.err
	}
	for _, n := range names {
		f := store.ServerFinding{Name: n}
		sum, size, err := c.serverSum(n)
		rec, known := c.recorded[n]
		switch {
		case errors.Is(err, store.ErrNotExist):
			f.State = store.ServerMissing
		case err != nil:
			return err
		case !known:
			f.State, f.Detail = store.ServerUnknown, "nothing recorded"
		case sum != rec:
			f.State, f.Detail = store.ServerChanged, fmt.Sprintf("size %d, checksum differs", size)
		default:
			f.State = store.ServerOK
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (c *checkerStore) RecordProven(ctx context.Context, names []string) error {
	c.proven = append(c.proven, slices.Clone(names))
	for _, n := range names {
		if sum, _, err := c.serverSum(n); err == nil {
			c.recorded[n] = sum
		}
	}
	return nil
}

// hasherStore is a store.RemoteHasher.
type hasherStore struct {
	*countingStore
	unsupported bool
	failOn      string // RemoteSum of this name fails with a plain error
	hashed      []string
}

var _ store.RemoteHasher = (*hasherStore)(nil)

func (h *hasherStore) RemoteSum(ctx context.Context, name string) (digest.Sum, int64, error) {
	if h.unsupported {
		return digest.Sum{}, 0, fmt.Errorf("exec sha256sum: no shell: %w", errors.ErrUnsupported)
	}
	if name == h.failOn {
		return digest.Sum{}, 0, errors.New("sha256sum: exit status 2")
	}
	h.hashed = append(h.hashed, name)
	return h.serverSum(name)
}

// fixture is a catalog with one folder target holding n files of distinct
// sizes, each copy verified at an older time the smaller its index (so the
// catalog orders them 0, 1, 2... least recently verified first).
type fixture struct {
	cat   *catalog.Catalog
	tgt   catalog.Target
	base  *countingStore
	names []string
	sizes []int64
	ids   map[string]int64
	old   time.Time
	now   time.Time
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	cat, err := catalog.Open(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	dir := t.TempDir()
	tgt := catalog.Target{ID: "t-vault", Name: "vault", Kind: catalog.KindFolder, Path: dir, Medium: "cloud", Location: "cloud",
		CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := local.Prepare(dir, local.Identity{TargetID: tgt.ID, Name: tgt.Name}); err != nil {
		t.Fatal(err)
	}
	l, err := local.Attach(dir, tgt.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := cat.AddTarget(tgt); err != nil {
		t.Fatal(err)
	}
	fx := &fixture{cat: cat, tgt: tgt, base: &countingStore{Store: l, dir: dir}, ids: map[string]int64{},
		old: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), now: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)}
	for i := range n {
		name := fmt.Sprintf("2024/2024-06-01 Smith/IMG_%04d.CR3", i)
		data := []byte(strings.Repeat(fmt.Sprintf("photo %d;", i), 100+10*i))
		storetest.Put(t, l, name, data)
		f := catalog.File{Path: name, Project: "Smith", Sum: storetest.Sum(data), Size: int64(len(data)), Kind: "raw", AddedAt: fx.old}
		at := fx.old.Add(time.Duration(i) * time.Hour)
		id, err := cat.RecordFile(context.Background(), f, []catalog.Copy{{TargetID: tgt.ID, Path: name, State: catalog.CopyOK, VerifiedAt: at, WrittenAt: at}})
		if err != nil {
			t.Fatal(err)
		}
		fx.names = append(fx.names, name)
		fx.sizes = append(fx.sizes, int64(len(data)))
		fx.ids[name] = id
	}
	return fx
}

// checker wraps the fixture's store as a ServerChecker whose recorded
// checksums are the current ones for the given names.
func (fx *fixture) checker(t *testing.T, recorded ...string) *checkerStore {
	t.Helper()
	c := &checkerStore{countingStore: fx.base, recorded: map[string]digest.Sum{}}
	for _, n := range recorded {
		sum, _, err := fx.base.serverSum(n)
		if err != nil {
			t.Fatal(err)
		}
		c.recorded[n] = sum
	}
	return c
}

func (fx *fixture) run(t *testing.T, st store.Store, o Options) (*Result, TargetResult) {
	t.Helper()
	o.Catalog = fx.cat
	o.Now = func() time.Time { return fx.now }
	o.Windows = []time.Duration{90 * 24 * time.Hour}
	tg := Target{Target: fx.tgt, Store: st}
	if o.Targets != nil {
		tg.Attached = o.Targets[0].Attached
	}
	o.Targets = []Target{tg}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res, res.Targets[0]
}

// copyOf returns the catalog's copy of name on the target.
func (fx *fixture) copyOf(t *testing.T, name string) catalog.Copy {
	t.Helper()
	cps, err := fx.cat.Copies(fx.ids[name])
	if err != nil || len(cps) != 1 {
		t.Fatalf("copies of %s: %v %v", name, cps, err)
	}
	return cps[0]
}

func (fx *fixture) file(name string) string {
	return filepath.Join(fx.base.dir, filepath.FromSlash(name))
}

// TestServerCheckFindings: the server check covers every copy, records
// missing and changed ones (the missing one only after the Attached check),
// leaves unknown ones alone and touches no verified_at; the bad copies are
// not read again by the download stage, and RecordProven gets exactly the
// copies downloaded and matched.
func TestServerCheckFindings(t *testing.T) {
	fx := newFixture(t, 5)
	// 0 and 1 are the least recently verified: a download stage that did not
	// leave out bad copies would read them first.
	missing, changed, unknown := fx.names[0], fx.names[1], fx.names[4]
	st := fx.checker(t, fx.names[0], fx.names[1], fx.names[2], fx.names[3])
	if err := os.Remove(fx.file(missing)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(fx.file(changed), 10); err != nil {
		t.Fatal(err)
	}
	attached := 0
	res, tr := fx.run(t, st, Options{Budget: 1, Targets: []Target{{Attached: func() error { attached++; return nil }}}})

	want := ServerCounts{OK: 2, Changed: 1, Missing: 1, Unknown: 1}
	if tr.Server == nil || tr.Server.ServerCounts != want {
		t.Fatalf("server counts = %+v, want %+v", tr.Server, want)
	}
	if res.Server != want {
		t.Errorf("result server counts = %+v, want %+v", res.Server, want)
	}
	if attached == 0 {
		t.Errorf("a copy was recorded missing without the Attached check")
	}
	if tr.Missing != 1 || tr.Corrupt != 1 {
		t.Errorf("missing %d, corrupt %d; want 1, 1", tr.Missing, tr.Corrupt)
	}
	if cp := fx.copyOf(t, missing); cp.State != catalog.CopyMissing || !strings.Contains(cp.Problem, "not found on the service") {
		t.Errorf("missing copy recorded as %s %q", cp.State, cp.Problem)
	}
	if cp := fx.copyOf(t, changed); cp.State != catalog.CopyCorrupt || !strings.HasPrefix(cp.Problem, "changed on the server: size 10") {
		t.Errorf("changed copy recorded as %s %q", cp.State, cp.Problem)
	}
	var named []string
	for _, p := range res.Problems {
		named = append(named, p.File)
	}
	if !slices.Contains(named, missing) || !slices.Contains(named, changed) || len(named) != 2 {
		t.Errorf("problems name %q, want %s and %s", named, missing, changed)
	}
	// Budget 1 byte: one download, the least recently verified good copy.
	if got := fx.base.touched(); !slices.Equal(got, []string{fx.names[2]}) {
		t.Errorf("download stage read %q, want only %s", got, fx.names[2])
	}
	if tr.Checked != 1 || tr.Bytes != fx.sizes[2] {
		t.Errorf("checked %d copies, %d bytes; want 1, %d", tr.Checked, tr.Bytes, fx.sizes[2])
	}
	if len(st.proven) != 1 || !slices.Equal(st.proven[0], []string{fx.names[2]}) {
		t.Errorf("RecordProven got %q, want [[%s]]", st.proven, fx.names[2])
	}
	if cp := fx.copyOf(t, unknown); cp.State != catalog.CopyOK || !cp.VerifiedAt.Equal(fx.old.Add(4*time.Hour)) {
		t.Errorf("unknown copy changed: %s, verified %v", cp.State, cp.VerifiedAt)
	}
	// A server check does not move verified_at; the download does.
	if cp := fx.copyOf(t, fx.names[3]); !cp.VerifiedAt.Equal(fx.old.Add(3 * time.Hour)) {
		t.Errorf("server-checked copy's verified_at moved to %v", cp.VerifiedAt)
	}
	if cp := fx.copyOf(t, fx.names[2]); !cp.VerifiedAt.Equal(fx.now) {
		t.Errorf("downloaded copy's verified_at = %v, want %v", cp.VerifiedAt, fx.now)
	}
	if tr.Server.CheckedToday != 2 || tr.Server.Total != 5 {
		t.Errorf("server coverage %d of %d, want 2 of 5", tr.Server.CheckedToday, tr.Server.Total)
	}
	// The server check time is per copy: a day later nothing is "today".
	if n, total, err := fx.cat.ServerCoverage(fx.tgt.ID, fx.now.Add(24*time.Hour)); err != nil || n != 0 || total != 5 {
		t.Errorf("ServerCoverage a day later = %d, %d, %v", n, total, err)
	}
}

// TestServerCheckDetached: a target found detached before a missing copy is
// recorded stops the run; nothing is recorded missing.
func TestServerCheckDetached(t *testing.T) {
	fx := newFixture(t, 3)
	st := fx.checker(t, fx.names...)
	if err := os.Remove(fx.file(fx.names[1])); err != nil {
		t.Fatal(err)
	}
	res, tr := fx.run(t, st, Options{Targets: []Target{{Attached: func() error { return store.ErrNotAttached }}}})
	if tr.Error == "" || res.OK() {
		t.Errorf("a detached target did not stop the run: %+v", tr)
	}
	if cp := fx.copyOf(t, fx.names[1]); cp.State != catalog.CopyOK {
		t.Errorf("copy recorded %s although the target was gone", cp.State)
	}
	if got := fx.base.touched(); len(got) != 0 {
		t.Errorf("downloads after the target was gone: %q", got)
	}
}

// TestServerCheckUnknownThenProven: a store that has nothing recorded yet
// (a vault from before checksums were kept) reports every copy unknown;
// the downloads prove some, RecordProven records them, and the next run's
// server check finds those unchanged.
func TestServerCheckUnknownThenProven(t *testing.T) {
	fx := newFixture(t, 4)
	st := fx.checker(t)
	_, tr := fx.run(t, st, Options{Sample: 50})
	if tr.Server.ServerCounts != (ServerCounts{Unknown: 4}) {
		t.Fatalf("first run: server counts %+v, want 4 unknown", tr.Server.ServerCounts)
	}
	if len(st.proven) != 1 || !slices.Equal(st.proven[0], fx.names[:2]) {
		t.Fatalf("RecordProven got %q, want %q", st.proven, fx.names[:2])
	}
	fx.now = fx.now.Add(time.Hour)
	_, tr = fx.run(t, st, Options{Sample: 50})
	if tr.Server.ServerCounts != (ServerCounts{OK: 2, Unknown: 2}) {
		t.Errorf("second run: server counts %+v, want 2 ok, 2 unknown", tr.Server.ServerCounts)
	}
	if tr.Server.CheckedToday != 2 {
		t.Errorf("checked today %d, want 2", tr.Server.CheckedToday)
	}
}

// TestServerCheckUnsupported: a backend without checksums (an error
// wrapping errors.ErrUnsupported) is a note, not a problem, and verify
// downloads as before.
func TestServerCheckUnsupported(t *testing.T) {
	fx := newFixture(t, 3)
	st := fx.checker(t)
	st.err = fmt.Errorf("rclone remote lr: no hashes: %w", errors.ErrUnsupported)
	res, tr := fx.run(t, st, Options{})
	if !res.OK() {
		t.Errorf("problems: %+v", res.Problems)
	}
	if tr.Server == nil || tr.Server.Skipped == "" || tr.Server.ServerCounts != (ServerCounts{}) {
		t.Errorf("server check = %+v, want skipped", tr.Server)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "no checksums") {
		t.Errorf("notes = %q", res.Notes)
	}
	if tr.Checked != 3 || len(fx.base.touched()) != 3 {
		t.Errorf("checked %d, read %q; want all 3 downloaded", tr.Checked, fx.base.touched())
	}
}

// TestServerCheckFails: a listing that fails part-way is a problem; the
// downloads still run.
func TestServerCheckFails(t *testing.T) {
	fx := newFixture(t, 2)
	st := fx.checker(t, fx.names...)
	st.err = errors.New("list objects: connection reset by peer")
	res, tr := fx.run(t, st, Options{})
	if res.OK() || tr.Server.Error == "" {
		t.Errorf("a failed server check is not a problem: %+v", res.Problems)
	}
	if tr.Checked != 2 {
		t.Errorf("checked %d, want 2", tr.Checked)
	}
}

// TestRemoteHasher: the server hashes every chosen copy (the budget caps
// downloads only); nothing is opened; a truncated copy is found; a copy the
// server fails to hash is downloaded instead.
func TestRemoteHasher(t *testing.T) {
	fx := newFixture(t, 4)
	st := &hasherStore{countingStore: fx.base, failOn: fx.names[3]}
	if err := os.Truncate(fx.file(fx.names[1]), 50); err != nil {
		t.Fatal(err)
	}
	res, tr := fx.run(t, st, Options{Budget: 1})
	if tr.Checked != 4 || tr.Hashed != 3 {
		t.Fatalf("checked %d, hashed %d; want 4, 3", tr.Checked, tr.Hashed)
	}
	if !slices.Equal(st.hashed, fx.names[:3]) {
		t.Errorf("hashed %q, want %q", st.hashed, fx.names[:3])
	}
	if got := fx.base.touched(); !slices.Equal(got, []string{fx.names[3]}) {
		t.Errorf("read %q, want only %s (the one the server failed to hash)", got, fx.names[3])
	}
	if tr.HashedBytes != fx.sizes[0]+50+fx.sizes[2] || tr.Bytes != fx.sizes[3] || res.HashedBytes != tr.HashedBytes {
		t.Errorf("hashed %d bytes, downloaded %d", tr.HashedBytes, tr.Bytes)
	}
	want := fmt.Sprintf("truncated: 50 of %s bytes", Commas(fx.sizes[1]))
	if cp := fx.copyOf(t, fx.names[1]); cp.State != catalog.CopyCorrupt || cp.Problem != want {
		t.Errorf("truncated copy recorded %s %q, want corrupt %q", cp.State, cp.Problem, want)
	}
	if cp := fx.copyOf(t, fx.names[0]); !cp.VerifiedAt.Equal(fx.now) {
		t.Errorf("a server hash did not count as a re-read: verified_at %v", cp.VerifiedAt)
	}
	if tr.Coverage[0].Verified != 3 {
		t.Errorf("coverage %+v, want 3 verified", tr.Coverage)
	}
}

// TestRemoteHasherUnsupported: a server that cannot hash makes the target
// download for the rest of the run, within the budget, with one note.
func TestRemoteHasherUnsupported(t *testing.T) {
	fx := newFixture(t, 4)
	st := &hasherStore{countingStore: fx.base, unsupported: true}
	res, tr := fx.run(t, st, Options{Budget: fx.sizes[0] + fx.sizes[1]})
	if tr.Hashed != 0 || tr.Checked != 2 {
		t.Errorf("hashed %d, checked %d; want 0, 2", tr.Hashed, tr.Checked)
	}
	if got := fx.base.touched(); !slices.Equal(got, fx.names[:2]) {
		t.Errorf("downloaded %q, want %q", got, fx.names[:2])
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "cannot hash") {
		t.Errorf("notes = %q, want one about hashing", res.Notes)
	}
	if !res.OK() {
		t.Errorf("problems: %+v", res.Problems)
	}
}

// TestServerCheckListsNothing: a service that lists none of the target's
// copies is a problem of the target, not thousands of missing copies; the
// downloads then decide, copy by copy.
func TestServerCheckListsNothing(t *testing.T) {
	fx := newFixture(t, 3)
	st := fx.checker(t, fx.names...)
	for _, n := range fx.names {
		if err := os.Remove(fx.file(n)); err != nil {
			t.Fatal(err)
		}
	}
	res, tr := fx.run(t, st, Options{Budget: 1})
	if tr.Server.Missing != 0 || tr.Server.Unknown != 3 {
		t.Errorf("server counts %+v, want 3 unknown", tr.Server.ServerCounts)
	}
	found := false
	for _, p := range res.Problems {
		found = found || (p.File == "" && strings.Contains(p.Message, "lists none of the 3 copies"))
	}
	if !found {
		t.Errorf("no target problem about the empty listing: %+v", res.Problems)
	}
	// Budget 1 byte: one download, which finds its copy missing; the other
	// two keep their state.
	if cp := fx.copyOf(t, fx.names[0]); cp.State != catalog.CopyMissing || cp.Problem != "not found on the target" {
		t.Errorf("downloaded copy: %s %q", cp.State, cp.Problem)
	}
	for _, n := range fx.names[1:] {
		if cp := fx.copyOf(t, n); cp.State != catalog.CopyOK {
			t.Errorf("%s recorded %s from an empty listing", n, cp.State)
		}
	}
}
