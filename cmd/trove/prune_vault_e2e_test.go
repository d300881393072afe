//go:build linux

package main

// End-to-end tests of `trove prune` on encrypted vaults: a photo deleted
// from the library leaves an old version on a drive and in the vault; once
// out of retention, `trove prune VAULT` forgets the vault's version and
// deletes its encrypted content object from the bucket, keeps the drive's
// (the last copy), and leaves every current file readable.

import (
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// dataObjects lists the vault's content objects (data/…) below root, the
// vault's folder on the storage.
func dataObjects(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(root, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// prunesVault runs the scenario on a fleet whose vault target is name,
// its storage folder root.
func prunesVault(t *testing.T, f *fleet, name, root string) {
	t.Helper()
	e := f.e
	r := e.must(0, "backup")
	wantLine(t, r, r.stdout, name+": 4 files copied")
	before := dataObjects(t, root)
	if len(before) != 4 {
		t.Fatalf("%d content objects in the vault, want 4: %v", len(before), before)
	}
	gone := f.files[0]
	if err := os.Remove(f.path("library", gone)); err != nil {
		t.Fatal(err)
	}
	e.must(0, "backup")

	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.home, "catalog.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var vaultVersion string
	err = db.QueryRow(`SELECT v.path FROM versions v JOIN targets t ON t.id = v.target_id WHERE t.name = ?`, name).Scan(&vaultVersion)
	if err != nil {
		t.Fatalf("the vault's old version of %s in the catalog: %v", gone, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM versions`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d old versions (%v), want one on the drive and one in the vault", n, err)
	}
	if _, err := db.Exec(`UPDATE versions SET created_at = '2020-01-01T00:00:00.000000000Z'`); err != nil {
		t.Fatal(err)
	}

	r = e.must(0, "prune", name, "--dry-run")
	wantLine(t, r, r.stdout, "would delete "+name+": "+vaultVersion, "deleted version of "+gone)
	if got := dataObjects(t, root); !slices.Equal(got, before) {
		t.Fatalf("dry run changed the vault's objects: %v, was %v", got, before)
	}

	r = e.must(0, "prune", name)
	wantLine(t, r, r.stdout, "deleted "+name+": "+vaultVersion)
	wantLine(t, r, r.stdout, "Deleted 1 old version")
	after := dataObjects(t, root)
	if len(after) != 3 {
		t.Fatalf("content objects after prune: %v, want 3 of %v", after, before)
	}
	for _, k := range after {
		if !slices.Contains(before, k) {
			t.Fatalf("new object %s after prune", k)
		}
	}
	// The drive's version is now the last copy of that photo: kept.
	r = e.must(0, "prune")
	wantLine(t, r, r.stdout, "kept drive-a: ", "the last copy of this content anywhere")
	wantLine(t, r, r.stdout, "Deleted 0 old versions")
	if err := db.QueryRow(`SELECT count(*) FROM versions`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d old versions left (%v), want the drive's", n, err)
	}

	// The current files are untouched: verify downloads and checks every
	// one from the vault.
	r = e.must(0, "verify", name)
	wantLine(t, r, r.stdout, name+": 3 of 3 copies verified now")
	// A second run in another process sees the same vault index.
	r = e.must(0, "prune", name)
	wantLine(t, r, r.stdout, "Deleted 0 old versions")
	checkCatalog(t, e.home)
}

// TestE2EPruneVaultRclone: a vault on an rclone local remote.
func TestE2EPruneVaultRclone(t *testing.T) {
	f := newFleet(t, 4, 64<<10, "drive-a")
	vaultEnv(f.e)
	url, dir := rcloneEnv(t, f.e)
	f.e.must(0, "target", "add", "cloud", url, "--location", "cloud")
	prunesVault(t, f, "cloud", dir)
}

// TestE2EPruneVaultS3: a vault on S3 (versitygw, .ci/s3.sh).
func TestE2EPruneVaultS3(t *testing.T) {
	env := needEnv(t, "TROVE_TEST_S3_ENDPOINT", "TROVE_TEST_S3_BUCKET", "TROVE_TEST_S3_DIR", "AWS_ACCESS_KEY_ID")
	f := newFleet(t, 4, 64<<10, "drive-a")
	vaultEnv(f.e)
	prefix := fmt.Sprintf("e2e-prune-%d", time.Now().UnixNano())
	url := "s3://" + env["TROVE_TEST_S3_BUCKET"] + "/" + prefix
	f.e.must(0, "target", "add", "vault", url, "--endpoint", env["TROVE_TEST_S3_ENDPOINT"], "--location", "cloud")
	prunesVault(t, f, "vault", filepath.Join(env["TROVE_TEST_S3_DIR"], env["TROVE_TEST_S3_BUCKET"], prefix))
}
