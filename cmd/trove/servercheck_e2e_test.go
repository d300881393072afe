//go:build linux

package main

// End-to-end test of verify's server check on an encrypted vault on a real
// S3 server (.ci/s3.sh, versitygw): objects damaged behind Trove's back in
// the server's backing directory are found from the listing, by name, with
// almost nothing downloaded, and stop counting in `trove status`.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/verify"
)

// verifyResult decodes the final line of `trove verify --json`.
func verifyResult(t *testing.T, r result) verify.Result {
	t.Helper()
	var out struct {
		Event  string        `json:"event"`
		Result verify.Result `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.last()), &out); err != nil || out.Event != "result" {
		t.Fatalf("last stdout line is not the JSON result (%v): %s", err, r)
	}
	return out.Result
}

// TestE2EServerCheckS3Vault: a truncated object and a deleted object in
// the bucket are found by `trove verify vault --budget 1B` through the
// service's checksums, named, not downloaded, exit 1; status then counts
// those copies no more.
func TestE2EServerCheckS3Vault(t *testing.T) {
	env := needEnv(t, "TROVE_TEST_S3_ENDPOINT", "TROVE_TEST_S3_BUCKET", "TROVE_TEST_S3_DIR", "AWS_ACCESS_KEY_ID")
	const size = 100 << 10
	f := newFleet(t, 4, size, "drive-a")
	e := f.e
	vaultEnv(e)
	prefix := fmt.Sprintf("e2e-sc-%d", time.Now().UnixNano())
	url := "s3://" + env["TROVE_TEST_S3_BUCKET"] + "/" + prefix
	e.must(0, "target", "add", "vault", url, "--endpoint", env["TROVE_TEST_S3_ENDPOINT"], "--location", "cloud")
	e.must(0, "backup", "vault")

	// Fresh from the backup: every object matches its recorded checksum.
	r := e.must(0, "verify", "vault", "--budget", "1B")
	wantLine(t, r, r.stdout, "vault: server checksums: 4 unchanged", "100% of vault checked against the service's checksums today")
	// The upload's read-back was the first download of every copy.
	wantLine(t, r, r.stdout, "vault: 1 of 4 copies verified now", "100% of vault verified by download in the last 90 days")
	wantLine(t, r, r.stdout, "Verified 1 copy", "and checked 4 against the service's checksums on 1 target: all good.")

	// Without --budget or --sample every copy is downloaded: a hint says so.
	r = e.must(0, "verify", "vault")
	wantLine(t, r, r.stdout, "vault: 4 of 4 copies verified now")
	wantLine(t, r, r.stdout, "hint: every copy on vault was downloaded", "--budget")

	// Damage two content objects in the server's backing directory.
	data := filepath.Join(env["TROVE_TEST_S3_DIR"], env["TROVE_TEST_S3_BUCKET"], prefix, "data")
	var objects []string
	err := filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			objects = append(objects, p)
		}
		return err
	})
	if err != nil || len(objects) != 4 {
		t.Fatalf("content objects under %s: %q, %v (want 4)", data, objects, err)
	}
	sort.Strings(objects)
	if err := os.Truncate(objects[0], 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(objects[1]); err != nil {
		t.Fatal(err)
	}

	r = e.must(1, "verify", "vault", "--budget", "1B", "--json")
	res := verifyResult(t, r)
	if len(res.Targets) != 1 || res.Targets[0].Server == nil {
		t.Fatalf("no server check in the result: %s", r)
	}
	tr := res.Targets[0]
	if want := (verify.ServerCounts{OK: 2, Changed: 1, Missing: 1}); tr.Server.ServerCounts != want {
		t.Errorf("server counts %+v, want %+v", tr.Server.ServerCounts, want)
	}
	var changed, missing string
	for _, p := range res.Problems {
		switch {
		case p.State == "corrupt" && strings.HasPrefix(p.Message, "changed on the server"):
			changed = p.File
		case p.State == "missing" && strings.Contains(p.Message, "not found on the service"):
			missing = p.File
		default:
			t.Errorf("unexpected problem %+v", p)
		}
	}
	if !slices.Contains(f.files, changed) || !slices.Contains(f.files, missing) || changed == missing {
		t.Fatalf("the damaged copies are not named: changed %q, missing %q: %s", changed, missing, r)
	}
	// Almost nothing downloaded: the one copy a budget always allows, and
	// not a damaged one.
	if tr.Checked != 1 || tr.Bytes > size {
		t.Errorf("downloaded %d copies, %d bytes; want 1 copy of at most %d bytes", tr.Checked, tr.Bytes, size)
	}
	for _, ev := range events(r, "verified") {
		if ev.File == changed || ev.File == missing {
			t.Errorf("the damaged copy %s was downloaded again", ev.File)
		}
	}

	// The human report names them, with the two coverage lines.
	r = e.must(1, "verify", "vault", "--budget", "1B")
	wantLine(t, r, r.stdout, changed+" on vault: corrupt: changed on the server")
	wantLine(t, r, r.stdout, missing+" on vault: missing: not found on the service")
	wantLine(t, r, r.stdout, "vault: server checksums: 2 unchanged, 1 changed, 1 missing", "50% of vault checked against the service's checksums today")
	wantLine(t, r, r.stdout, "1 missing, 1 corrupt")

	// Those copies no longer count: the shoot has no off-site copy of them.
	st := e.must(3, "status", "--check")
	wantLine(t, st, st.stdout, "copy on vault is corrupt")
	wantLine(t, st, st.stdout, "copy on vault is missing")
	if s, _, _ := copyState(t, e.home, changed, "vault"); s != "corrupt" {
		t.Errorf("catalog state of %s on vault: %s, want corrupt", changed, s)
	}
}
