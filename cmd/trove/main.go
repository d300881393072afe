// Command trove makes the 3-2-1 backup rule automatic and visible for
// photographers. This file is the one place that prints the final error and
// chooses the exit code; commands return errors.
//
// Exit codes (documented in README.md):
//
//	0  done, and everything claimed holds (SAFE TO FORMAT, all protected)
//	1  something failed: a file, a target, the catalog; details above the last line
//	2  the command or the config is wrong (usage, unknown target, bad setting)
//	3  the run worked but the rule does not hold (NOT SAFE TO FORMAT, at-risk projects with --check)
//	4  a secret was refused: a vault's passphrase is wrong, or the storage service
//	   refused the credentials (S3 access keys, the SSH login of an SFTP target)
//	130 interrupted (Ctrl-C)
//
// A run over several targets goes on with the others when one refuses its
// secret; it then ends with 4 instead of 1, even when something else failed
// too (every failure is listed above the last line): the refused secret is
// the one failure that no retry can fix, and it stops every later run of
// that target until the user acts. Usage errors (2), 3 and 130 are not
// replaced. A refused secret fails fast: it is never retried.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailure   = 1
	exitUsage     = 2
	exitNotSafe   = 3
	exitRefused   = 4
	exitInterrupt = 130
)

// exitError carries a chosen exit code; its message (if any) was already
// printed when silent is true.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageError marks a mistake in how trove was called or configured.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// refusal is a secret a target refused during this run.
type refusal struct {
	target string // the target's name
	hint   string // what the user does about it
}

// refusals are the secrets refused during this process's run, noted by
// remoteError wherever the failure ends up (a line in a multi-target
// report, a JSON field, the final error). run reads them to pick exit code
// 4 and to print each hint once. One process runs one command.
var refusals struct {
	mu   sync.Mutex
	list []refusal
}

// noteRefused records that target refused a secret (once per target).
func noteRefused(target, hint string) {
	refusals.mu.Lock()
	defer refusals.mu.Unlock()
	for _, r := range refusals.list {
		if r.target == target {
			return
		}
	}
	refusals.list = append(refusals.list, refusal{target, hint})
}

// takeRefusals returns the refusals noted so far and forgets them.
func takeRefusals() []refusal {
	refusals.mu.Lock()
	defer refusals.mu.Unlock()
	l := refusals.list
	refusals.list = nil
	return l
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	takeRefusals() // a fresh run
	cmd := newRootCmd()
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return finish(ctx, os.Stderr, err, takeRefusals())
}

// finish prints the final error (unless already printed) and picks the
// exit code of a run that returned err and during which the targets in
// refused refused a secret.
func finish(ctx context.Context, w io.Writer, err error, refused []refusal) int {
	if err == nil {
		return exitOK
	}
	code := exitFailure
	printed := "" // the hint printError showed
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		if !ee.silent && ee.err != nil {
			printError(w, ee.err)
			printed = hintOf(ee.err)
		}
		code = ee.code
	case ctx.Err() != nil:
		printError(w, fmt.Errorf("interrupted: %w", err))
		return exitInterrupt
	default:
		printError(w, err)
		printed = hintOf(err)
		if isUsage(err) {
			code = exitUsage
		}
	}
	if len(refused) == 0 || (code != exitFailure && code != exitRefused) {
		return code
	}
	for _, r := range refused {
		if r.hint != "" && r.hint != printed {
			fmt.Fprintf(w, "hint: %s: %s\n", r.target, r.hint)
		}
	}
	return exitRefused
}

// hintOf is the hint printError shows for err ("" when none).
func hintOf(err error) string {
	var h *hinted
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}
