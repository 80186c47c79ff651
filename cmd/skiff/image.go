package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/internal/image"
	"github.com/skiff-sh/skiff/internal/runtime/containerd"
)

// imageOptions are the flags shared by `skiff image` subcommands.
type imageOptions struct {
	endpoint string
	ctr      string
}

func newImageCommand() *cobra.Command {
	var opts imageOptions
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Load and list container images on this node",
		Long: `Load locally built image archives into the node's containerd and list what
it holds. No registry is involved: images are built from Skiff's own code
(go run ./test/images/build DIR, or make images) and imported here, into the
k8s.io namespace the agent's pods use.

The containerd socket defaults to the one the agent supervises,
DATA_DIR/containerd/containerd.sock, where DATA_DIR is $` + dataDirEnv + `,
else /var/lib/skiff as root, else $HOME/.skiff. Both subcommands run
Debian's ctr client (package containerd).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&opts.endpoint, "container-runtime-endpoint", "", "containerd socket, as a path or unix:// URL (default: the agent's)")
	pf.StringVar(&opts.ctr, "ctr", "ctr", "ctr executable")
	cmd.AddCommand(
		&cobra.Command{
			Use:   "import FILE.tar...",
			Short: "Import image archives (docker-archive or OCI) into containerd",
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := opts.client()
				if err != nil {
					return err
				}
				for _, path := range args {
					if err := importFile(cmd, c, path); err != nil {
						return err
					}
				}
				return nil
			},
		},
		&cobra.Command{
			Use:     "ls",
			Aliases: []string{"list"},
			Short:   "List the images in containerd's k8s.io namespace",
			Args:    noArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				c, err := opts.client()
				if err != nil {
					return err
				}
				refs, err := c.List(cmd.Context())
				if err != nil {
					return err
				}
				for _, r := range refs {
					fmt.Fprintln(cmd.OutOrStdout(), r)
				}
				return nil
			},
		},
	)
	return cmd
}

// client checks the socket exists first: ctr would otherwise spend its
// whole dial timeout before saying the same thing less clearly.
func (o imageOptions) client() (image.Ctr, error) {
	addr := strings.TrimPrefix(o.endpoint, "unix://")
	if addr == "" {
		addr = containerd.Config{Dir: filepath.Join(defaultDataDir(), "containerd")}.SocketPath()
	}
	if _, err := os.Stat(addr); err != nil {
		return image.Ctr{}, fmt.Errorf("no containerd socket at %s (is the agent running with containerd? else pass --container-runtime-endpoint): %w", addr, err)
	}
	return image.Ctr{Path: o.ctr, Address: addr}, nil
}

func importFile(cmd *cobra.Command, c image.Ctr, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := c.Import(cmd.Context(), f); err != nil {
		return fmt.Errorf("importing %s: %w", path, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", path)
	return nil
}
