package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/policy"
	"github.com/trove-backup/trove/internal/progress"
)

// projectView is one project in `trove status --json`.
type projectView struct {
	Name      string   `json:"name"`
	Files     int      `json:"files"`
	Bytes     int64    `json:"bytes"`
	Protected bool     `json:"protected"`
	AtRisk    int      `json:"at_risk_files"`
	Reasons   []string `json:"reasons"`
}

type statusView struct {
	Policy    policyView    `json:"policy"`
	Projects  []projectView `json:"projects"`
	Files     int           `json:"files"`
	Bytes     int64         `json:"bytes"`
	AtRisk    int           `json:"at_risk_files"`
	Protected bool          `json:"protected"`
	Extra     statusExtra   `json:"extra"`
}

type policyView struct {
	Copies           int `json:"copies"`
	Media            int `json:"media"`
	Offsite          int `json:"offsite"`
	VerifyWithinDays int `json:"verify_within_days"`
}

func ruleOf(p config.Policy) policy.Rule {
	return policy.Rule{MinCopies: p.Copies, MinMedia: p.Media, MinOffsite: p.Offsite,
		MaxAge: time.Duration(p.VerifyWithinDays) * 24 * time.Hour}
}

// evaluate applies the policy to every file in the catalog, by project.
func evaluate(a *app) (statusView, error) {
	view := statusView{Policy: policyView(a.cfg.Policy), Projects: []projectView{}}
	targets, err := a.cat.Targets()
	if err != nil {
		return view, err
	}
	byID := map[string]catalog.Target{}
	for _, t := range targets {
		byID[t.ID] = t
	}
	files, err := a.cat.AllFiles()
	if err != nil {
		return view, err
	}
	copies, err := a.cat.AllCopies()
	if err != nil {
		return view, err
	}
	rule, now := ruleOf(a.cfg.Policy), a.now()
	byProject := map[string][]policy.FileResult{}
	for _, f := range files {
		if !f.DeletedAt.IsZero() {
			continue // removed from the library on purpose; kept in the targets' versions
		}
		facts := policy.Facts{Home: a.cfg.Location}
		for _, cp := range copies[f.ID] {
			facts.Copies = append(facts.Copies, policyCopy(byID[cp.TargetID], f, cp))
		}
		byProject[f.Project] = append(byProject[f.Project], policy.FileResult{Path: f.Path, Size: f.Size,
			Result: policy.Evaluate(rule, facts, now)})
	}
	names := make([]string, 0, len(byProject))
	for n := range byProject {
		names = append(names, n)
	}
	sort.Strings(names)
	view.Protected = true
	for _, n := range names {
		ps := policy.Summarise(n, byProject[n])
		view.Projects = append(view.Projects, projectView{Name: ps.Name, Files: ps.Files, Bytes: ps.Bytes,
			Protected: ps.Protected, AtRisk: ps.AtRisk, Reasons: nonNil(ps.Reasons)})
		view.Files += ps.Files
		view.Bytes += ps.Bytes
		view.AtRisk += ps.AtRisk
		view.Protected = view.Protected && ps.Protected
	}
	if view.Extra, err = statusExtras(a); err != nil {
		return view, err
	}
	return view, nil
}

func policyCopy(t catalog.Target, f catalog.File, cp catalog.Copy) policy.Copy {
	state := policy.CopyState(cp.State)
	if state == policy.OK && cp.Sum != f.Sum {
		state = policy.Stale
	}
	return policy.Copy{Target: t.Name, Medium: t.Medium, Location: t.Location, Device: t.Device,
		State: state, VerifiedAt: cp.VerifiedAt}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newStatusCmd() *cobra.Command {
	var asJSON, check bool
	cmd := &cobra.Command{
		Use:   "status [--json] [--check]",
		Short: "Is every shoot protected by the 3-2-1 rule? Per project, with the reasons when not",
		Long: `Evaluates the policy (default: 3 copies on separate disks, 2 kinds of media, 1 off-site,
each copy verified within 90 days; see [policy] in the config) for every file the catalog
knows, including copies on drives that are not attached now, and summarises by project.
With --check the exit code is 3 when any project is at risk.`,
		Example: "  trove status\n  trove status --json\n  trove status --check || notify-send 'backups need attention'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			view, err := evaluate(a)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(view); err != nil {
					return err
				}
			} else {
				printStatus(a.stdout, view)
			}
			if check && !view.Protected {
				return &exitError{code: exitNotSafe, silent: true}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&check, "check", false, "exit 3 when anything falls short of the policy")
	return cmd
}

func printStatus(w io.Writer, v statusView) {
	fmt.Fprintf(w, "Policy: %d copies on separate disks, %d kinds of media, %d off-site", v.Policy.Copies, v.Policy.Media, v.Policy.Offsite)
	if v.Policy.VerifyWithinDays > 0 {
		fmt.Fprintf(w, ", each verified within %d days", v.Policy.VerifyWithinDays)
	}
	fmt.Fprintln(w)
	if len(v.Projects) == 0 {
		fmt.Fprintln(w, "No files in the catalog yet: ingest a card with `trove ingest SOURCE --project NAME`.")
		return
	}
	fmt.Fprintln(w)
	var protected int
	for _, p := range v.Projects {
		mark := "AT RISK  "
		if p.Protected {
			mark = "PROTECTED"
			protected++
		}
		fmt.Fprintf(w, "%s  %s  (%d files, %s)\n", mark, p.Name, p.Files, progress.FormatBytes(p.Bytes))
		for _, r := range p.Reasons {
			fmt.Fprintf(w, "             - %s\n", r)
		}
	}
	fmt.Fprintf(w, "\n%d of %d projects protected; %d of %d files at risk.\n", protected, len(v.Projects), v.AtRisk, v.Files)
	printStatusExtras(w, v.Extra)
}
