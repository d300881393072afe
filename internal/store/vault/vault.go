// Package vault is an encrypted, content-addressed store.Store on top of a
// plain object store (Blobs: an S3 bucket prefix, a folder, an rclone
// remote). Everything is encrypted on the client with age; object names,
// sizes (padded) and contents reveal no client, project, file name, EXIF,
// GPS or plaintext hash. The format is documented in docs/vault.md so that a
// vault can be read without Trove, with the age tool and the passphrase.
//
// Layout below the vault's prefix:
//
//	vault.json           plaintext: format name and version, nothing else
//	keys/vault-key.age   the vault's age X25519 identity, encrypted with the
//	                     passphrase (age scrypt)
//	data/XX/<hmac>       one sealed object per distinct content; <hmac> is
//	                     hex HMAC-SHA256(content-id key, sha256(content))
//	index/<stamp>-<rand>-l  sealed index log: JSON lines "put/del/move"
//	                     (a put also records the content object's size and
//	                     the backend's fingerprint when its bytes were proven)
//	index/<stamp>-<rand>-s  sealed index snapshot (compaction)
//	meta/<hmac>          sealed meta files (catalog snapshots, manifest)
//
// Whole-file dedup: the same content is stored once whatever its names.
// Commit uploads the encrypted object (or finds it present), reads it back
// from the backend (GET, decrypt, hash) and only then records the name in an
// index log object, which the records of concurrent commits share (group
// commit, group.go). Objects are written whole (Blobs.Put is atomic), so
// an interrupted upload leaves the index as it was; a re-run finds content
// already uploaded and skips it. With Options.SpoolDir and a Resumable
// Blobs, a large object's ciphertext stays in the spool until its upload
// finishes, so that an interrupted upload continues from the parts on the
// server (resume.go).
//
// On a Blobs that is a Fingerprinter (S3, rclone), the vault is a
// store.ServerChecker: every copy can be checked against the size and
// checksum the service reported when its bytes were proven, from one
// listing and no download (server.go).
//
// One process writes a vault at a time (Trove's run lock); readers may run
// concurrently and see the index as of Attach or Reload.
package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
)

// ErrWrongPassphrase: the passphrase does not open the vault's key.
var ErrWrongPassphrase = errors.New("wrong vault passphrase")

// FormatVersion is the vault format this package writes and reads.
const FormatVersion = 1

const (
	vaultFile   = "vault.json"
	keyFile     = "keys/vault-key.age"
	dataPrefix  = "data/"
	indexPrefix = "index/"
	metaPrefix  = "meta/"
	formatName  = "trove-vault"
	logSuffix   = "-l"
	snapSuffix  = "-s"
	metaDir     = ".trove"
	versionsDir = metaDir + "/versions"
)

// Options tune a vault. The zero value is the production setting.
type Options struct {
	// ScryptLogN is the passphrase work factor used by Init (age's
	// default, 18, when 0). Tests lower it.
	ScryptLogN int
	// TempDir holds the encrypted temporary files (os.TempDir when "").
	TempDir string
	// CompactAfter is the number of index log objects after which a commit
	// also writes a snapshot and deletes the logs it covers (1000 when 0).
	CompactAfter int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// SpoolDir keeps the ciphertext of large content objects until their
	// upload finishes, so that an interrupted upload continues from the
	// parts already on the server (with a Blobs that is Resumable; Trove
	// sets $TROVE_HOME/spool). It holds only ciphertext, mode 0600, at
	// most the objects in flight. "" disables resuming: an interrupted
	// upload starts again from its first byte.
	SpoolDir string
	// SpoolMaxAge is how long a pending upload is kept for resuming
	// (DefaultSpoolMaxAge when 0); Attach aborts older ones.
	SpoolMaxAge time.Duration
	// Logf receives notices and warnings (log.Printf when nil).
	Logf func(format string, args ...any)
}

type header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	About   string `json:"about"`
}

const about = "Encrypted Trove vault. Everything but this file is age-encrypted; see Trove's docs/vault.md to read it with the passphrase."

// entry is one name's index record.
type entry struct {
	key  string
	size int64
	sum  digest.Sum
	time time.Time
}

// object is what the index knows of a content object besides the names
// that refer to it: its size and the service's fingerprint as they were
// when its bytes were last proven (read back after an upload, or
// downloaded by verify). The zero value means nothing is known.
type object struct {
	csize int64  // ciphertext bytes on the backend
	fp    string // the Fingerprinter's fingerprint ("" when it reported none)
}

// Vault is an attached vault. It is safe for concurrent use.
type Vault struct {
	b   Blobs
	opt Options
	k   *keys

	ixMu sync.Mutex // serialises index writes (and compaction)

	qMu      sync.Mutex // guards queue and flushing (group.go)
	queue    []*queued  // commits' records waiting for the next batch
	flushing bool       // a batch is being written (it has a leader)

	mu      sync.Mutex
	names   map[string]entry  // library names and ".trove/versions/…" paths
	objs    map[string]object // content key → size and fingerprint when proven
	seen    map[string]object // content key → as the last ServerCheck listed it
	pending map[string]bool   // names reserved by commits in flight
	logs    []string          // log objects applied on top of snap
	stale   []string          // superseded index objects to delete
	snap    string            // current snapshot object ("" when none)
	stamp   int64             // last index stamp used

	uploading  map[string]chan struct{} // content keys being uploaded (lockKey)
	committing map[string]int           // content key → commits between upload and index record (RemoveVersion)
}

var (
	_ store.Store         = (*Vault)(nil)
	_ store.Preserver     = (*Vault)(nil)
	_ store.MetaStore     = (*Vault)(nil)
	_ store.ServerChecker = (*Vault)(nil)
)

// Init makes a new vault on b, which must hold no vault yet (store.ErrExist
// otherwise): a fresh random age identity, encrypted with passphrase, and
// vault.json.
func Init(ctx context.Context, b Blobs, passphrase string, opt Options) error {
	if passphrase == "" {
		return errors.New("create vault: empty passphrase")
	}
	if _, err := b.Stat(ctx, vaultFile); err == nil {
		return fmt.Errorf("create vault: %s exists: %w", vaultFile, store.ErrExist)
	} else if !errors.Is(err, store.ErrNotExist) {
		return fmt.Errorf("create vault: %w", err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return fmt.Errorf("create vault key: %w", err)
	}
	var kf bytes.Buffer
	if err := sealKeyFile(&kf, id, passphrase, opt.ScryptLogN); err != nil {
		return fmt.Errorf("encrypt vault key: %w", err)
	}
	if err := b.Put(ctx, keyFile, bytes.NewReader(kf.Bytes()), int64(kf.Len())); err != nil {
		return fmt.Errorf("create vault: %w", err)
	}
	h, _ := json.MarshalIndent(header{Format: formatName, Version: FormatVersion, About: about}, "", "  ")
	h = append(h, '\n')
	// vault.json last: it marks a complete vault.
	if err := b.Put(ctx, vaultFile, bytes.NewReader(h), int64(len(h))); err != nil {
		return fmt.Errorf("create vault: %w", err)
	}
	return nil
}

// Attach opens the vault on b with passphrase and loads its index. When b
// is Resumable it also aborts every unfinished upload that no pending
// upload in Options.SpoolDir can continue (all of them without a
// SpoolDir), so no orphan parts stay billed; it tidies the spool. A
// missing vault.json wraps store.ErrNotAttached, a wrong passphrase is
// ErrWrongPassphrase, and an unreadable index object wraps store.ErrCorrupt.
func Attach(ctx context.Context, b Blobs, passphrase string, opt Options) (*Vault, error) {
	if opt.CompactAfter <= 0 {
		opt.CompactAfter = 1000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.SpoolMaxAge <= 0 {
		opt.SpoolMaxAge = DefaultSpoolMaxAge
	}
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	rc, err := b.Get(ctx, vaultFile)
	if errors.Is(err, store.ErrNotExist) {
		return nil, fmt.Errorf("no Trove vault here (%s missing): %w", vaultFile, store.ErrNotAttached)
	}
	if err != nil {
		return nil, fmt.Errorf("open vault: %w", err)
	}
	var h header
	err = json.NewDecoder(io.LimitReader(rc, 64<<10)).Decode(&h)
	rc.Close()
	if err != nil || h.Format != formatName {
		return nil, fmt.Errorf("%s is not a Trove vault header: %w", vaultFile, store.ErrNotAttached)
	}
	if h.Version != FormatVersion {
		return nil, fmt.Errorf("vault format %d is not supported by this Trove (it reads %d): upgrade Trove", h.Version, FormatVersion)
	}
	rc, err = b.Get(ctx, keyFile)
	if err != nil {
		return nil, fmt.Errorf("open vault key: %w", err)
	}
	id, err := openKeyFile(rc, passphrase)
	rc.Close()
	if err != nil {
		return nil, err
	}
	k, err := deriveKeys(id)
	if err != nil {
		return nil, fmt.Errorf("derive vault keys: %w", err)
	}
	v := &Vault{b: b, opt: opt, k: k, uploading: map[string]chan struct{}{}, committing: map[string]int{}}
	if err := v.Reload(ctx); err != nil {
		return nil, err
	}
	v.tidySpool(ctx)
	return v, nil
}

// Reload reads the index again (to see another process's commits). An
// index object that vanishes while it reads (another process compacted)
// makes it start over, a few times.
func (v *Vault) Reload(ctx context.Context) error {
	v.ixMu.Lock()
	defer v.ixMu.Unlock()
	var err error
	for range 3 {
		if err = v.reload(ctx); !errors.Is(err, store.ErrNotExist) {
			return err
		}
	}
	return err
}

func (v *Vault) reload(ctx context.Context) error {
	var snaps, logs []string
	err := v.b.List(ctx, indexPrefix, func(key string, _ int64) error {
		switch {
		case strings.HasSuffix(key, snapSuffix):
			snaps = append(snaps, key)
		case strings.HasSuffix(key, logSuffix):
			logs = append(logs, key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list vault index: %w", err)
	}
	slices.Sort(snaps) // the stamp in the key orders them
	slices.Sort(logs)
	names := map[string]entry{}
	objs := map[string]object{}
	var stale, applied []string
	snap := ""
	covered := map[string]bool{}
	if len(snaps) > 0 {
		snap = snaps[len(snaps)-1]
		stale = append(stale, snaps[:len(snaps)-1]...)
		recs, err := v.readIndex(ctx, snap)
		if err != nil {
			return err
		}
		if len(recs) == 0 || recs[0].Op != "snapshot" {
			return fmt.Errorf("index snapshot %s has no header: %w", snap, store.ErrCorrupt)
		}
		for _, c := range recs[0].Covers {
			covered[c] = true
		}
		if err := applyAll(names, objs, recs[1:]); err != nil {
			return fmt.Errorf("index %s: %w", snap, err)
		}
	}
	for _, l := range logs {
		if covered[l] {
			stale = append(stale, l)
			continue
		}
		recs, err := v.readIndex(ctx, l)
		if err != nil {
			return err
		}
		if err := applyAll(names, objs, recs); err != nil {
			return fmt.Errorf("index %s: %w", l, err)
		}
		applied = append(applied, l)
	}
	v.mu.Lock()
	v.names, v.objs, v.logs, v.stale, v.snap = names, objs, applied, stale, snap
	v.seen = nil // listed before the reload: maybe before another process's commits
	if v.pending == nil {
		v.pending = map[string]bool{}
	}
	v.mu.Unlock()
	return nil
}

// record is one line of an index object.
type record struct {
	Op     string    `json:"op"` // put, del, move, snapshot
	Name   string    `json:"name,omitempty"`
	To     string    `json:"to,omitempty"`
	Key    string    `json:"key,omitempty"`
	Size   int64     `json:"size,omitempty"`
	SHA256 string    `json:"sha256,omitempty"`
	Time   time.Time `json:"time,omitzero"`
	Covers []string  `json:"covers,omitempty"`
	// CSize and FP (put only, optional): the content object's size and
	// the backend's fingerprint of it when its bytes were proven. A put
	// without them says nothing is known of the object's current form.
	CSize int64  `json:"csize,omitempty"`
	FP    string `json:"fp,omitempty"`
}

func (v *Vault) readIndex(ctx context.Context, key string) ([]record, error) {
	rc, err := v.getSealed(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read vault index: %w", err)
	}
	defer rc.Close()
	var recs []record
	dec := json.NewDecoder(rc)
	for {
		var r record
		err := dec.Decode(&r)
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			if errors.Is(err, store.ErrCorrupt) {
				return nil, err
			}
			return nil, fmt.Errorf("index %s: %w: %v", key, store.ErrCorrupt, err)
		}
		recs = append(recs, r)
	}
}

// applyAll applies index records to the names and the content objects'
// proofs. A put sets (or, without csize and fp, forgets) its content
// object's proof: the last put for a key tells how it was last proven.
func applyAll(names map[string]entry, objs map[string]object, recs []record) error {
	for _, r := range recs {
		switch r.Op {
		case "put":
			sum, err := digest.Parse(r.SHA256)
			if err != nil || !strings.HasPrefix(r.Key, dataPrefix) || r.Size < 0 || r.CSize < 0 {
				return fmt.Errorf("bad put record for %q: %w", r.Name, store.ErrCorrupt)
			}
			names[r.Name] = entry{key: r.Key, size: r.Size, sum: sum, time: r.Time}
			if r.CSize > 0 || r.FP != "" {
				objs[r.Key] = object{csize: r.CSize, fp: r.FP}
			} else {
				delete(objs, r.Key)
			}
		case "del":
			delete(names, r.Name)
		case "move":
			if e, ok := names[r.Name]; ok {
				delete(names, r.Name)
				names[r.To] = e
			}
		default:
			return fmt.Errorf("unknown index operation %q: %w", r.Op, store.ErrCorrupt)
		}
	}
	return nil
}

// newIndexKey returns a fresh index key that sorts after every key this
// process made before: index/<20-digit unix nanoseconds>-<random>-<kind>.
func (v *Vault) newIndexKey(suffix string) string {
	v.mu.Lock()
	s := max(v.opt.Now().UnixNano(), v.stamp+1)
	v.stamp = s
	v.mu.Unlock()
	var r [6]byte
	rand.Read(r[:])
	return fmt.Sprintf("%s%020d-%s%s", indexPrefix, s, hex.EncodeToString(r[:]), suffix)
}

func encodeRecords(recs []record) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		enc.Encode(r) // cannot fail for these types
	}
	return buf.Bytes()
}

// appendLog writes recs as a new index log object and applies them. The
// caller holds ixMu.
func (v *Vault) appendLog(ctx context.Context, recs []record) error {
	key := v.newIndexKey(logSuffix)
	if err := v.putSealed(ctx, key, bytes.NewReader(encodeRecords(recs))); err != nil {
		return fmt.Errorf("record in the vault index: %w", err)
	}
	v.mu.Lock()
	err := applyAll(v.names, v.objs, recs)
	for _, r := range recs {
		if r.Op == "put" {
			delete(v.seen, r.Key) // a listing from before is stale now
		}
	}
	v.logs = append(v.logs, key)
	n := len(v.logs)
	v.mu.Unlock()
	if err != nil {
		return err
	}
	if n >= v.opt.CompactAfter {
		// Best effort: the commit is recorded; a failed compaction only
		// leaves more log objects to read, and is retried next time.
		v.compactLocked(ctx)
	}
	return nil
}

// Compact writes the whole index as one snapshot object, then deletes the
// log and snapshot objects it supersedes. An interruption at any point
// leaves a readable index (a reader ignores logs a snapshot covers).
func (v *Vault) Compact(ctx context.Context) error {
	v.ixMu.Lock()
	defer v.ixMu.Unlock()
	return v.compactLocked(ctx)
}

// compactDeletes is how many superseded index objects compaction deletes at
// once.
const compactDeletes = 8

func (v *Vault) compactLocked(ctx context.Context) error {
	v.mu.Lock()
	covers := slices.Clone(v.logs)
	recs := []record{{Op: "snapshot", Covers: covers}}
	for _, n := range slices.Sorted(maps.Keys(v.names)) {
		e := v.names[n]
		o := v.objs[e.key]
		recs = append(recs, record{Op: "put", Name: n, Key: e.key, Size: e.size, SHA256: e.sum.String(), Time: e.time, CSize: o.csize, FP: o.fp})
	}
	old := append(slices.Clone(v.stale), covers...)
	if v.snap != "" {
		old = append(old, v.snap)
	}
	v.mu.Unlock()
	key := v.newIndexKey(snapSuffix)
	if err := v.putSealed(ctx, key, bytes.NewReader(encodeRecords(recs))); err != nil {
		return fmt.Errorf("compact vault index: %w", err)
	}
	v.mu.Lock()
	v.snap, v.logs, v.stale = key, v.logs[len(covers):], nil
	v.mu.Unlock()
	// The snapshot covers them all, so they may go in any order: several at
	// a time, since commits wait for this (ixMu) and each delete is a
	// round trip (a thousand of them one by one is minutes on a cloud).
	var (
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, compactDeletes)
	)
	for _, o := range old {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := v.b.Delete(ctx, o); err != nil && !errors.Is(err, store.ErrNotExist) {
				v.mu.Lock()
				errs = append(errs, err)
				v.stale = append(v.stale, o)
				v.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("compact vault index: delete superseded objects: %w", errors.Join(errs...))
	}
	return nil
}

// validName applies the rules every store shares (store.CheckName).
func validName(name string) error { return store.CheckName(name) }

func (v *Vault) lookup(name string) (entry, error) {
	v.mu.Lock()
	e, ok := v.names[name]
	v.mu.Unlock()
	if !ok {
		return e, fmt.Errorf("%s in vault: %w", name, store.ErrNotExist)
	}
	return e, nil
}

// Open streams the object's content, decrypting and checking it on the way:
// the final Read returns io.EOF only when the content matched its recorded
// SHA-256 (tampered, swapped or truncated objects give store.ErrCorrupt).
func (v *Vault) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	return v.openEntry(ctx, name)
}

func (v *Vault) openEntry(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, err := v.lookup(name)
	if err != nil {
		return nil, err
	}
	body, err := v.b.Get(ctx, e.key)
	if errors.Is(err, store.ErrNotExist) {
		return nil, fmt.Errorf("%s: content object %s is missing from the vault: %w", name, e.key, store.ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return newUnsealer(e.key, body, v.k.identity, e.size, e.sum)
}

// Stat describes a name from the index (no request to the backend).
func (v *Vault) Stat(ctx context.Context, name string) (store.Info, error) {
	if err := validName(name); err != nil {
		return store.Info{}, err
	}
	e, err := v.lookup(name)
	if err != nil {
		return store.Info{}, err
	}
	return store.Info{Name: name, Stored: e.key, Size: e.size, ModTime: e.time}, nil
}

// Sum returns the recorded SHA-256 of a name's content (what the vault
// checks every read against).
func (v *Vault) Sum(name string) (digest.Sum, error) {
	e, err := v.lookup(name)
	return e.sum, err
}

// Walk lists the index in byte order of names.
func (v *Vault) Walk(ctx context.Context, prefix string, fn func(store.Info) error) error {
	v.mu.Lock()
	var infos []store.Info
	for n, e := range v.names {
		if strings.HasPrefix(n, prefix) && !strings.HasPrefix(n, metaDir+"/") {
			infos = append(infos, store.Info{Name: n, Stored: e.key, Size: e.size, ModTime: e.time})
		}
	}
	v.mu.Unlock()
	slices.SortFunc(infos, func(a, b store.Info) int { return strings.Compare(a.Name, b.Name) })
	for _, i := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}

// Rename records a move in the index; content objects are untouched.
func (v *Vault) Rename(ctx context.Context, from, to string) error {
	if err := errors.Join(validName(from), validName(to)); err != nil {
		return err
	}
	v.ixMu.Lock()
	defer v.ixMu.Unlock()
	v.mu.Lock()
	_, ok := v.names[from]
	_, taken := v.names[to]
	taken = taken || v.pending[to]
	v.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("rename %s: %w", from, store.ErrNotExist)
	case taken:
		return fmt.Errorf("rename %s to %s: %w", from, to, store.ErrExist)
	}
	return v.appendLog(ctx, []record{{Op: "move", Name: from, To: to}})
}

// Remove deletes a name from the index. The content object stays: other
// names or kept versions may share it (garbage collection is separate).
func (v *Vault) Remove(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	v.ixMu.Lock()
	defer v.ixMu.Unlock()
	if _, err := v.lookup(name); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	return v.appendLog(ctx, []record{{Op: "del", Name: name}})
}

// Preserve moves a name into the versions area of the index
// (".trove/versions/<UTC time>/<name>"), which Walk does not list.
func (v *Vault) Preserve(ctx context.Context, name string, at time.Time) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	v.ixMu.Lock()
	defer v.ixMu.Unlock()
	if _, err := v.lookup(name); err != nil {
		return "", fmt.Errorf("keep old version: %w", err)
	}
	stamp := at.UTC().Format("2006-01-02T15-04-05Z")
	var dst string
	for n := 1; ; n++ {
		dir := versionsDir + "/" + stamp
		if n > 1 {
			dir = fmt.Sprintf("%s-%d", dir, n)
		}
		dst = dir + "/" + name
		if _, err := v.lookup(dst); err != nil {
			break
		}
	}
	if err := v.appendLog(ctx, []record{{Op: "move", Name: name, To: dst}}); err != nil {
		return "", err
	}
	return dst, nil
}

// OpenVersion reads a kept version, checked like Open.
func (v *Vault) OpenVersion(ctx context.Context, versionPath string) (io.ReadCloser, error) {
	rest, ok := strings.CutPrefix(versionPath, versionsDir+"/")
	if !ok || validName(rest) != nil {
		return nil, fmt.Errorf("version path %q: %w", versionPath, store.ErrBadName)
	}
	return v.openEntry(ctx, versionPath)
}

// metaName checks that name is one of Trove's own files.
func metaName(name string) error {
	if name == "README.txt" || name == "INDEX.html" {
		return nil
	}
	rest, ok := strings.CutPrefix(name, metaDir+"/")
	if ok && validName(rest) == nil && !strings.HasPrefix(name, versionsDir+"/") {
		return nil
	}
	return fmt.Errorf("meta file %q: %w", name, store.ErrBadName)
}

// WriteMeta encrypts r and stores it as meta/<hmac of name>, replacing the
// old version atomically.
func (v *Vault) WriteMeta(ctx context.Context, name string, r io.Reader) error {
	if err := metaName(name); err != nil {
		return err
	}
	if err := v.putSealed(ctx, v.k.metaKey(name), r); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// ReadMeta reads and checks a meta file.
func (v *Vault) ReadMeta(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := metaName(name); err != nil {
		return nil, err
	}
	rc, err := v.getSealed(ctx, v.k.metaKey(name))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return rc, nil
}
