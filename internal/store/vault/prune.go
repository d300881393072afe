package vault

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/trove-backup/trove/internal/store"
)

// validVersionPath applies prune.ValidVersionPath's rules (a clean relative
// path below .trove/versions; catalog paths are untrusted) plus the store's
// name rules for the part after the folder. (Store packages do not import
// the prune job, so the rule is repeated here; the tests hold them equal on
// the paths they try.)
func validVersionPath(p string) bool {
	rest, ok := strings.CutPrefix(p, versionsDir+"/")
	if !ok || strings.ContainsRune(p, 0) || path.Clean(p) != p {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return validName(rest) == nil
}

// RemoveVersion deletes a kept old version (".trove/versions/<time>/<name>")
// from the vault, and its content object when nothing else needs it. It
// makes the vault a prune.VersionRemover.
//
// Contract:
//
//   - versionPath must be a version path (else the error wraps
//     store.ErrBadName) that the index holds (else store.ErrNotExist).
//   - The index's "del" record for the name is written first (a durable
//     index log object, as Remove does). RemoveVersion returns an error only
//     when that write fails, and then nothing changed.
//   - Only after that, the content object is deleted, and only when no name
//     left in the index (library names and kept versions alike: content is
//     deduplicated, several names may share one object) refers to its key
//     and no commit of that content is in flight in this process (from its
//     upload or dedup check until its record is in the index). The check
//     and the delete run while holding the key's upload lock, so a commit
//     of the same content that starts meanwhile waits and then uploads the
//     object again rather than recording a name for an object being
//     deleted. The check uses the in-memory index (as of Attach or Reload,
//     kept current by every write of this Vault): one writer at a time.
//   - A failure to delete the object (or a cancelled ctx before it) is not
//     an error: the name is already gone, and an object no name refers to
//     is harmless garbage (it costs storage, never correctness). It is
//     reported through Options.Logf.
//
// Crash order: a crash after the index write and before the delete leaves
// an unreferenced object (garbage, as above); no crash can leave a name
// whose object was deleted. Readers that opened the vault before the
// removal (another process's stale index) may find the version's object
// gone: a read then fails with store.ErrCorrupt, never wrong bytes.
func (v *Vault) RemoveVersion(ctx context.Context, versionPath string) error {
	if !validVersionPath(versionPath) {
		return fmt.Errorf("version path %q: %w", versionPath, store.ErrBadName)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	key, err := v.dropVersion(ctx, versionPath)
	if err != nil {
		return err
	}
	if err := v.collect(ctx, key); err != nil {
		v.opt.Logf("removed old version %s from the vault index, but its content object %s stays (unreferenced; harmless): %v",
			versionPath, key, err)
	}
	return nil
}

// dropVersion writes the index record that forgets versionPath and returns
// the content key it referred to.
func (v *Vault) dropVersion(ctx context.Context, versionPath string) (string, error) {
	v.ixMu.Lock()
	defer v.ixMu.Unlock()
	e, err := v.lookup(versionPath)
	if err != nil {
		return "", fmt.Errorf("remove old version: %w", err)
	}
	if err := v.appendLog(ctx, []record{{Op: "del", Name: versionPath}}); err != nil {
		return "", fmt.Errorf("remove old version %s: %w", versionPath, err)
	}
	return e.key, nil
}

// collect deletes the content object key if no name in the index refers
// to it and no commit of it is in flight. A nil error also means the
// object is still needed (and was kept).
func (v *Vault) collect(ctx context.Context, key string) error {
	// The key's upload lock: no upload or dedup check of this content runs
	// while we decide and delete.
	unlock, err := v.lockKey(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	if v.referenced(key) {
		return nil
	}
	if err := v.b.Delete(ctx, key); err != nil && !errors.Is(err, store.ErrNotExist) {
		return fmt.Errorf("delete content object: %w", err)
	}
	v.mu.Lock()
	delete(v.objs, key)
	delete(v.seen, key)
	v.mu.Unlock()
	return nil
}

// referenced reports whether a name in the index refers to key or a
// commit of that content is in flight.
func (v *Vault) referenced(key string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.committing[key] > 0 {
		return true
	}
	for _, e := range v.names {
		if e.key == key {
			return true
		}
	}
	return false
}
