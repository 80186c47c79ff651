package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

// The methods below serve the node's kubelet API (internal/agent/kubeletserver):
// CRI's streaming calls return a URL on the runtime's own streaming server
// (containerd's listens on 127.0.0.1), which the kubelet API proxies the
// client's upgraded connection to, as the kubelet does. The errors keep
// CRI's gRPC status (wrapped), so callers can tell NotFound and
// FailedPrecondition apart.

// Exec asks the runtime to prepare an exec in a container and returns the
// URL that serves it.
func (r *Runtime) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	resp, err := r.rs.Exec(quiet(ctx), req)
	if err != nil {
		return nil, fmt.Errorf("cri: exec in container %s: %w", req.GetContainerId(), err)
	}
	return resp, nil
}

// Attach asks the runtime to prepare an attach to a container's main
// process and returns the URL that serves it.
func (r *Runtime) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	resp, err := r.rs.Attach(quiet(ctx), req)
	if err != nil {
		return nil, fmt.Errorf("cri: attach to container %s: %w", req.GetContainerId(), err)
	}
	return resp, nil
}

// PortForward asks the runtime to prepare a port forward into a sandbox's
// network namespace and returns the URL that serves it.
func (r *Runtime) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	resp, err := r.rs.PortForward(quiet(ctx), req)
	if err != nil {
		return nil, fmt.Errorf("cri: port forward into sandbox %s: %w", req.GetPodSandboxId(), err)
	}
	return resp, nil
}

// ContainerLog returns where the runtime writes a container's output (in
// CRI's log format) and the container's state, which tells a following
// reader when no more output can come.
func (r *Runtime) ContainerLog(ctx context.Context, id string) (path string, state agent.ContainerState, err error) {
	st, err := r.rs.ContainerStatus(quiet(ctx), id, false)
	if err != nil {
		return "", "", fmt.Errorf("cri: container %s: %w", id, err)
	}
	return st.GetStatus().GetLogPath(), containerState(st.GetStatus().GetState()), nil
}
