package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRepairCmd is a placeholder until the repair job lands.
func newRepairCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "repair",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove repair is not available yet")}
		},
	}
}
