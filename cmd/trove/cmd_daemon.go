package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDaemonCmd is a placeholder until the daemon command lands.
func newDaemonCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "daemon",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove daemon is not available yet")}
		},
	}
}
