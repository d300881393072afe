package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes this test binary double as the trove command: testscript
// puts a copy named "trove" on PATH, and scripts and end-to-end tests run it
// as a separate process (so kill -9 and exit codes are real).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"trove": func() { os.Exit(run(context.Background(), os.Args[1:])) },
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
	})
}

// troveBin returns the path of the trove command set up by TestMain.
func troveBin(t testing.TB) string {
	p, err := exec.LookPath("trove")
	if err != nil {
		t.Fatalf("trove command not on PATH: %v", err)
	}
	return p
}
