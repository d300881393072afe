package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newArchiveCmd is a placeholder until the archive command lands.
func newArchiveCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "archive",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove archive is not available yet")}
		},
	}
}
