package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newPruneCmd is a placeholder until the prune command lands.
func newPruneCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "prune",
		Short:  "not yet available",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{code: exitUsage, err: errors.New("trove prune is not available yet")}
		},
	}
}
