package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
	"github.com/trove-backup/trove/internal/targetmeta"
)

// app is what every command that works on an existing setup needs.
type app struct {
	paths  config.Paths
	cfg    config.Config
	cat    *catalog.Catalog
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
}

// openApp loads the config and opens the catalog.
func openApp(cmd *cobra.Command) (*app, error) {
	paths, err := config.Locate()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(paths.Config)
	if err != nil {
		if errors.Is(err, config.ErrNoConfig) {
			return nil, &exitError{code: exitUsage, err: err}
		}
		return nil, &exitError{code: exitUsage, err: withHint(err, "fix the setting in "+paths.Config)}
	}
	cat, err := catalog.Open(paths.Catalog)
	if err != nil {
		return nil, withHint(err, "check that the catalog's folder exists and is writable")
	}
	// The config travels with the targets (their next refresh writes it):
	// recover brings it back with the photos.
	if err := targetmeta.CarryConfig(cat, cfg); err != nil {
		warnf(cmd.ErrOrStderr(), "the config will not travel with the targets: %v", err)
	}
	return &app{paths: paths, cfg: cfg, cat: cat, stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr(), now: time.Now}, nil
}

func (a *app) Close() { a.cat.Close() }

// libraryID is this setup's identity, written on every target it owns.
func (a *app) libraryID() (string, error) { return a.cat.Meta("library_id") }

// attach opens a target for a run, checking that the drive at its path is
// the one registered, and refreshes what the catalog knows of it.
//
// It handles folder and library targets only; a.open (stores.go) opens a
// target of any kind.
func (a *app) attach(t catalog.Target) (*local.Local, error) {
	if isRemote(t.Kind) {
		return nil, fmt.Errorf("%s is a %s target (%s), not a folder: this command works on folder targets only", t.Name, t.Kind, t.URL)
	}
	l, err := local.Attach(t.Path, t.ID)
	if err != nil {
		switch {
		case errors.Is(err, store.ErrNotAttached):
			return nil, withHint(fmt.Errorf("%s is not attached: %w", t.Name, err),
				fmt.Sprintf("plug in the drive for %s (expected at %s), or use `trove target list` to see where it was last seen", t.Name, t.Path))
		case errors.Is(err, store.ErrWrongTarget):
			return nil, withHint(fmt.Errorf("%s: %w", t.Name, err),
				"this is a different drive: mount the right one at "+t.Path)
		case errors.Is(err, local.ErrLocked):
			return nil, withHint(fmt.Errorf("%s: %w", t.Name, err), "wait for the other trove run to finish")
		}
		return nil, fmt.Errorf("attach %s: %w", t.Name, err)
	}
	t.Device = l.Device()
	t.FSType = l.Caps().FSType
	if b, err := json.Marshal(l.Caps()); err == nil {
		t.Caps = string(b)
	}
	t.LastSeenAt = a.now()
	if err := a.cat.UpdateTarget(t); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// nowFunc is the clock of the CLI (tests of pure packages inject their own).
var nowFunc = time.Now

// lookupTargets resolves target names given on the command line, in order,
// once each; an unknown name is a usage error with a hint.
func lookupTargets(cat *catalog.Catalog, names []string) ([]catalog.Target, error) {
	var out []catalog.Target
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		t, err := cat.TargetByName(n)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, &exitError{code: exitUsage, err: withHint(fmt.Errorf("unknown target %q", n), "see `trove target list`")}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// attachLibrary finds the library in the catalog and attaches it; a missing
// or unmounted library is an error with a hint (never "empty").
func (a *app) attachLibrary() (catalog.Target, *local.Local, error) {
	lib, err := a.cat.Library()
	if err != nil {
		return lib, nil, withHint(fmt.Errorf("the catalog has no library: %w", err), "run `trove init`")
	}
	l, err := a.attach(lib)
	if err != nil {
		return lib, nil, withHint(fmt.Errorf("library: %w", err),
			"check that the library folder "+lib.Path+" is there and its disk is mounted")
	}
	return lib, l, nil
}
