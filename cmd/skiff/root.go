package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/internal/version"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "skiff",
		Short: "Skiff: a Kubernetes-compatible orchestrator in one binary",
		// main prints the error on one line; usage only on request.
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version.Info().GitVersion,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(
		newServerCommand(),
		newAgentCommand(),
		newCheckCommand(),
		newKubectlCommand(),
		newVersionCommand(),
		newImageCommand(),
	)
	return root
}
