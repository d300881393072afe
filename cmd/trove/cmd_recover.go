package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRecoverCmd is a placeholder until the recover command lands.
func newRecoverCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "recover",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove recover is not available yet")}
		},
	}
}
