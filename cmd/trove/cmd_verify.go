package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newVerifyCmd is a placeholder until the verify job lands.
func newVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "verify",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove verify is not available yet")}
		},
	}
}
