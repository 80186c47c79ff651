package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"

	// As upstream's kubectl main: client auth plugins (OIDC).
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "kubectl [flags] COMMAND",
		Short: "Run upstream kubectl, using the admin kubeconfig by default",
		Long: `Run upstream kubectl, linked into this binary. Every argument goes to kubectl.

Unless KUBECONFIG or --kubeconfig is given, or ~/.kube/config exists, kubectl
uses the admin kubeconfig the server wrote: DATA_DIR/kubeconfig.yaml, where
DATA_DIR is $` + dataDirEnv + `, else /var/lib/skiff as root, else $HOME/.skiff.`,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			runKubectl(args)
			return nil
		},
	}
}

// runKubectl runs upstream kubectl exactly as its own main does, with args
// as its command line. On failure kubectl prints the error and exits the
// process itself (its CheckErr chooses the exit code), so this returns only
// on success.
func runKubectl(args []string) {
	if path, ok := adminKubeconfig(args, os.Getenv, clientcmd.RecommendedHomeFile, defaultDataDir()); ok {
		os.Setenv(clientcmd.RecommendedConfigPathEnvVar, path)
	}
	// kubectl reads its arguments from os.Args: cobra does when none are
	// set, and kuberc aliases and plugin lookup do explicitly.
	os.Args = append([]string{"kubectl"}, args...)
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		kubectlutil.CheckErr(err)
	}
}

// adminKubeconfig returns the admin kubeconfig to default KUBECONFIG to, if
// kubectl would otherwise find no configuration of the user's: KUBECONFIG is
// unset, args carry no --kubeconfig, and homeConfig (~/.kube/config) does
// not exist. A
// missing admin kubeconfig is not a default either (kubectl then says it has
// no configuration, which is the truth); an unreadable one is, so kubectl
// reports the permission problem.
func adminKubeconfig(args []string, getenv func(string) string, homeConfig, dataDir string) (string, bool) {
	if getenv(clientcmd.RecommendedConfigPathEnvVar) != "" || hasKubeconfigFlag(args) {
		return "", false
	}
	if _, err := os.Stat(homeConfig); err == nil {
		return "", false
	}
	path := filepath.Join(dataDir, "kubeconfig.yaml")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	return path, true
}

// hasKubeconfigFlag reports whether args set --kubeconfig. Arguments after
// "--" belong to a command kubectl runs (exec, debug), not to kubectl.
func hasKubeconfigFlag(args []string) bool {
	for _, arg := range args {
		if arg == "--" {
			return false
		}
		if arg == "--kubeconfig" || strings.HasPrefix(arg, "--kubeconfig=") {
			return true
		}
	}
	return false
}
