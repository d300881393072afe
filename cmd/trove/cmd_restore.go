package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRestoreCmd is a placeholder until the restore job lands.
func newRestoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "restore",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove restore is not available yet")}
		},
	}
}
