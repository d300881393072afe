package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newLabelCmd is a placeholder until the label command lands.
func newLabelCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "label",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove label is not available yet")}
		},
	}
}
