package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/internal/version"
)

// versionOutput mirrors `kubectl version -o json` (clientVersion) and adds
// the two versions scripts want without parsing build metadata.
type versionOutput struct {
	ClientVersion     apimachineryversion.Info `json:"clientVersion"`
	SkiffVersion      string                   `json:"skiffVersion"`
	KubernetesVersion string                   `json:"kubernetesVersion"`
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of this skiff binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(cmd.OutOrStdout(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: text)")
	return cmd
}

func printVersion(w io.Writer, output string) error {
	v := versionOutput{
		ClientVersion:     version.Info(),
		SkiffVersion:      version.Skiff(),
		KubernetesVersion: version.Kubernetes(),
	}
	switch output {
	case "":
		fmt.Fprintf(w, "Skiff Version: %s\n", v.SkiffVersion)
		fmt.Fprintf(w, "Client Version: %s\n", v.ClientVersion.GitVersion)
		fmt.Fprintf(w, "Kubernetes Version: %s\n", v.KubernetesVersion)
		if c := v.ClientVersion.GitCommit; c != "" {
			fmt.Fprintf(w, "Git Commit: %s\n", c)
		}
		if d := v.ClientVersion.BuildDate; d != "" {
			fmt.Fprintf(w, "Build Date: %s\n", d)
		}
		fmt.Fprintf(w, "Go Version: %s %s\n", v.ClientVersion.GoVersion, v.ClientVersion.Platform)
		return nil
	case "json":
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(data))
		return err
	case "yaml":
		data, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	default:
		return fmt.Errorf("--output must be json or yaml, not %q", output)
	}
}
