package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/trove-backup/trove/internal/testenv"
)

// TestMain makes this test binary double as the trove command: testscript
// puts a copy named "trove" on PATH, and scripts and end-to-end tests run it
// as a separate process (so kill -9 and exit codes are real).
//
// Under -race every such process would sleep 1 s at exit (the race runtime's
// default atexit_sleep_ms), which adds minutes to the end-to-end tests; the
// children get atexit_sleep_ms=0 unless GORACE is set. Races are still
// reported (and make trove exit 66).
func TestMain(m *testing.M) {
	if _, ok := os.LookupEnv("GORACE"); !ok {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	testscript.Main(m, map[string]func(){
		"trove": main, // the real entry point: signals (Ctrl-C → exit 130) behave as in the shipped binary
	})
}

// TestScripts runs the readable CLI specs in testdata/script.
func TestScripts(t *testing.T) {
	photos, err := filepath.Abs("../../testdata/photos")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("TROVE_HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("PHOTOS", photos)
			return nil
		},
		RequireExplicitExec: true,
		Condition:           scriptCondition,
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"exits":   cmdExits,
			"mkdrive": cmdMkdrive,
		},
	})
}

// scriptCondition adds [root]: Linux as root, able to mount a second drive.
// Under TROVE_TEST_STRICT=1 a missing root is an error, not a skip.
func scriptCondition(cond string) (bool, error) {
	if cond != "root" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	ok := runtime.GOOS == "linux" && os.Geteuid() == 0
	if !ok && testenv.Strict() {
		return false, fmt.Errorf("[root]: %s=1 forbids skipping a spec that needs root", testenv.StrictEnv)
	}
	return ok, nil
}

// cmdExits runs a command and checks its exact exit code; its stdout and
// stderr are kept for the next stdout/stderr checks.
//
//	exits 3 trove ingest card --project X
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// cmdMkdrive mounts a fresh 64 MiB tmpfs at DIR (created if needed): a
// separate device, so that SAFE TO FORMAT is reachable. It is unmounted
// when the script ends. Guard it with [!root] skip.
//
//	mkdrive drive
func cmdMkdrive(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mkdrive DIR")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		ts.Fatalf("mount tmpfs at %s: %v: %s", dir, err, out)
	}
	ts.Defer(func() { exec.Command("umount", "-l", dir).Run() })
}

// troveBin returns the path of the trove command set up by TestMain.
func troveBin(t testing.TB) string {
	p, err := exec.LookPath("trove")
	if err != nil {
		t.Fatalf("trove command not on PATH: %v", err)
	}
	return p
}
