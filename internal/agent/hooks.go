package agent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Volumes prepares pod volumes on the node (internal/agent/volumes, behind
// an adapter). The agent calls Setup before it creates a pod's sandbox or
// starts a container (an error means "not yet": the pod is synced again
// later), Mounts for each container's bind mounts, Update on every sync of
// a pod that runs (cheap when nothing changed), and Cleanup once the pod
// has left the node and its containers and sandboxes are gone.
type Volumes interface {
	Setup(pod *corev1.Pod) error
	// Mounts returns c's bind mounts; env is its resolved environment
	// (subPathExpr expands from it).
	Mounts(pod *corev1.Pod, c *corev1.Container, env map[string]string) ([]Mount, error)
	Update(pod *corev1.Pod) error
	Cleanup(uid types.UID) error
	// PodUIDs lists the pods that have volumes on the node, so that the
	// agent cleans up after pods deleted while it was down.
	PodUIDs() ([]types.UID, error)
}

// EnvResolver computes a container's environment (config maps, secrets,
// downward API, service links) and expands $(VAR) in its command and args
// (internal/agent/envvars, behind an adapter).
type EnvResolver interface {
	ResolveEnv(pod *corev1.Pod, c *corev1.Container, podIPs []string) (ResolvedEnv, error)
}

// ResolvedEnv is what an EnvResolver computed for one container.
type ResolvedEnv struct {
	Env           []KeyValue
	Command, Args []string
}

// Events recorded when a hook fails, as the kubelet names them.
const (
	EventFailedMount                 = "FailedMount"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
)

// setupVolumes prepares the pod's volumes when the agent has a Volumes
// hook; an error (a missing config map, an unbound claim) leaves the pod
// waiting and is retried with back-off.
func (a *Agent) setupVolumes(pod *corev1.Pod) error {
	if a.cfg.Volumes == nil {
		return nil
	}
	if err := a.cfg.Volumes.Setup(pod); err != nil {
		a.event(pod, corev1.EventTypeWarning, EventFailedMount, "MountVolume.SetUp failed: %v", err)
		return fmt.Errorf("setting up volumes of %s: %w", podDescription(pod), err)
	}
	return nil
}

// containerEnvAndMounts resolves c's environment, command, args and
// mounts into cfg. Without hooks only literal env values apply and no
// volume is mounted, which is all the simulated runtime looks at.
func (a *Agent) containerEnvAndMounts(pod *corev1.Pod, c *corev1.Container, podIPs []string, cfg *ContainerConfig) error {
	env := map[string]string{}
	if a.cfg.Env != nil {
		res, err := a.cfg.Env.ResolveEnv(pod, c, podIPs)
		if err != nil {
			return err
		}
		cfg.Env, cfg.Command, cfg.Args = res.Env, res.Command, res.Args
	}
	for _, kv := range cfg.Env {
		env[kv.Key] = kv.Value
	}
	if a.cfg.Volumes != nil {
		mounts, err := a.cfg.Volumes.Mounts(pod, c, env)
		if err != nil {
			return err
		}
		cfg.Mounts = mounts
	}
	return nil
}

// cleanupVolumes removes a departed pod's volumes; the pod's containers
// and sandboxes are gone by then.
func (a *Agent) cleanupVolumes(uid types.UID) error {
	if a.cfg.Volumes == nil {
		return nil
	}
	if err := a.cfg.Volumes.Cleanup(uid); err != nil {
		return fmt.Errorf("cleaning up volumes of pod %s: %w", uid, err)
	}
	return nil
}

// sandboxIPsOf returns the IPs of sandbox id, for env resolution right
// after the sandbox was created (the pod state read before is stale).
func (a *Agent) sandboxIPsOf(ctx context.Context, uid types.UID, id string) []string {
	if a.cfg.Env == nil || id == "" {
		return nil
	}
	sandboxes, err := a.runtime.ListPodSandboxes(ctx, SandboxFilter{PodUID: uid})
	if err != nil {
		return nil // status.podIP then resolves empty, as before the IP is known
	}
	for _, sb := range sandboxes {
		if sb.ID == id {
			return sb.IPs
		}
	}
	return nil
}
