package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newLogCmd is a placeholder until the log command lands.
func newLogCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "log",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove log is not available yet")}
		},
	}
}
