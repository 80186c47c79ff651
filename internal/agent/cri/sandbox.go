package cri

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

// The kubelet's labels on sandboxes and containers (pkg/kubelet/types),
// plus managedLabel, which marks what this runtime created so that it never
// lists or touches anything else sharing containerd's k8s.io namespace.
const (
	podNameLabel       = "io.kubernetes.pod.name"
	podNamespaceLabel  = "io.kubernetes.pod.namespace"
	podUIDLabel        = "io.kubernetes.pod.uid"
	containerNameLabel = "io.kubernetes.container.name"
	managedLabel       = "skiff.dev/managed"
)

// RunPodSandbox implements agent.Runtime.
func (r *Runtime) RunPodSandbox(ctx context.Context, sc *agent.SandboxConfig) (string, error) {
	cfg := r.sandboxConfig(sc)
	// The kubelet creates the log directory; containerd only opens files
	// in it.
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		return "", fmt.Errorf("cri: pod log directory: %w", err)
	}
	id, err := r.rs.RunPodSandbox(quiet(ctx), cfg, "")
	if err != nil {
		return "", fmt.Errorf("cri: run sandbox for pod %s/%s: %w", sc.PodNamespace, sc.PodName, err)
	}
	r.mu.Lock()
	r.sandboxes[id] = cfg
	r.mu.Unlock()
	return id, nil
}

// podLogDir is the kubelet's BuildPodLogsDirectory under LogDir.
func (r *Runtime) podLogDir(namespace, name string, uid types.UID) string {
	return filepath.Join(r.cfg.LogDir, namespace+"_"+name+"_"+string(uid))
}

// sandboxConfig is the kubelet's generatePodSandboxConfig, reduced.
func (r *Runtime) sandboxConfig(sc *agent.SandboxConfig) *runtimeapi.PodSandboxConfig {
	labels := maps.Clone(sc.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[podNameLabel] = sc.PodName
	labels[podNamespaceLabel] = sc.PodNamespace
	labels[podUIDLabel] = string(sc.PodUID)
	labels[managedLabel] = "true"
	network := runtimeapi.NamespaceMode_POD
	hostname := sc.Hostname
	if sc.HostNetwork {
		// A host-network pod sees the node's hostname, as upstream.
		network, hostname = runtimeapi.NamespaceMode_NODE, ""
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{
			Name: sc.PodName, Namespace: sc.PodNamespace, Uid: string(sc.PodUID), Attempt: sc.Attempt,
		},
		Hostname:     hostname,
		LogDirectory: r.podLogDir(sc.PodNamespace, sc.PodName, sc.PodUID),
		Labels:       labels,
		Annotations:  maps.Clone(sc.Annotations),
		PortMappings: portMappings(sc.Ports),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: r.cgroupParent(),
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				// The kubelet's defaults: private network (unless
				// hostNetwork) and IPC per pod, PID per container.
				NamespaceOptions: &runtimeapi.NamespaceOption{
					Network: network, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
				},
			},
		},
	}
	if sc.DNS != nil {
		cfg.DnsConfig = &runtimeapi.DNSConfig{Servers: sc.DNS.Servers, Searches: sc.DNS.Searches, Options: sc.DNS.Options}
	}
	return cfg
}

// cgroupParent is empty with cgroupfs (containerd's default place); with
// the systemd driver runc needs a slice, and system.slice always exists.
func (r *Runtime) cgroupParent() string {
	if r.cfg.CgroupDriver == "systemd" {
		return "system.slice"
	}
	return ""
}

func portMappings(ports []agent.PortMapping) []*runtimeapi.PortMapping {
	var out []*runtimeapi.PortMapping
	for _, p := range ports {
		proto := runtimeapi.Protocol_TCP
		switch strings.ToUpper(p.Protocol) {
		case "UDP":
			proto = runtimeapi.Protocol_UDP
		case "SCTP":
			proto = runtimeapi.Protocol_SCTP
		}
		out = append(out, &runtimeapi.PortMapping{Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP})
	}
	return out
}

// sandboxConfigFor returns the config sandbox id was created with: from
// the cache, else rebuilt from its status (after an agent restart). A
// rebuilt config has the same metadata, labels, annotations and log
// directory, which is what containerd reads from it in CreateContainer.
func (r *Runtime) sandboxConfigFor(ctx context.Context, id string) (*runtimeapi.PodSandboxConfig, error) {
	r.mu.Lock()
	cfg := r.sandboxes[id]
	r.mu.Unlock()
	if cfg != nil {
		return cfg, nil
	}
	st, err := r.rs.PodSandboxStatus(quiet(ctx), id, false)
	if err != nil {
		return nil, fmt.Errorf("cri: sandbox %s: %w", id, err)
	}
	s := st.GetStatus()
	md := s.GetMetadata()
	cfg = &runtimeapi.PodSandboxConfig{
		Metadata:     md,
		LogDirectory: r.podLogDir(md.GetNamespace(), md.GetName(), types.UID(md.GetUid())),
		Labels:       s.Labels,
		Annotations:  s.Annotations,
		Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: r.cgroupParent()},
	}
	r.mu.Lock()
	r.sandboxes[id] = cfg
	r.mu.Unlock()
	return cfg, nil
}

// StopPodSandbox implements agent.Runtime.
func (r *Runtime) StopPodSandbox(ctx context.Context, id string) error {
	if err := r.rs.StopPodSandbox(quiet(ctx), id); err != nil && !isNotFound(err) {
		return fmt.Errorf("cri: stop sandbox %s: %w", id, err)
	}
	return nil
}

// RemovePodSandbox implements agent.Runtime. containerd stops and removes
// the sandbox's containers itself. The pod's log directory goes with its
// last sandbox, as the kubelet's garbage collector removes it once the pod
// has no sandbox left.
func (r *Runtime) RemovePodSandbox(ctx context.Context, id string) error {
	st, err := r.rs.PodSandboxStatus(quiet(ctx), id, false)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cri: sandbox %s: %w", id, err)
	}
	if err := r.rs.RemovePodSandbox(quiet(ctx), id); err != nil && !isNotFound(err) {
		return fmt.Errorf("cri: remove sandbox %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.sandboxes, id)
	r.mu.Unlock()
	md := st.GetStatus().GetMetadata()
	left, err := r.rs.ListPodSandbox(quiet(ctx), &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{podUIDLabel: md.GetUid(), managedLabel: "true"}})
	if err == nil && len(left) == 0 && md.GetUid() != "" {
		if err := os.RemoveAll(r.podLogDir(md.GetNamespace(), md.GetName(), types.UID(md.GetUid()))); err != nil {
			return fmt.Errorf("cri: removing pod logs: %w", err)
		}
	}
	return nil
}

// ListPodSandboxes implements agent.Runtime. IPs come from each ready
// sandbox's status (one call per sandbox, as the kubelet makes).
func (r *Runtime) ListPodSandboxes(ctx context.Context, filter agent.SandboxFilter) ([]agent.SandboxStatus, error) {
	sel := map[string]string{managedLabel: "true"}
	if filter.PodUID != "" {
		sel[podUIDLabel] = string(filter.PodUID)
	}
	list, err := r.rs.ListPodSandbox(quiet(ctx), &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("cri: list sandboxes: %w", err)
	}
	out := make([]agent.SandboxStatus, 0, len(list))
	for _, sb := range list {
		md := sb.GetMetadata()
		s := agent.SandboxStatus{
			ID: sb.Id, PodUID: types.UID(md.GetUid()), PodName: md.GetName(), PodNamespace: md.GetNamespace(),
			Attempt: md.GetAttempt(), State: agent.SandboxNotReady, CreatedAt: time.Unix(0, sb.CreatedAt),
		}
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			s.State = agent.SandboxReady
			st, err := r.rs.PodSandboxStatus(quiet(ctx), sb.Id, false)
			if isNotFound(err) {
				continue // removed since the list
			}
			if err != nil {
				return nil, fmt.Errorf("cri: sandbox %s: %w", sb.Id, err)
			}
			s.IPs = sandboxIPs(st.GetStatus().GetNetwork())
		}
		out = append(out, s)
	}
	return out, nil
}

func sandboxIPs(n *runtimeapi.PodSandboxNetworkStatus) []string {
	if n.GetIp() == "" {
		return nil
	}
	ips := []string{n.GetIp()}
	for _, ip := range n.GetAdditionalIps() {
		ips = append(ips, ip.GetIp())
	}
	return ips
}
