package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newAlertCmd is a placeholder until the alert command lands.
func newAlertCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "alert",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove alert is not available yet")}
		},
	}
}
