package cri

import (
	"context"
	"errors"
	"fmt"
	"time"

	utilexec "k8s.io/utils/exec"

	"github.com/skiff-sh/skiff/internal/agent"
)

var _ agent.Execer = (*Runtime)(nil)

// ExecSync implements agent.Execer through CRI's ExecSync. cri-client
// turns a non-zero exit into an error carrying the code; the agent wants
// the code, and an error only when the command did not run to its end
// (a timeout, an unknown container).
func (r *Runtime) ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, []byte, int32, error) {
	stdout, stderr, err := r.rs.ExecSync(quiet(ctx), containerID, cmd, timeout)
	var exit utilexec.ExitError
	switch {
	case err == nil:
		return stdout, stderr, 0, nil
	case errors.As(err, &exit):
		return stdout, stderr, int32(exit.ExitStatus()), nil
	}
	return stdout, stderr, -1, fmt.Errorf("cri: exec %q in container %s: %w", cmd, containerID, err)
}
