package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
	"github.com/trove-backup/trove/internal/verify"
)

func newVerifyCmd() *cobra.Command {
	var asJSON bool
	var sample string
	cmd := &cobra.Command{
		Use:   "verify [TARGET...] [--sample PERCENT] [--json]",
		Short: "Re-read copies from their drives and check them against the catalog",
		Long: `Reads every copy on each attached target back from the device (the page cache is
bypassed) and compares its SHA-256 with the catalog. Missing, truncated and corrupted
copies are reported by name; they stop counting as copies (trove status says so) until
` + "`trove repair`" + ` replaces them. The manifest on each target is checked too: one edited
by hand is reported and rewritten from the catalog.

TARGET defaults to every target, the library included. A target that is not attached is
skipped with one line; its copies keep their state (absent is not missing).

--sample checks that percentage of each target's copies, least recently verified first,
so repeated sampled runs cover every copy; the coverage is printed per target.
Exit code 1 when any problem was found.`,
		Example: `  trove verify
  trove verify drive-a --sample 25
  trove verify library --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			pct := 0.0
			if sample != "" {
				v, err := strconv.ParseFloat(strings.TrimSuffix(sample, "%"), 64)
				if err != nil || !(v > 0 && v <= 100) {
					return usageError("--sample %q: give a percentage between 1 and 100", sample)
				}
				pct = v
			}
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			set, err := attachChosen(a, args)
			if err != nil {
				return err
			}
			defer set.Close()
			days := a.cfg.Policy.VerifyWithinDays
			if days <= 0 {
				days = 90
			}
			windows := []time.Duration{time.Duration(days) * 24 * time.Hour}
			if days > 30 {
				windows = append(windows, 30*24*time.Hour)
			}
			o := verify.Options{Catalog: a.cat, Away: set.away, Sample: pct, Windows: windows,
				Sink: newSink(a, asJSON, "to check"), Now: a.now, Args: strings.TrimSpace(strings.Join(args, " ") + " " + sampleArg(sample))}
			for _, at := range set.attached {
				o.Targets = append(o.Targets, verify.Target{Target: at.t, Store: at.l, Attached: stillAttached(at)})
			}
			res, runErr := verify.Run(cmd.Context(), o)
			o.Sink.Close()
			if res == nil {
				return runErr
			}
			for _, f := range set.failed {
				res.Problems = append(res.Problems, verify.Problem{Target: f.name, Message: f.err.Error()})
			}
			if asJSON {
				printJSONResult(a.stdout, res, runErr)
			} else {
				printVerify(a.stdout, res, set, runErr)
			}
			return jobExit(cmd, runErr, !res.OK())
		},
	}
	cmd.Flags().StringVar(&sample, "sample", "", "verify only this percentage of each target's copies, least recently verified first")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress events and the result as JSON lines")
	return cmd
}

// attachedTarget is a target opened for a run.
type attachedTarget struct {
	t catalog.Target
	l *local.Local
}

// failedTarget is a chosen target that could not be opened for another
// reason than being absent (a different drive at its path, locked...).
type failedTarget struct {
	name string
	err  error
}

// targetSet is the outcome of attaching the targets a job works on.
type targetSet struct {
	attached []attachedTarget
	away     []catalog.Target // not attached: skipped, never touched
	failed   []failedTarget
}

// Close detaches every attached target.
func (s *targetSet) Close() {
	for _, at := range s.attached {
		at.l.Close()
	}
}

// byName returns the attached target with that name.
func (s *targetSet) byName(name string) (attachedTarget, bool) {
	for _, at := range s.attached {
		if at.t.Name == name {
			return at, true
		}
	}
	return attachedTarget{}, false
}

// attachChosen attaches the named targets (default: every target, the
// library included). Unknown names are a usage error; a target that is not
// attached goes to away, one that fails otherwise to failed.
func attachChosen(a *app, names []string) (*targetSet, error) {
	all, err := a.cat.Targets()
	if err != nil {
		return nil, err
	}
	chosen := all
	if len(names) > 0 {
		chosen = nil
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			t, err := a.cat.TargetByName(n)
			if errors.Is(err, catalog.ErrNotFound) {
				return nil, &exitError{code: exitUsage, err: withHint(fmt.Errorf("unknown target %q", n), "see `trove target list`")}
			}
			if err != nil {
				return nil, err
			}
			chosen = append(chosen, t)
		}
	}
	set := &targetSet{}
	for _, t := range chosen {
		l, err := a.attach(t)
		switch {
		case err == nil:
			set.attached = append(set.attached, attachedTarget{t: t, l: l})
		case errors.Is(err, store.ErrNotAttached):
			set.away = append(set.away, t)
		default:
			set.failed = append(set.failed, failedTarget{name: t.Name, err: err})
		}
	}
	return set, nil
}

// stillAttached checks by path that the target's drive is still the one
// attached at the start of the run (not unplugged, not replaced).
func stillAttached(at attachedTarget) func() error {
	return func() error {
		id, err := local.ReadIdentity(at.t.Path)
		if err != nil {
			return err
		}
		if id.TargetID != at.t.ID {
			return fmt.Errorf("a different drive is now at %s: %w", at.t.Path, store.ErrWrongTarget)
		}
		dev, err := local.DeviceOf(at.t.Path)
		if err != nil {
			return err
		}
		if dev != at.l.Device() {
			return fmt.Errorf("%s is on another device now: %w", at.t.Path, store.ErrDeviceChanged)
		}
		return nil
	}
}

// newSink picks the progress renderer: JSON lines on stdout, bars on a
// terminal, plain lines otherwise.
func newSink(a *app, asJSON bool, verb string) progress.Sink {
	switch {
	case asJSON:
		return progress.NewJSON(a.stdout, a.now)
	case progress.IsTerminal(a.stderr):
		return progress.NewTerminal(a.stderr)
	default:
		return planVerb{progress.NewPlain(a.stderr, a.now), verb}
	}
}

// planVerb names the work in the plain renderer's plan line
// ("drive-a: 4 files to check (1.1 MiB)") instead of "to copy".
type planVerb struct {
	progress.Sink
	verb string
}

func (p planVerb) Emit(e progress.Event) {
	if e.Kind == progress.Plan && e.Message == "" {
		e.Message = p.verb
	}
	p.Sink.Emit(e)
}

// jobExit maps a job's outcome to the exit code: 130 when interrupted, 1 on
// a run error or any problem.
func jobExit(cmd *cobra.Command, runErr error, problems bool) error {
	switch {
	case runErr != nil && cmd.Context().Err() != nil:
		return &exitError{code: exitInterrupt, silent: true}
	case runErr != nil || problems:
		return &exitError{code: exitFailure, silent: true}
	}
	return nil
}

// printJSONResult prints the final JSON line {"event":"result",...}.
func printJSONResult(w io.Writer, res any, runErr error) {
	out := map[string]any{"event": "result", "result": res}
	if runErr != nil {
		out["error"] = runErr.Error()
	}
	json.NewEncoder(w).Encode(out)
}

func printVerify(w io.Writer, res *verify.Result, set *targetSet, runErr error) {
	for _, n := range res.Away {
		fmt.Fprintf(w, "%s: not attached, skipped (its copies keep their state)\n", n)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(w, "Problems (%d):\n", len(res.Problems))
		for _, p := range res.Problems {
			where := p.Target
			if p.File != "" {
				where = p.File + " on " + p.Target
			}
			msg := p.Message
			if p.State != "" {
				msg = p.State + ": " + msg
			}
			fmt.Fprintf(w, "  %s: %s\n", where, msg)
		}
	}
	var missing, corrupt int
	for _, t := range res.Targets {
		missing += t.Missing
		corrupt += t.Corrupt
		fmt.Fprintf(w, "%s: %s of %s copies verified now", t.Target, verify.Commas(int64(t.Checked)), verify.Commas(int64(t.Copies)))
		for i, c := range t.Coverage {
			sep := "; "
			if i > 0 {
				sep = ", "
			}
			fmt.Fprintf(w, "%s%d%% verified in the last %d days", sep, percent(c.Verified, c.Total), c.Days)
		}
		fmt.Fprintln(w)
	}
	verdict := fmt.Sprintf("Verified %s (%s) on %s", plural(res.Checked, "copy", "copies"),
		progress.FormatBytes(res.Bytes), plural(len(res.Targets), "target", "targets"))
	switch {
	case missing+corrupt > 0:
		fmt.Fprintf(w, "%s: %d missing, %d corrupt.\n", verdict, missing, corrupt)
		fmt.Fprintln(w, "hint: run `trove repair` to replace them from good copies")
	case len(res.Problems) > 0:
		fmt.Fprintf(w, "%s: all copies good, %s.\n", verdict, plural(len(res.Problems), "other problem", "other problems"))
	default:
		fmt.Fprintf(w, "%s: all good.\n", verdict)
	}
	if runErr != nil {
		fmt.Fprintf(w, "trove: %v\n", runErr)
	}
}

func sampleArg(s string) string {
	if s == "" {
		return ""
	}
	return "--sample " + s
}

// percent is verified/total rounded down (so 100% means every copy).
func percent(n, total int) int {
	if total == 0 {
		return 100
	}
	return n * 100 / total
}
