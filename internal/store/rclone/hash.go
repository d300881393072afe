package rclone

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// hashPreference ranks rclone's hash types for fingerprints: the first
// one the backend supports is used (MD5 on S3, Drive and the local disk;
// SHA-1 on B2, Box and pCloud; Dropbox's and OneDrive's own hashes
// there). One type suffices to see a replaced object, and asking for one
// keeps backends that compute hashes by reading (local, SFTP) from
// computing nine.
var hashPreference = []string{"md5", "sha1", "sha256", "dropbox", "quickxor", "whirlpool", "crc32"}

// hashState caches the hash type of a Remote.
type hashState struct {
	mu   sync.Mutex
	done bool
	typ  string // "" when the backend has none (crypt, many WebDAV servers)
}

// hashType returns the hash type fingerprints use, asking `rclone backend
// features` once (it prints the backend's name, root and abilities, no
// credentials). A failure is returned and asked again next time.
func (r *Remote) hashType(ctx context.Context) (string, error) {
	r.hash.mu.Lock()
	defer r.hash.mu.Unlock()
	if r.hash.done {
		return r.hash.typ, nil
	}
	out, err := r.run(ctx, nil, "backend", "features", r.remote)
	if err != nil {
		return "", fmt.Errorf("ask rclone which hashes %s keeps: %w", r.remote, err)
	}
	var f struct{ Hashes []string }
	if err := json.Unmarshal(out, &f); err != nil {
		return "", fmt.Errorf("ask rclone which hashes %s keeps: unexpected output: %w", r.remote, err)
	}
	r.hash.typ = ""
	for _, h := range hashPreference {
		if slices.Contains(f.Hashes, h) {
			r.hash.typ = h
			break
		}
	}
	if r.hash.typ == "" && len(f.Hashes) > 0 {
		r.hash.typ = f.Hashes[0]
	}
	r.hash.done = true
	return r.hash.typ, nil
}

// fingerprint turns rclone's hashes into a vault fingerprint:
// "kind:value" pairs sorted by kind, "" when there are none.
func fingerprint(hashes map[string]string) string {
	var kv []string
	for k, v := range hashes {
		if v != "" {
			kv = append(kv, k+":"+v)
		}
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

// Fingerprint returns one object's size and the hash the backend reports
// for it ("md5:…"; "" when it reports none), or ErrNotExist (see
// vault.Fingerprinter). Backends that store hashes (S3, Drive, Dropbox,
// B2, …) answer from metadata; the local backend reads the file, the SFTP
// backend runs md5sum or sha1sum on the server.
func (r *Remote) Fingerprint(ctx context.Context, key string) (int64, string, error) {
	h, err := r.hashType(ctx)
	if err != nil {
		return 0, "", err
	}
	e, err := r.stat(ctx, key, h)
	if err != nil {
		return 0, "", err
	}
	return e.Size, fingerprint(e.Hashes), nil
}

// ListFingerprints lists the objects below prefix with their sizes and
// hashes (see Fingerprint) from one recursive rclone listing, in byte
// order of keys.
func (r *Remote) ListFingerprints(ctx context.Context, prefix string, fn func(key string, size int64, fp string) error) error {
	h, err := r.hashType(ctx)
	if err != nil {
		return err
	}
	return r.list(ctx, prefix, h, func(key string, e lsEntry) error { return fn(key, e.Size, fingerprint(e.Hashes)) })
}
