package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newBackupCmd is a placeholder until the backup job lands.
func newBackupCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "backup",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove backup is not available yet")}
		},
	}
}
