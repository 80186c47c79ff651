package agent

import (
	"context"
	"time"
)

// Execer is implemented by runtimes that can run a command in a running
// container and wait for it (CRI's ExecSync): exec probes and exec
// lifecycle hooks need it. The simulated runtime does not implement it,
// and the agent then runs no lifecycle hooks at all (its containers are
// no processes a hook could talk to).
type Execer interface {
	// ExecSync runs cmd in the container, waiting at most timeout (0: no
	// limit) for it. A command that ran and exited non-zero is not an
	// error: exitCode says so. err is for a command that could not be
	// run or did not finish in time.
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int32, err error)
}
