package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newServiceCmd is a placeholder until the service command lands.
func newServiceCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "service",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove service is not available yet")}
		},
	}
}
