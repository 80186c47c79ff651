package action

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoExec is the error of an exec handler on a runtime that cannot
// exec into containers.
var ErrNoExec = errors.New("the container runtime cannot run commands in containers")

// Exec runs an exec probe: it passes when the command exits 0 within
// timeout. A command still running at the timeout fails the probe, as
// upstream enforces exec probe timeouts; a command the runtime could not
// run at all is Unknown.
func Exec(ctx context.Context, e Execer, cmd []string, t Target, timeout time.Duration) (Result, string) {
	if e == nil {
		return Unknown, ErrNoExec.Error()
	}
	ctx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	begin := time.Now()
	stdout, stderr, code, err := e.ExecSync(ctx, t.ContainerID, cmd, timeout)
	out := truncate(append(stdout, stderr...))
	switch {
	// Runtimes word an exec timeout differently (containerd: "timeout
	// exceeded", cri-client: ErrCommandTimedOut); a command that failed
	// only once its time was up timed out.
	case err != nil && (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (timeout > 0 && time.Since(begin) >= timeout)):
		return Failure, fmt.Sprintf("command %q timed out", cmd)
	case err != nil:
		return Unknown, err.Error()
	case code != 0:
		// The output alone, as upstream's events show it ("Liveness
		// probe failed: cat: can't open '/tmp/healthy': ...").
		return Failure, out
	}
	return Success, out
}

// ExecHook runs an exec lifecycle hook, which fails when the command
// exits non-zero or cannot run; ctx bounds it (the grace period, for
// preStop).
func ExecHook(ctx context.Context, e Execer, cmd []string, t Target) error {
	if e == nil {
		return ErrNoExec
	}
	stdout, stderr, code, err := e.ExecSync(ctx, t.ContainerID, cmd, 0)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("command %q exited with %d: %s", cmd, code, truncate(append(stdout, stderr...)))
	}
	return nil
}

// withTimeout adds a little to timeout so the runtime's own timeout (CRI
// ExecSync's) fires first and reports it; the context is the backstop.
func withTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, timeout+time.Second)
}
