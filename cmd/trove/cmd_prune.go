package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/prune"
	"github.com/trove-backup/trove/internal/store/vault"
)

func newPruneCmd() *cobra.Command {
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "prune [TARGET...] [--dry-run] [--json]",
		Short: "Delete old versions on targets by the retention rule (never the last copy of anything)",
		Long: `Old versions (edited, deleted or damaged files that backup and repair moved into each
target's .trove/versions folder) are kept by the [retention] rule: every version for
keep_all_days (default 30), then the newest of each month for keep_monthly_months
(default 12); older ones are deleted.

Never deleted: a version holding the current content of any file, and a version that is
the last copy of its content anywhere (counting verified copies and the versions kept on
every target, attached or not). Versions never count as copies, so pruning never takes a
file below the policy. These are the only deletions Trove makes on a target: each one is
printed, appended to the target's .trove/prune.log and recorded with the run.
--dry-run shows what would be deleted and deletes nothing.

Folder targets and encrypted vaults (S3, rclone, SFTP vault) are pruned: in a vault, a
version's encrypted content object is deleted too once no file or other version shares it.
Plain SFTP targets are not pruned yet.

TARGET defaults to every attached target (every reachable vault); targets that are not
attached are left alone.`,
		Example: "  trove prune --dry-run\n  trove prune drive-a\n  trove prune --json",
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			// A vault is its own prune.VersionRemover; plain SFTP targets have
			// no way to delete a version yet.
			set, err := openKinds(cmd.Context(), a, args, func(kind string) bool { return !isRemote(kind) || isVault(kind) },
				"folder targets and vaults")
			if err != nil {
				return err
			}
			defer set.Close()
			rule := prune.Rule{KeepAllDays: a.cfg.Retention.KeepAllDays, KeepMonthlyMonths: a.cfg.Retention.KeepMonthlyMonths}
			if rule == (prune.Rule{}) {
				rule = prune.DefaultRule() // a config written before [retention] existed
			}
			o := prune.Options{Catalog: a.cat, Rule: rule, DryRun: dryRun, Now: a.now,
				Sink: newSink(a, asJSON, "to prune"), Args: strings.TrimSpace(strings.Join(args, " ") + dryArg(dryRun))}
			for _, at := range set.attached {
				if at.l != nil {
					o.Targets = append(o.Targets, prune.Target{Target: at.t, Remover: prune.FolderRemover(at.l.Root()), Meta: at.l})
				} else if v, ok := at.s.(*vault.Vault); ok {
					o.Targets = append(o.Targets, prune.Target{Target: at.t, Remover: v, Meta: v})
				}
			}
			res, runErr := prune.Run(cmd.Context(), o)
			o.Sink.Close()
			if res == nil {
				return runErr
			}
			for _, f := range set.failed {
				res.Problems = append(res.Problems, prune.Problem{Target: f.name, Message: f.err.Error()})
			}
			if asJSON {
				printJSONResult(a.stdout, res, runErr)
			} else {
				for _, t := range set.away {
					fmt.Fprintf(a.stdout, "%s: not attached, left alone (its versions still count as copies)\n", t.Name)
				}
				printPrune(a.stdout, res, rule, runErr)
			}
			return jobExit(cmd, runErr, !res.OK())
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be deleted; delete nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress events and the result as JSON lines")
	return cmd
}

func dryArg(dry bool) string {
	if dry {
		return " --dry-run"
	}
	return ""
}

func printPrune(w io.Writer, res *prune.Result, rule prune.Rule, runErr error) {
	verb := "deleted"
	if res.DryRun {
		verb = "would delete"
	}
	for _, it := range res.Deleted {
		fmt.Fprintf(w, "%s %s: %s (%s version of %s from %s, %s): %s\n", verb, it.Target, it.Path, it.Reason, it.File,
			it.CreatedAt.Local().Format("2006-01-02"), progress.FormatBytes(it.Size), it.Why)
	}
	for _, it := range res.Protected {
		fmt.Fprintf(w, "kept %s: %s (%s version of %s from %s): %s\n", it.Target, it.Path, it.Reason, it.File,
			it.CreatedAt.Local().Format("2006-01-02"), it.Why)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(w, "problem: %s: %s: %s\n", p.Target, p.Path, p.Message)
	}
	what := fmt.Sprintf("%s (%s)", plural(len(res.Deleted), "old version", "old versions"), progress.FormatBytes(res.Bytes))
	if res.DryRun {
		fmt.Fprintf(w, "Dry run: would delete %s; nothing was deleted.", what)
	} else {
		fmt.Fprintf(w, "Deleted %s.", what)
	}
	fmt.Fprintf(w, " Kept %d by the rule (all for %d days, then one a month for %d months)", res.Kept, rule.KeepAllDays, rule.KeepMonthlyMonths)
	if n := len(res.Protected); n > 0 {
		fmt.Fprintf(w, " and %d as the last copy or current content", n)
	}
	fmt.Fprintln(w, ".")
	if runErr != nil {
		fmt.Fprintf(w, "trove: %v\n", runErr)
	}
}
