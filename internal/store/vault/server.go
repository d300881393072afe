package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"filippo.io/age"

	"github.com/trove-backup/trove/internal/store"
)

// Fingerprinter is a Blobs whose backend keeps its own checksum of every
// object (an S3 ETag, the hashes an rclone remote reports) and reports it
// in listings. It is optional: the vault finds it by type assertion, and
// a wrapper around a Blobs hides it unless it forwards it.
//
// A fingerprint is a string of comma-separated "kind:value" pairs sorted
// by kind ("etag:9b2cf5…", "md5:…,sha1:…"), or "" when the backend
// reports none for the object. Two fingerprints are compared on the kinds
// they share, so a backend may report more kinds over time. A fingerprint
// must change whenever the object's bytes are replaced (a new upload);
// whether it also changes when the bytes rot on the service's disks
// depends on the service (see ServerCheck).
type Fingerprinter interface {
	Blobs
	// Fingerprint returns one object's size and fingerprint (a HEAD
	// request, one rclone call); a missing key wraps store.ErrNotExist.
	Fingerprint(ctx context.Context, key string) (size int64, fp string, err error)
	// ListFingerprints calls fn for every object whose key starts with
	// prefix, in any order, from one listing pass (no download). An error
	// from fn stops the listing and is returned.
	ListFingerprints(ctx context.Context, prefix string, fn func(key string, size int64, fp string) error) error
}

// errNoFingerprints is ServerCheck's and RecordProven's answer on a
// Blobs that is not a Fingerprinter.
var errNoFingerprints = fmt.Errorf("the vault's storage reports no checksums: %w", errors.ErrUnsupported)

// probe returns a content object's current size and fingerprint (only
// its size when the Blobs is no Fingerprinter); a missing object wraps
// store.ErrNotExist.
func (v *Vault) probe(ctx context.Context, key string) (object, error) {
	if f, ok := v.b.(Fingerprinter); ok {
		size, fp, err := f.Fingerprint(ctx, key)
		return object{csize: size, fp: fp}, err
	}
	size, err := v.b.Stat(ctx, key)
	return object{csize: size}, err
}

// ServerCheck compares the content objects behind names with the sizes
// and fingerprints recorded when their bytes were last proven (see
// store.ServerChecker), in one listing of data/ and no download:
//
//   - a name not in the index, or whose content object is not listed:
//     store.ServerMissing;
//   - a listed size other than the recorded one (for objects stored
//     before sizes were recorded: the size this vault's encryption gives
//     the content's length): store.ServerChanged;
//   - a fingerprint other than the recorded one, on a kind both have:
//     store.ServerChanged;
//   - no fingerprint recorded (stored before fingerprints were kept, or
//     the backend reported none then) or none listed now, or no kind in
//     common: store.ServerUnknown;
//   - else store.ServerOK.
//
// What a match proves depends on the service: an S3 ETag is the MD5 of
// the ciphertext as uploaded (or of its parts), kept as metadata, so it
// shows the object was not replaced or truncated, not that its bytes are
// still readable; rclone's local and SFTP backends hash the file anew.
//
// On a Blobs that is not a Fingerprinter (a folder, SFTP) it returns an
// error wrapping errors.ErrUnsupported before calling fn: such a target
// has no server-side check. The listed sizes and fingerprints are kept
// for RecordProven.
func (v *Vault) ServerCheck(ctx context.Context, names []string, fn func(store.ServerFinding) error) error {
	f, ok := v.b.(Fingerprinter)
	if !ok {
		return fmt.Errorf("server-side check: %w", errNoFingerprints)
	}
	type item struct {
		name string
		e    entry
		o    object
		ok   bool
	}
	items := make([]item, len(names))
	want := map[string]bool{}
	v.mu.Lock()
	for i, n := range names {
		e, ok := v.names[n]
		items[i] = item{name: n, e: e, o: v.objs[e.key], ok: ok}
		if ok {
			want[e.key] = true
		}
	}
	v.mu.Unlock()
	listed := map[string]object{}
	if len(want) > 0 {
		err := f.ListFingerprints(ctx, dataPrefix, func(key string, size int64, fp string) error {
			if want[key] {
				listed[key] = object{csize: size, fp: fp}
			}
			return ctx.Err()
		})
		if err != nil {
			return fmt.Errorf("server-side check: list the vault's content objects: %w", err)
		}
	}
	v.mu.Lock()
	if v.seen == nil {
		v.seen = map[string]object{}
	}
	maps.Copy(v.seen, listed)
	v.mu.Unlock()
	for _, it := range items {
		fd := store.ServerFinding{Name: it.name}
		if !it.ok {
			fd.State, fd.Detail = store.ServerMissing, "not in the vault's index"
		} else if cur, ok := listed[it.e.key]; !ok {
			fd.State, fd.Detail = store.ServerMissing, "its encrypted object "+shortKey(it.e.key)+" is not on the server"
		} else {
			fd.State, fd.Detail = judge(it.o, cur, expectLen(it.o, it.e.size))
		}
		if err := fn(fd); err != nil {
			return err
		}
	}
	return nil
}

// expectLen is the size a content object with n content bytes must have:
// the recorded one, else the one this package's encryption gives.
func expectLen(rec object, n int64) int64 {
	if rec.csize > 0 {
		return rec.csize
	}
	return cipherLen(n)
}

// judge compares a content object as recorded (rec; zero when nothing was
// recorded) with how the backend lists it now (cur); want is the size it
// must have.
func judge(rec, cur object, want int64) (store.ServerState, string) {
	if cur.csize != want {
		return store.ServerChanged, fmt.Sprintf("size %s bytes on the server, %s when uploaded", thousands(cur.csize), thousands(want))
	}
	switch {
	case rec.fp == "":
		return store.ServerUnknown, "no checksum recorded for it (stored before Trove kept them, or the service gave none)"
	case cur.fp == "":
		return store.ServerUnknown, "the service reports no checksum for it"
	}
	same, comparable := sameFingerprint(rec.fp, cur.fp)
	switch {
	case !comparable:
		return store.ServerUnknown, fmt.Sprintf("the service's checksum (%s) is of another kind than the recorded one (%s)", kinds(cur.fp), kinds(rec.fp))
	case !same:
		return store.ServerChanged, "the service's checksum changed since the verified upload"
	}
	return store.ServerOK, ""
}

// sameFingerprint compares two fingerprints on the kinds they share:
// comparable when they share one, same when they agree on all shared.
func sameFingerprint(a, b string) (same, comparable bool) {
	bm := map[string]string{}
	for kv := range strings.SplitSeq(b, ",") {
		k, val, _ := strings.Cut(kv, ":")
		bm[k] = val
	}
	same = true
	for kv := range strings.SplitSeq(a, ",") {
		k, val, _ := strings.Cut(kv, ":")
		if bv, ok := bm[k]; ok {
			comparable = true
			same = same && bv == val
		}
	}
	return same && comparable, comparable
}

// kinds returns a fingerprint's kinds ("md5+sha1").
func kinds(fp string) string {
	var ks []string
	for kv := range strings.SplitSeq(fp, ",") {
		k, _, _ := strings.Cut(kv, ":")
		ks = append(ks, k)
	}
	return strings.Join(ks, "+")
}

// RecordProven makes the current sizes and fingerprints of the content
// objects behind names the ones ServerCheck compares with (see
// store.ServerChecker): the caller has just downloaded them and they
// matched. It writes one index log (a put per name whose record changes;
// nothing when none does). Names not in the index, and objects missing
// or whose size is not the one their content gives, are left alone.
//
// The size and fingerprint come from a ServerCheck's listing when one
// listed the object since it was last recorded: run before the download,
// it never describes bytes newer than those proven (a replacement in
// between stays "changed"). Otherwise they come from the backend now: one
// Fingerprint per object for a few objects of a large vault, else one
// listing. On a Blobs that is not a Fingerprinter it returns an error
// wrapping errors.ErrUnsupported.
func (v *Vault) RecordProven(ctx context.Context, names []string) error {
	f, ok := v.b.(Fingerprinter)
	if !ok {
		return fmt.Errorf("record proven copies: %w", errNoFingerprints)
	}
	cur := map[string]object{}
	var fetch []string
	v.mu.Lock()
	for _, n := range names {
		e, ok := v.names[n]
		if !ok {
			continue
		}
		if o, ok := v.seen[e.key]; ok {
			cur[e.key] = o
		} else if _, dup := cur[e.key]; !dup && !slices.Contains(fetch, e.key) {
			fetch = append(fetch, e.key)
		}
	}
	total := len(v.names)
	v.mu.Unlock()
	if err := fetchFingerprints(ctx, f, fetch, total, cur); err != nil {
		return fmt.Errorf("record proven copies: %w", err)
	}

	v.ixMu.Lock()
	defer v.ixMu.Unlock()
	v.mu.Lock()
	var recs []record
	done := map[string]bool{}
	for _, n := range names {
		e, ok := v.names[n]
		o, have := cur[e.key]
		switch {
		case !ok || !have || done[n]:
			continue
		case o.csize != expectLen(v.objs[e.key], e.size):
			continue // not the object that was downloaded
		case v.objs[e.key] == o:
			continue // already recorded
		}
		done[n] = true
		recs = append(recs, record{Op: "put", Name: n, Key: e.key, Size: e.size, SHA256: e.sum.String(), Time: e.time, CSize: o.csize, FP: o.fp})
	}
	v.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	if err := v.appendLog(ctx, recs); err != nil {
		return fmt.Errorf("record proven copies: %w", err)
	}
	return nil
}

// fetchFingerprints puts the current size and fingerprint of each key
// into cur (missing objects are left out): one Fingerprint per key when
// they are few (at most 64, and at most 1 in 50 of the vault's total
// names), else one listing of data/.
func fetchFingerprints(ctx context.Context, f Fingerprinter, keys []string, total int, cur map[string]object) error {
	if len(keys) == 0 {
		return nil
	}
	if len(keys) <= 64 && len(keys)*50 <= total {
		for _, k := range keys {
			size, fp, err := f.Fingerprint(ctx, k)
			if errors.Is(err, store.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			cur[k] = object{csize: size, fp: fp}
		}
		return nil
	}
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	return f.ListFingerprints(ctx, dataPrefix, func(key string, size int64, fp string) error {
		if want[key] {
			cur[key] = object{csize: size, fp: fp}
		}
		return ctx.Err()
	})
}

// cipherLen is the size of the content object holding n content bytes, as
// this package writes it: age's header (one X25519 recipient), its 16-byte
// nonce, and the padded plaintext (paddedLen) in 64 KiB chunks of 16 more
// bytes each.
func cipherLen(n int64) int64 {
	p := paddedLen(n)
	const chunk = 64 << 10
	return ageHeaderLen() + 16 + p + 16*((p+chunk-1)/chunk)
}

// ageHeaderLen measures the length of an age header for one X25519
// recipient (the same for every key: fixed-size base64 fields).
var ageHeaderLen = sync.OnceValue(func() int64 {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		panic(fmt.Sprintf("vault: age key generation: %v", err))
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, id.Recipient())
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		panic(fmt.Sprintf("vault: age encryption: %v", err))
	}
	// An empty plaintext is one empty final chunk: its 16-byte tag.
	return int64(buf.Len()) - 16 - 16
})

// shortKey abbreviates a content key for messages ("data/3c/3cf8a1…").
func shortKey(key string) string {
	if len(key) > len(dataPrefix)+3+12 {
		return key[:len(dataPrefix)+3+12] + "…"
	}
	return key
}

// thousands formats n with commas ("25,166,848").
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
