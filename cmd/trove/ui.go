package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/verify"
)

// The voice of the UI. Errors: "trove: <what failed>: <why>" and, when we
// know what to do, a second line "hint: <what to do>". Warnings: "warning: …".
// Everything a script reads (summaries, verdicts, JSON) goes to stdout;
// progress, warnings and errors go to stderr.

// hinted is an error with advice for the user.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// withHint attaches advice to an error.
func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: hint}
}

func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "trove: %v\n", err)
	var h *hinted
	if errors.As(err, &h) && h.hint != "" {
		fmt.Fprintf(w, "hint: %s\n", h.hint)
	}
	if errors.Is(err, config.ErrNoConfig) {
		fmt.Fprintln(w, "hint: run `trove init` first (or set TROVE_HOME to the folder holding config.toml)")
	}
}

func warnf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "warning: "+format+"\n", args...)
}

// isUsage recognises cobra's own usage errors.
func isUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least",
		"required flag", "invalid argument", "flag needs an argument"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// plural counts things in words: plural(1, "copy", "copies") is "1 copy",
// plural(12000, ...) is "12,000 copies".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return commas(n) + " " + many
}

// pluralS is plural for words that take an "s": "1 file", "3 files".
func pluralS(n int, one string) string { return plural(n, one, one+"s") }

// commas renders n with thousands separators: 25165824 -> "25,165,824".
func commas(n int) string { return verify.Commas(int64(n)) }
