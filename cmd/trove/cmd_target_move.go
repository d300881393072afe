package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newTargetMoveCmd is a placeholder until `trove target move` lands.
func newTargetMoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "move",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove target move is not available yet")}
		},
	}
}
