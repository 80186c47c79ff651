package image

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
)

// Namespace is the containerd namespace the CRI plugin (and so the agent)
// uses; an image imported anywhere else is invisible to pods.
const Namespace = "k8s.io"

// Ctr drives containerd through Debian's `ctr` client, which ships with
// the containerd package the node already needs. Going through ctr rather
// than containerd's Go client keeps that large module out of Skiff.
type Ctr struct {
	// Path is the ctr executable; empty means "ctr" on $PATH.
	Path string
	// Address is containerd's gRPC socket.
	Address string
}

func (c Ctr) command(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	bin := c.Path
	if bin == "" {
		bin = "ctr"
	}
	args = append([]string{"--address", c.Address, "--namespace", Namespace}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Import loads a docker-archive or OCI archive (as written by Build) into
// containerd and unpacks it into the default snapshotter, so creating a
// container from it needs nothing further. Importing an identical archive
// again is a no-op in containerd's content store.
func (c Ctr) Import(ctx context.Context, archive io.Reader) error {
	// "-" makes ctr read the archive from stdin, so callers can stream a
	// freshly built image without a temporary file.
	_, err := c.command(ctx, archive, "images", "import", "-")
	return err
}

// List returns the references of the images in the k8s.io namespace,
// sorted.
func (c Ctr) List(ctx context.Context) ([]string, error) {
	out, err := c.command(ctx, nil, "images", "list", "--quiet")
	if err != nil {
		return nil, err
	}
	refs := strings.Fields(string(out))
	sort.Strings(refs)
	return refs, nil
}

// LoadPause builds the pause image for this machine and imports it: what
// the agent does at start so sandboxes never need a registry.
func (c Ctr) LoadPause(ctx context.Context) error {
	var buf bytes.Buffer
	if err := Pause(PauseRef, &buf); err != nil {
		return err
	}
	if err := c.Import(ctx, &buf); err != nil {
		return fmt.Errorf("importing %s: %w", PauseRef, err)
	}
	return nil
}
