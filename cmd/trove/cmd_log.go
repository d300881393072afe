package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
)

// logRun is one run in `trove log --json`.
type logRun struct {
	ID        int64        `json:"id"`
	Kind      string       `json:"kind"`
	Args      string       `json:"args"`
	StartedAt time.Time    `json:"started_at"`
	EndedAt   *time.Time   `json:"ended_at"`
	Status    string       `json:"status"`
	Summary   string       `json:"summary"`
	Problems  []logProblem `json:"problems"`
}

type logProblem struct {
	Path    string `json:"path,omitempty"`
	Target  string `json:"target,omitempty"`
	Message string `json:"message"`
}

// logProblemsShown is how many problems per run the text view lists.
const logProblemsShown = 10

func newLogCmd() *cobra.Command {
	var asJSON bool
	var n int
	cmd := &cobra.Command{
		Use:   "log [-n N] [--json]",
		Short: "Show the history of runs (ingest, backup, verify, daemon jobs) and their problems",
		Long: `Lists the most recent runs from the catalog, newest first: what ran, when, how long,
how it ended (ok, failed, interrupted) and its one-line summary, with the problems of
each run that had any (the first 10 per run in text; all of them with --json).

A run shown as "unfinished" is still running, or its process was killed before it
could record the end (power cut, kill -9); running the job again finishes the work.`,
		Example: `  trove log
  trove log -n 50
  trove log --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 {
				return usageError("-n %d: give a number of runs, 1 or more", n)
			}
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			runs, err := a.cat.Runs(n)
			if err != nil {
				return err
			}
			out := make([]logRun, 0, len(runs))
			for _, r := range runs {
				probs, err := a.cat.RunProblems(r.ID)
				if err != nil {
					return err
				}
				lr := logRun{ID: r.ID, Kind: r.Kind, Args: r.Args, StartedAt: r.StartedAt, Status: r.Status,
					Summary: r.Summary, Problems: []logProblem{}}
				if !r.EndedAt.IsZero() {
					e := r.EndedAt
					lr.EndedAt = &e
				}
				for _, p := range probs {
					lr.Problems = append(lr.Problems, logProblem(p))
				}
				out = append(out, lr)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetEscapeHTML(false)
				return enc.Encode(map[string]any{"event": "result", "runs": out})
			}
			printLog(a.stdout, out)
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "number", "n", 20, "how many runs to show")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the runs as one JSON object")
	return cmd
}

func printLog(w io.Writer, runs []logRun) {
	if len(runs) == 0 {
		fmt.Fprintln(w, "No runs yet.")
		return
	}
	for _, r := range runs {
		status, took := r.Status, ""
		if r.EndedAt != nil {
			took = " " + logDuration(r.EndedAt.Sub(r.StartedAt))
		} else if status == "running" {
			status = "unfinished"
		}
		line := fmt.Sprintf("#%d  %s  %-7s %s%s", r.ID, r.StartedAt.Local().Format("2006-01-02 15:04:05"), r.Kind,
			strings.ToUpper(status), took)
		if r.Args != "" {
			line += "  " + r.Args
		}
		fmt.Fprintln(w, line)
		if r.Summary != "" {
			fmt.Fprintf(w, "    %s\n", r.Summary)
		}
		for i, p := range r.Problems {
			if i == logProblemsShown {
				fmt.Fprintf(w, "    … and %d more problems (trove log --json lists them all)\n", len(r.Problems)-logProblemsShown)
				break
			}
			fmt.Fprintf(w, "    problem: %s\n", problemText(catalog.Problem(p)))
		}
	}
}

// problemText renders "path on target: message".
func problemText(p catalog.Problem) string {
	where := p.Path
	switch {
	case p.Path != "" && p.Target != "":
		where = p.Path + " on " + p.Target
	case p.Target != "":
		where = p.Target
	}
	if where == "" {
		return p.Message
	}
	return where + ": " + p.Message
}

// logDuration renders a run's length: "0.4s", "12s", "3m05s", "1h02m".
func logDuration(d time.Duration) string {
	switch {
	case d < 0:
		return ""
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
