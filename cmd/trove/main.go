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
//	130 interrupted (Ctrl-C)
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailure   = 1
	exitUsage     = 2
	exitNotSafe   = 3
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	cmd := newRootCmd()
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !ee.silent && ee.err != nil {
			printError(os.Stderr, ee.err)
		}
		return ee.code
	}
	if ctx.Err() != nil {
		printError(os.Stderr, fmt.Errorf("interrupted: %w", err))
		return exitInterrupt
	}
	printError(os.Stderr, err)
	if isUsage(err) {
		return exitUsage
	}
	return exitFailure
}
