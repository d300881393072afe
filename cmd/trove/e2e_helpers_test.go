//go:build linux

package main

// Helpers for the end-to-end tests (e2e_*_test.go): they run the real trove
// command (this test binary, see TestMain) as a separate process, provoke
// faults with real filesystems (internal/testenv), and check what the user
// sees and what is left on disk.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite" // catalog reader for the consistency checks
)

// e2eTimeout bounds every trove process an end-to-end test starts: a guard
// against hangs, generous because the tests run in parallel under -race on
// small machines. Typical runs take a second or two (the 4 GiB FAT32 case
// up to a minute).
const e2eTimeout = 150 * time.Second

// shootTime is the modification time given to generated card files (they
// have no EXIF date, so they land in a folder named after it).
var shootTime = time.Date(2024, 6, 1, 12, 0, 0, 0, time.Local)

// shootDir is the library folder of generated files ingested with project p.
func shootDir(p string) string { return "2024/2024-06-01 " + p }

// e2eEnv is one Trove setup: TROVE_HOME, a library folder and the command.
type e2eEnv struct {
	t    *testing.T
	bin  string
	home string
	lib  string
	env  []string
	cred *syscall.Credential // run trove as this user when set
}

// newEnv prepares (but does not init) a setup with TROVE_HOME=home and the
// library at lib.
func newEnv(t *testing.T, home, lib string) *e2eEnv {
	t.Helper()
	env := append(os.Environ(), "TROVE_HOME="+home, "HOME="+filepath.Dir(home))
	return &e2eEnv{t: t, bin: troveBin(t), home: home, lib: lib, env: env}
}

// result is what one trove process showed the user.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

// last returns the last non-empty stdout line: the verdict.
func (r result) last() string {
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	return lines[len(lines)-1]
}

func (r result) String() string {
	return fmt.Sprintf("trove %s: exit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// command builds the exec.Cmd for trove args.
func (e *e2eEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, e.bin, args...)
	c.Env = e.env
	if e.cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	}
	return c
}

// run runs trove to completion (bounded by e2eTimeout).
func (e *e2eEnv) run(args ...string) result {
	e.t.Helper()
	return e.watch(args, nil)
}

// must runs trove and fails the test unless it exits with code want.
func (e *e2eEnv) must(want int, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != want {
		e.t.Fatalf("want exit %d from %s", want, r)
	}
	return r
}

// jsonEvent is one line of `trove ingest --json` (progress event or result).
type jsonEvent struct {
	Event string `json:"event"`
	Dest  string `json:"dest"`
	File  string `json:"file"`
	Err   string `json:"error"`
}

// watch runs trove, calling onLine (when not nil) for each stdout line as it
// arrives, with the running process so it can signal it. The process is
// killed after e2eTimeout (the test then fails).
func (e *e2eEnv) watch(args []string, onLine func(p *os.Process, line string)) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	c := e.command(ctx, args...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	// A one-page pipe: trove blocks on its progress output when it is more
	// than a few events ahead of us, so a hook that pauses or kills it after
	// an event acts at that moment, not after the run finished.
	out, w, err := os.Pipe()
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Close()
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
		e.t.Logf("shrink stdout pipe: %v", err)
	}
	c.Stdout = w
	err = c.Start()
	w.Close()
	if err != nil {
		e.t.Fatalf("start trove: %v", err)
	}
	// A stopped process (SIGSTOP in a test) must not outlive a failing test.
	defer func() {
		c.Process.Signal(syscall.SIGCONT)
	}()
	var stdout bytes.Buffer
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		stdout.WriteString(line + "\n")
		if onLine != nil {
			onLine(c.Process, line)
		}
	}
	io.Copy(io.Discard, out)
	err = c.Wait()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), code: c.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		e.t.Fatalf("trove did not finish within %v: %s", e2eTimeout, r)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.t.Fatalf("run trove: %v", err)
	}
	if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.code = -int(ws.Signal())
	}
	if len(r.stdout) < 8000 {
		e.t.Log(r.String())
	} else {
		e.t.Logf("trove %s: exit %d, %d bytes of stdout ending in %q\n--- stderr\n%s", strings.Join(args, " "), r.code, len(r.stdout), r.last(), r.stderr)
	}
	if strings.Contains(r.stderr, "WARNING: DATA RACE") {
		e.t.Errorf("the race detector found a data race in trove: %s", r)
	}
	return r
}

// onFirst returns an onLine hook that calls fn once, for the first progress
// event of kind ev on dest ("" = any).
func onFirst(ev, dest string, fn func(p *os.Process)) func(*os.Process, string) {
	return onNth(1, ev, dest, fn)
}

// onNth is onFirst for the nth such event.
func onNth(n int, ev, dest string, fn func(p *os.Process)) func(*os.Process, string) {
	var once sync.Once
	seen := 0
	return func(p *os.Process, line string) {
		var e jsonEvent
		if json.Unmarshal([]byte(line), &e) != nil || e.Event != ev || (dest != "" && e.Dest != dest) {
			return
		}
		if seen++; seen >= n {
			once.Do(func() { fn(p) })
		}
	}
}

// ingestResult is the final JSON line of `trove ingest --json`.
type ingestResult struct {
	Event  string `json:"event"`
	Copied int    `json:"copied"`
	Known  int    `json:"known"`
	Failed int    `json:"failed"`
	Files  []struct {
		Source  string   `json:"source"`
		Path    string   `json:"path"`
		Status  string   `json:"status"`
		Copies  []string `json:"copies"`
		Devices int      `json:"devices"`
		DateSrc string   `json:"date_source"`
	} `json:"files"`
	Problems []struct {
		File string `json:"file"`
		Dest string `json:"dest"`
		Err  string `json:"error"`
	} `json:"problems"`
	Safe    bool   `json:"safe_to_format"`
	Verdict string `json:"verdict"`
	Error   string `json:"error"`
}

// parseResult decodes the last stdout line of `trove ingest --json`.
func parseResult(t *testing.T, r result) ingestResult {
	t.Helper()
	var res ingestResult
	if err := json.Unmarshal([]byte(r.last()), &res); err != nil || res.Event != "result" {
		t.Fatalf("last stdout line is not the JSON result (%v): %s", err, r)
	}
	return res
}

// events returns the progress events of kind ev in a --json run.
func events(r result, ev string) []jsonEvent {
	var out []jsonEvent
	for _, line := range strings.Split(r.stdout, "\n") {
		var e jsonEvent
		if json.Unmarshal([]byte(line), &e) == nil && e.Event == ev {
			out = append(out, e)
		}
	}
	return out
}

// initLib runs `trove init` with the env's library.
func (e *e2eEnv) initLib() {
	e.t.Helper()
	e.must(0, "init", "--library", e.lib)
}

// addTarget registers dir as an ingest target named name.
func (e *e2eEnv) addTarget(name, dir string) {
	e.t.Helper()
	e.must(0, "target", "add", name, dir, "--medium", "hdd", "--location", "home", "--ingest")
}

// writeFile writes data at path (creating folders) with mtime shootTime.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, shootTime, shootTime); err != nil {
		t.Fatal(err)
	}
}

// noise is a block of pseudo-random bytes that generated files are cut from.
var noise = sync.OnceValue(func() []byte {
	b := make([]byte, 1<<20+4096)
	rand.NewChaCha8([32]byte{'t', 'r', 'o', 'v', 'e'}).Read(b)
	return b
})

// randomBytes returns n incompressible bytes, different for every seed: the
// seed up front, then the noise block from a seed-dependent offset,
// repeated. (Cheap also under -race, where byte loops are slow.)
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	src := noise()
	off := int(seed*4099) % 4096
	for i := 0; i < n; {
		i += copy(b[i:], src[off:])
	}
	for k := 0; k < 8 && k < n; k++ {
		b[k] = byte(seed >> (8 * k))
	}
	return b
}

// makeCard writes n files of size bytes with distinct content as
// card/DCIM/100CANON/IMG_0001.JPG… and returns their names.
func makeCard(t *testing.T, card string, n, size int, seed uint64) []string {
	t.Helper()
	var names []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("IMG_%04d.JPG", i)
		writeFile(t, filepath.Join(card, "DCIM", "100CANON", name), randomBytes(seed*1000+uint64(i), size))
		names = append(names, name)
	}
	return names
}

func sumFile(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("hash %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tree is what a target folder holds: final names (slash paths below the
// root, without .trove) with their sha256, and leftover temporaries.
type tree struct {
	files map[string]string
	temps []string
}

// scanTree reads every regular file below root.
func scanTree(t *testing.T, root string) tree {
	t.Helper()
	tr := tree{files: map[string]string{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir() && rel == ".trove":
			return fs.SkipDir
		case d.IsDir():
			return nil
		case strings.Contains(d.Name(), ".trove-tmp-"):
			tr.temps = append(tr.temps, rel)
		case rel == "README.txt" || rel == "INDEX.html":
		case d.Type().IsRegular():
			tr.files[rel] = sumFile(t, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	return tr
}

// sourceSums returns the sha256 of every file below dir.
func sourceSums(t *testing.T, dirs ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, d := range dirs {
		for _, s := range scanTree(t, d).files {
			out[s] = true
		}
	}
	return out
}

// noTemps fails the test when a temporary is left below any root.
func noTemps(t *testing.T, roots ...string) {
	t.Helper()
	for _, r := range roots {
		if tmps := scanTree(t, r).temps; len(tmps) > 0 {
			t.Errorf("temporaries left in %s: %v", r, tmps)
		}
	}
}

// onlyComplete fails the test when a final name below root holds anything
// but the complete content of one of the source files (a half-written or
// foreign file).
func onlyComplete(t *testing.T, root string, sums map[string]bool) {
	t.Helper()
	for name, s := range scanTree(t, root).files {
		if !sums[s] {
			t.Errorf("%s/%s is not a complete copy of any source file (sha256 %s)", root, name, s[:12])
		}
	}
}

// catRow is one copy as the catalog lists it.
type catRow struct {
	File, FileSum, DateSource, Original string
	Target, TargetID, TargetPath        string
	Path, CopySum, State                string
}

// readCatalog reads every copy from home/catalog.db (read-only; files without
// copies are listed with an empty Target).
func readCatalog(t *testing.T, home string) []catRow {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, "catalog.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT f.path, f.sha256, f.date_source, f.original_name,
		COALESCE(t.name, ''), COALESCE(t.id, ''), COALESCE(t.path, ''),
		COALESCE(c.path, ''), COALESCE(c.sha256, ''), COALESCE(c.state, '')
		FROM files f LEFT JOIN copies c ON c.file_id = f.id LEFT JOIN targets t ON t.id = c.target_id
		ORDER BY f.path, t.name`)
	if err != nil {
		t.Fatalf("read catalog: %v", err)
	}
	defer rows.Close()
	var out []catRow
	for rows.Next() {
		var r catRow
		if err := rows.Scan(&r.File, &r.FileSum, &r.DateSource, &r.Original, &r.Target, &r.TargetID, &r.TargetPath,
			&r.Path, &r.CopySum, &r.State); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read catalog: %v", err)
	}
	return out
}

// attachedHere reports whether the target with id is at dir now.
func attachedHere(dir, id string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ".trove", "target.json"))
	if err != nil {
		return false
	}
	var ident struct {
		TargetID string `json:"target_id"`
	}
	return json.Unmarshal(b, &ident) == nil && ident.TargetID == id
}

// checkCatalog checks that every copy the catalog lists as ok, on a target
// attached now, exists and hashes to the catalog's sha256 (the file's and the
// copy's). It returns the number of ok copies it checked per target name.
func checkCatalog(t *testing.T, home string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range readCatalog(t, home) {
		if r.State != "ok" || !attachedHere(r.TargetPath, r.TargetID) {
			continue
		}
		p := filepath.Join(r.TargetPath, filepath.FromSlash(r.Path))
		if _, err := os.Stat(p); err != nil {
			t.Errorf("catalog lists a verified copy of %s on %s at %s, but: %v", r.File, r.Target, r.Path, err)
			continue
		}
		got := sumFile(t, p)
		if got != r.FileSum || (r.CopySum != "" && got != r.CopySum) {
			t.Errorf("copy of %s on %s (%s) hashes to %s, catalog says %s (copy %s)", r.File, r.Target, r.Path, got[:12], r.FileSum[:12], r.CopySum)
			continue
		}
		n[r.Target]++
	}
	return n
}

// exactlyCatalog checks that the final names below a target's root are
// exactly its ok copies in the catalog: nothing unrecorded, nothing missing.
func exactlyCatalog(t *testing.T, home, target, root string) {
	t.Helper()
	want := map[string]string{}
	for _, r := range readCatalog(t, home) {
		if r.Target == target && r.State == "ok" {
			want[r.Path] = r.FileSum
		}
	}
	got := scanTree(t, root).files
	for p, s := range got {
		if w, ok := want[p]; !ok {
			t.Errorf("%s holds %s, which the catalog does not list", target, p)
		} else if w != s {
			t.Errorf("%s: %s hashes to %s, catalog says %s", target, p, s[:12], w[:12])
		}
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			t.Errorf("catalog lists %s on %s, but it is not there", p, target)
		}
	}
}

// wantLine fails unless some line of out contains every one of parts.
func wantLine(t *testing.T, r result, out string, parts ...string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			return
		}
	}
	t.Errorf("no line contains all of %q: %s", parts, r)
}

// mustNotContain fails if out contains s.
func mustNotContain(t *testing.T, r result, out, s string) {
	t.Helper()
	if strings.Contains(out, s) {
		t.Errorf("output contains %q: %s", s, r)
	}
}
