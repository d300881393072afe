package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "trove",
		Short: "Photo backups that keep the 3-2-1 rule: 3 copies, 2 kinds of media, 1 off-site",
		Long: `Trove copies memory cards into your library and onto backup drives in one read,
verifies every copy by reading it back, and tells you plainly whether a card is safe
to format and which shoots are not yet protected by the 3-2-1 rule.

Config and catalog live under TROVE_HOME when it is set, else in the platform's
usual places (see README). Exit codes: 0 ok, 1 failure, 2 usage or config,
3 the rule does not hold (NOT SAFE TO FORMAT, at-risk with --check), 4 a secret was
refused (a vault's passphrase, S3 credentials, an SSH key; wins over 1), 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInitCmd(), newTargetCmd(), newIngestCmd(), newStatusCmd(), newWhereCmd(),
		newBackupCmd(), newVerifyCmd(), newRepairCmd(), newRestoreCmd(), newRecoverCmd(),
		newArchiveCmd(), newPruneCmd(), newLabelCmd(), newDaemonCmd(), newServiceCmd(), newLogCmd(), newAlertCmd())
	return root
}
