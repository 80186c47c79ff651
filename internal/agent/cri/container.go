package cri

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

// imageAnnotation keeps the image as the pod spec names it: containerd
// reports a container's image by ID, and the agent reports the spec's name
// in containerStatuses[].image, as the kubelet does.
const imageAnnotation = "skiff.dev/image"

// CreateContainer implements agent.Runtime.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cc *agent.ContainerConfig) (string, error) {
	sb, err := r.sandboxConfigFor(ctx, sandboxID)
	if err != nil {
		return "", err
	}
	cfg := r.containerConfig(sb, cc)
	if err := os.MkdirAll(filepath.Join(sb.LogDirectory, cc.Name), 0o755); err != nil {
		return "", fmt.Errorf("cri: container log directory: %w", err)
	}
	id, err := r.rs.CreateContainer(quiet(ctx), sandboxID, cfg, sb)
	if err != nil {
		return "", fmt.Errorf("cri: create container %s in sandbox %s: %w", cc.Name, sandboxID, err)
	}
	return id, nil
}

// containerConfig is the kubelet's generateContainerConfig, reduced.
func (r *Runtime) containerConfig(sb *runtimeapi.PodSandboxConfig, cc *agent.ContainerConfig) *runtimeapi.ContainerConfig {
	md := sb.GetMetadata()
	labels := maps.Clone(cc.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[podNameLabel] = md.GetName()
	labels[podNamespaceLabel] = md.GetNamespace()
	labels[podUIDLabel] = md.GetUid()
	labels[containerNameLabel] = cc.Name
	labels[managedLabel] = "true"
	annotations := maps.Clone(cc.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[imageAnnotation] = cc.Image
	image := cc.ImageRef
	if image == "" {
		image = cc.Image
	}
	envs := make([]*runtimeapi.KeyValue, 0, len(cc.Env))
	for _, e := range cc.Env {
		envs = append(envs, &runtimeapi.KeyValue{Key: e.Key, Value: []byte(e.Value)})
	}
	network := sb.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork()
	return &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: cc.Name, Attempt: cc.Attempt},
		Image:       &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: cc.Image},
		Command:     cc.Command,
		Args:        cc.Args,
		WorkingDir:  cc.WorkingDir,
		Envs:        envs,
		Mounts:      mounts(cc.Mounts),
		Labels:      labels,
		Annotations: annotations,
		// Relative to the sandbox's LogDirectory: <name>/<attempt>.log.
		LogPath: filepath.Join(cc.Name, strconv.Itoa(int(cc.Attempt))+".log"),
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       linuxResources(cc.Resources),
			SecurityContext: securityContext(cc.Security, network),
		},
	}
}

// StartContainer implements agent.Runtime.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.rs.StartContainer(quiet(ctx), id); err != nil {
		return fmt.Errorf("cri: start container %s: %w", id, err)
	}
	return nil
}

// StopContainer implements agent.Runtime. CRI takes whole seconds; a
// fraction rounds up so a grace period is never cut short.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	secs := int64((timeout + time.Second - 1) / time.Second)
	if err := r.rs.StopContainer(quiet(ctx), id, secs); err != nil && !isNotFound(err) {
		return fmt.Errorf("cri: stop container %s: %w", id, err)
	}
	return nil
}

// RemoveContainer implements agent.Runtime.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if err := r.rs.RemoveContainer(quiet(ctx), id); err != nil && !isNotFound(err) {
		return fmt.Errorf("cri: remove container %s: %w", id, err)
	}
	return nil
}

// ListContainers implements agent.Runtime: a list, then each container's
// status for its times, exit code and reason.
func (r *Runtime) ListContainers(ctx context.Context, filter agent.ContainerFilter) ([]agent.ContainerStatus, error) {
	sel := map[string]string{managedLabel: "true"}
	if filter.PodUID != "" {
		sel[podUIDLabel] = string(filter.PodUID)
	}
	list, err := r.rs.ListContainers(quiet(ctx), &runtimeapi.ContainerFilter{PodSandboxId: filter.SandboxID, LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("cri: list containers: %w", err)
	}
	out := make([]agent.ContainerStatus, 0, len(list))
	for _, c := range list {
		st, err := r.rs.ContainerStatus(quiet(ctx), c.Id, false)
		if isNotFound(err) {
			continue // removed since the list
		}
		if err != nil {
			return nil, fmt.Errorf("cri: container %s: %w", c.Id, err)
		}
		out = append(out, containerStatus(c, st.GetStatus()))
	}
	return out, nil
}

// containerStatus maps CRI's list entry and status onto the agent's.
func containerStatus(c *runtimeapi.Container, s *runtimeapi.ContainerStatus) agent.ContainerStatus {
	out := agent.ContainerStatus{
		ID:        c.Id,
		SandboxID: c.PodSandboxId,
		PodUID:    types.UID(c.Labels[podUIDLabel]),
		Name:      c.GetMetadata().GetName(),
		Attempt:   c.GetMetadata().GetAttempt(),
		Image:     c.Annotations[imageAnnotation],
		ImageRef:  s.GetImageRef(),
		State:     containerState(s.GetState()),
		CreatedAt: nanos(s.GetCreatedAt()),
		StartedAt: nanos(s.GetStartedAt()),
		ExitCode:  s.GetExitCode(),
		Reason:    s.GetReason(),
		Message:   s.GetMessage(),
	}
	if out.Image == "" {
		out.Image = s.GetImage().GetImage()
	}
	if out.State == agent.ContainerExited {
		out.FinishedAt = nanos(s.GetFinishedAt())
		// containerd stamps StartedAt when StartContainer returns and
		// FinishedAt at the exit event: a process that exits at once can
		// finish "before" it started. Clamp, so finishedAt >= startedAt.
		if out.FinishedAt.Before(out.StartedAt) {
			out.FinishedAt = out.StartedAt
		}
	}
	return out
}

// nanos is a CRI timestamp; CRI uses 0 for "not yet".
func nanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func containerState(s runtimeapi.ContainerState) agent.ContainerState {
	switch s {
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		return agent.ContainerCreated
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return agent.ContainerRunning
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		return agent.ContainerExited
	}
	return agent.ContainerUnknown
}
