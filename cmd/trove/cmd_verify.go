package main

import (
	"context"
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
	"github.com/trove-backup/trove/internal/store/sftp"
	"github.com/trove-backup/trove/internal/verify"
)

func newVerifyCmd() *cobra.Command {
	var asJSON bool
	var sample, budget string
	cmd := &cobra.Command{
		Use:   "verify [TARGET...] [--sample PERCENT] [--budget SIZE] [--json]",
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
--budget caps the bytes downloaded from each target ("5GiB"), least recently verified
copies first (at least one copy per run). Every copy checked is recorded with the time it
was proven; the coverage line says how much of each target was proven recently.

Cloud vaults (S3, rclone): without --sample or --budget, EVERY copy is downloaded,
decrypted and hashed, and services like AWS bill that download (egress). For a nightly or
weekly check use a budget, e.g. ` + "`trove verify vault --budget 5GiB`" + `: the runs rotate
through the whole vault over time.

Server checksums: where the service keeps a checksum of every object (S3, and rclone
remotes that report hashes), verify first compares EVERY copy with it, from a listing, at
no download cost. A match shows that the object is still there, whole and unchanged since
Trove uploaded it and read it back; it does not re-read the bytes, so it cannot prove the
photo decrypts and hashes right (damage inside the service is for the service to catch).
Sampled downloads prove that. A copy the service reports missing or changed is recorded
missing or corrupt at once. A copy without a checksum to compare with yet (uploaded by an
older Trove, or a service without checksums) is "unknown": the downloads check it, and a
downloaded copy gets its checksum recorded for the next run. Server checks are shown on
their own line ("100% of vault checked against the service's checksums today") and never
count as verified by download.

SFTP servers that can run sha256sum hash the chosen copies themselves: every byte is
re-read on the server and only the hash crosses the network. That counts as verified;
--budget (downloads) does not limit it, --sample does.

Exit code 1 when any problem was found (a missing, changed or corrupt copy among them);
4 when a target refused its passphrase or credentials (the other targets are still checked).`,
		Example: `  trove verify
  trove verify drive-a --sample 25
  trove verify vault --budget 5GiB
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
			var budgetBytes int64
			if budget != "" {
				v, err := parseSize(budget)
				if err != nil {
					return usageError("--budget %q: %v (e.g. 5GiB, 500MB)", budget, err)
				}
				budgetBytes = v
			}
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			set, err := openChosen(cmd.Context(), a, args)
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
			o := verify.Options{Catalog: a.cat, Away: set.away, Sample: pct, Budget: budgetBytes, Windows: windows,
				Sink: newSink(a, asJSON, "to check"), Now: a.now,
				Args: strings.TrimSpace(strings.Join(args, " ") + " " + sampleArg(sample) + budgetArg(budget))}
			for _, at := range set.attached {
				o.Targets = append(o.Targets, verify.Target{Target: at.t, Store: at.store(), Attached: stillAttached(at)})
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
				printVerify(a.stdout, res, set, runErr, sample == "" && budget == "")
			}
			// A target that could not be read was not verified: say so in the
			// exit code too (absent is not missing, but it is not checked).
			return jobExit(cmd, runErr, !res.OK() || len(res.Away) > 0)
		},
	}
	cmd.Flags().StringVar(&budget, "budget", "", "download at most this much from each target (e.g. 5GiB), least recently verified copies first; server checks and server hashes are not downloads")
	cmd.Flags().StringVar(&sample, "sample", "", "verify only this percentage of each target's copies, least recently verified first")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress events and the result as JSON lines")
	return cmd
}

// attachedTarget is a target opened for a run. l is the folder store of
// folder and library targets (nil for remote ones); s is the store of any
// kind (nil only where a caller built the value from l alone).
type attachedTarget struct {
	t   catalog.Target
	l   *local.Local
	s   store.Store
	dev string
	c   func() error
}

// store returns the target's store, whatever its kind.
func (at attachedTarget) store() store.Store {
	if at.s != nil {
		return at.s
	}
	return at.l
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
		if at.c != nil {
			at.c()
		} else if at.l != nil {
			at.l.Close()
		}
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

// chooseTargets resolves target names (default: every target, the library
// included). Unknown names are a usage error.
func chooseTargets(a *app, names []string) ([]catalog.Target, error) {
	all, err := a.cat.Targets()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return all, nil
	}
	var chosen []catalog.Target
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
	return chosen, nil
}

// attachChosen attaches the named folder targets (default: every folder
// target, the library included). Remote targets (SFTP, cloud vaults) are
// left out by default and refused when named: use openChosen for jobs that
// work on any kind.
func attachChosen(a *app, names []string) (*targetSet, error) {
	return openKinds(context.Background(), a, names, func(kind string) bool { return !isRemote(kind) }, "folder targets")
}

// openChosen attaches the named targets of any kind (default: every
// target, the library included). Unknown names are a usage error. An
// unreachable server or a drive that is not attached goes to away (absent
// is not missing); an unknown or changed host key, refused credentials, a
// wrong passphrase or any other failure goes to failed.
func openChosen(ctx context.Context, a *app, names []string) (*targetSet, error) {
	return openKinds(ctx, a, names, nil, "")
}

// openKinds is openChosen for a command that works on some kinds of target
// only (works, when not nil, says which; what names them for the user):
// targets of other kinds are left out by default and refused when named.
func openKinds(ctx context.Context, a *app, names []string, works func(kind string) bool, what string) (*targetSet, error) {
	chosen, err := chooseTargets(a, names)
	if err != nil {
		return nil, err
	}
	set := &targetSet{}
	for _, t := range chosen {
		if works != nil && !works(t.Kind) {
			if len(names) > 0 {
				set.failed = append(set.failed, failedTarget{name: t.Name,
					err: fmt.Errorf("%s is a %s target: this command works on %s only", t.Name, t.Kind, what)})
			}
			continue
		}
		at, err := a.open(ctx, t)
		switch {
		case err == nil:
			set.attached = append(set.attached, attachedTarget{t: at.Target, l: at.Local, s: at.Store, dev: at.Device, c: at.Close})
		case errors.Is(err, sftp.ErrUnknownHost):
			set.failed = append(set.failed, failedTarget{name: t.Name, err: err})
		case errors.Is(err, store.ErrNotAttached):
			set.away = append(set.away, t)
		default:
			// Shown as "NAME: message": the name once is enough.
			err = errors.New(strings.TrimPrefix(err.Error(), t.Name+": "))
			set.failed = append(set.failed, failedTarget{name: t.Name, err: err})
		}
	}
	return set, nil
}

// stillAttached checks by path that the target's drive is still the one
// attached at the start of the run (not unplugged, not replaced). Remote
// targets report a lost connection by their own errors instead.
func stillAttached(at attachedTarget) func() error {
	if isRemote(at.t.Kind) || at.l == nil {
		return nil
	}
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

// printVerify prints the human result: problems, one line per target (and
// a second one for a server check), the verdict. whole: neither --sample
// nor --budget was given.
func printVerify(w io.Writer, res *verify.Result, set *targetSet, runErr error, whole bool) {
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
	kinds := map[string]string{}
	for _, at := range set.attached {
		kinds[at.t.Name] = at.t.Kind
	}
	var missing, corrupt, serverChecked int
	var hints []string
	for _, t := range res.Targets {
		missing += t.Missing
		corrupt += t.Corrupt
		printTargetLine(w, t, isRemote(kinds[t.Target]))
		if sc := t.Server; sc != nil && sc.Skipped == "" {
			serverChecked += sc.OK + sc.Changed + sc.Missing + sc.Unknown
			printServerLine(w, t.Target, sc)
		}
		if k := kinds[t.Target]; whole && t.Bytes > 0 && (k == catalog.KindS3 || k == catalog.KindRclone) {
			hints = append(hints, fmt.Sprintf("every copy on %s was downloaded (%s, which the service may bill); `trove verify %s --budget 5GiB` caps a run and rotates through it",
				t.Target, progress.FormatBytes(t.Bytes), t.Target))
		}
	}
	what := progress.FormatBytes(res.Bytes)
	switch {
	case res.HashedBytes > 0 && res.Bytes == 0:
		what = progress.FormatBytes(res.HashedBytes) + " hashed on the server, nothing downloaded"
	case res.HashedBytes > 0:
		what = fmt.Sprintf("%s read or downloaded, %s hashed on the server", what, progress.FormatBytes(res.HashedBytes))
	}
	verdict := fmt.Sprintf("Verified %s (%s)", plural(res.Checked, "copy", "copies"), what)
	if serverChecked > 0 {
		verdict += fmt.Sprintf(" and checked %s against the service's checksums", verify.Commas(int64(serverChecked)))
	}
	verdict += " on " + plural(len(res.Targets), "target", "targets")
	switch {
	case missing+corrupt > 0:
		fmt.Fprintf(w, "%s: %d missing, %d corrupt.\n", verdict, missing, corrupt)
		fmt.Fprintln(w, "hint: run `trove repair` to replace them from good copies")
	case len(res.Problems) > 0:
		fmt.Fprintf(w, "%s: all copies good, %s.\n", verdict, plural(len(res.Problems), "other problem", "other problems"))
	case len(res.Away) > 0:
		fmt.Fprintf(w, "%s: all good; not verified: %s (not attached).\n", verdict, strings.Join(res.Away, ", "))
	default:
		fmt.Fprintf(w, "%s: all good.\n", verdict)
	}
	for _, h := range hints {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
	if runErr != nil {
		fmt.Fprintf(w, "trove: %v\n", runErr)
	}
}

// printTargetLine prints "drive-a: 4 of 4 copies verified now; 100%
// verified in the last 90 days, …". A remote target's coverage names how
// its copies were proven: "by download", or "by a full read" when its
// server hashed copies this run (the server read every byte).
func printTargetLine(w io.Writer, t verify.TargetResult, remote bool) {
	fmt.Fprintf(w, "%s: %s of %s copies verified now", t.Target, verify.Commas(int64(t.Checked)), verify.Commas(int64(t.Copies)))
	if t.Hashed > 0 {
		fmt.Fprintf(w, " (%s hashed on the server)", verify.Commas(int64(t.Hashed)))
	}
	if remote {
		how := "by download"
		if t.Hashed > 0 {
			how = "by a full read"
		}
		// "92% of vault verified by download in the last 90 days"
		for _, c := range t.Coverage {
			fmt.Fprintf(w, "; %d%% of %s verified %s in the last %d days", percent(c.Verified, c.Total), t.Target, how, c.Days)
		}
		fmt.Fprintln(w)
		return
	}
	for i, c := range t.Coverage {
		sep := "; "
		if i > 0 {
			sep = ", "
		}
		fmt.Fprintf(w, "%s%d%% verified in the last %d days", sep, percent(c.Verified, c.Total), c.Days)
	}
	fmt.Fprintln(w)
}

// printServerLine prints the server check of one target:
// "vault: server checksums: 3 unchanged, 1 changed; 75% of vault checked
// against the service's checksums today".
func printServerLine(w io.Writer, name string, sc *verify.ServerCheck) {
	parts := []string{verify.Commas(int64(sc.OK)) + " unchanged"}
	if sc.Changed > 0 {
		parts = append(parts, verify.Commas(int64(sc.Changed))+" changed")
	}
	if sc.Missing > 0 {
		parts = append(parts, verify.Commas(int64(sc.Missing))+" missing")
	}
	if sc.Unknown > 0 {
		parts = append(parts, verify.Commas(int64(sc.Unknown))+" unknown (no checksum to compare with yet: downloads check them)")
	}
	fmt.Fprintf(w, "%s: server checksums: %s; %d%% of %s checked against the service's checksums today", name,
		strings.Join(parts, ", "), percent(sc.CheckedToday, sc.Total), name)
	if sc.Error != "" {
		fmt.Fprint(w, " (the check stopped part-way)")
	}
	fmt.Fprintln(w)
}

func budgetArg(s string) string {
	if s == "" {
		return ""
	}
	return " --budget " + s
}

// parseSize reads a byte count with a unit: "5GiB", "500MB", "1.5TiB", or
// plain bytes.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, errors.New("not a size")
	}
	mult := map[string]float64{"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	return int64(v * mult), nil
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
