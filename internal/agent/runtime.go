package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Runtime is the container runtime the agent drives, at the level of CRI's
// RuntimeService and ImageService: pod sandboxes (the network namespace and
// IP a pod's containers share) and containers, created, started, stopped
// and removed one call at a time. It knows nothing about the Kubernetes
// API: the agent decides what to run from the pods bound to its node, and
// derives every pod status field from what the runtime reports.
//
// Restart counts are the agent's: it passes Attempt when it creates a
// container (CRI's ContainerMetadata.Attempt) and reads it back from the
// container's status, as the kubelet does.
//
// Implementations must be safe for concurrent use; the agent serialises
// calls per pod but not across pods.
type Runtime interface {
	// Version names the runtime; the agent reports it in
	// node.status.nodeInfo.containerRuntimeVersion as "name://version",
	// and prefixes container IDs with "name://".
	Version(ctx context.Context) (RuntimeVersion, error)
	// UpdatePodCIDR tells the runtime the node's pod CIDR once the control
	// plane assigns one (CRI's UpdateRuntimeConfig); sandboxes created
	// afterwards take their IPs from it.
	UpdatePodCIDR(ctx context.Context, cidr string) error

	// ImageStatus reports whether image is present on the node and, if
	// so, its reference by digest (CRI's ImageStatus). An absent image is
	// not an error.
	ImageStatus(ctx context.Context, image string) (imageRef string, present bool, err error)
	// PullImage pulls image from its registry, even when it is present
	// (the agent decides whether to pull from the pod's imagePullPolicy),
	// and returns its reference by digest (reported as
	// containerStatuses[].imageID). auth is nil for an anonymous pull.
	PullImage(ctx context.Context, image string, auth *ImageAuth, sandbox *SandboxConfig) (imageRef string, err error)

	// RunPodSandbox creates and starts a sandbox and returns its ID.
	RunPodSandbox(ctx context.Context, config *SandboxConfig) (string, error)
	// StopPodSandbox stops every container of the sandbox and releases its
	// network (the IP returns to the pool). Stopping a stopped or unknown
	// sandbox is not an error.
	StopPodSandbox(ctx context.Context, id string) error
	// RemovePodSandbox removes a sandbox and its containers. Removing an
	// unknown sandbox is not an error.
	RemovePodSandbox(ctx context.Context, id string) error
	// ListPodSandboxes returns the sandboxes that match filter.
	ListPodSandboxes(ctx context.Context, filter SandboxFilter) ([]SandboxStatus, error)

	// CreateContainer creates a container in a sandbox and returns its ID.
	CreateContainer(ctx context.Context, sandboxID string, config *ContainerConfig) (string, error)
	// StartContainer starts a created container.
	StartContainer(ctx context.Context, id string) error
	// StopContainer stops a running container, waiting at most timeout
	// for it to exit before killing it. Stopping an exited or unknown
	// container is not an error.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// RemoveContainer removes a container. Removing an unknown container
	// is not an error.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers returns the containers that match filter.
	ListContainers(ctx context.Context, filter ContainerFilter) ([]ContainerStatus, error)

	// WatchEvents calls handle for every change the runtime makes on its
	// own (a container exited), until ctx ends; changes made by the
	// agent's own calls need not be reported. handle must not block. (CRI
	// implementations feed it from GetContainerEvents or a periodic
	// relist, as the kubelet's PLEG does.)
	WatchEvents(ctx context.Context, handle func(ContainerEvent)) error
}

// ImageAuth is the registry credential of one pull (CRI's AuthConfig),
// found by the agent in the pod's image pull secrets.
type ImageAuth struct {
	Username, Password string
	// Auth is base64("username:password"), as in a docker config file.
	Auth string
	// ServerAddress, when set, restricts the credential to that registry.
	ServerAddress string
	IdentityToken string
	RegistryToken string
}

// Restorer is implemented by runtimes that keep no state across agent
// restarts, such as the simulated one: before its first pod sync the agent
// hands it the pods the API server says are bound to this node, so the
// runtime can recreate what they were running (same sandbox IPs,
// container IDs and start times) rather than restart every container. A
// real runtime keeps its containers running while the agent restarts and
// does not implement it.
type Restorer interface {
	Restore(ctx context.Context, pods []*corev1.Pod) error
}

// RuntimeVersion is CRI's VersionResponse, reduced to what the agent uses.
type RuntimeVersion struct {
	// Name is the runtime's name, such as "containerd" or "simulated".
	Name string
	// Version is the runtime's own version, such as "1.7.24".
	Version string
}

// SandboxState is CRI's PodSandboxState.
type SandboxState string

const (
	SandboxReady    SandboxState = "Ready"
	SandboxNotReady SandboxState = "NotReady"
)

// ContainerState is CRI's ContainerState.
type ContainerState string

const (
	ContainerCreated ContainerState = "Created"
	ContainerRunning ContainerState = "Running"
	ContainerExited  ContainerState = "Exited"
	ContainerUnknown ContainerState = "Unknown"
)

// SandboxConfig describes a pod sandbox to create (CRI's PodSandboxConfig,
// reduced).
type SandboxConfig struct {
	PodUID       types.UID
	PodName      string
	PodNamespace string
	// Attempt counts the sandboxes created for this pod before, from 0.
	Attempt     uint32
	Hostname    string
	HostNetwork bool
	// Labels and Annotations are the pod's own, as the kubelet passes
	// them; runtimes may read conventions from them (the simulated runtime
	// does).
	Labels      map[string]string
	Annotations map[string]string
	// DNS is the pod's resolv.conf; nil leaves the runtime's default (the
	// host's). Ports are the containers' hostPort mappings.
	DNS   *DNSConfig
	Ports []PortMapping
}

// DNSConfig is CRI's DNSConfig: what the sandbox's resolv.conf says.
type DNSConfig struct {
	Servers, Searches, Options []string
}

// PortMapping is a container port published on the node (hostPort).
type PortMapping struct {
	// Protocol is "TCP", "UDP" or "SCTP"; empty means TCP.
	Protocol      string
	ContainerPort int32
	HostPort      int32
	HostIP        string
}

// SandboxFilter selects sandboxes; zero fields match everything.
type SandboxFilter struct {
	PodUID types.UID
}

// SandboxStatus is what the runtime reports of one sandbox.
type SandboxStatus struct {
	ID           string
	PodUID       types.UID
	PodName      string
	PodNamespace string
	Attempt      uint32
	State        SandboxState
	CreatedAt    time.Time
	// IPs are the pod's IPs, primary first; empty once the sandbox is
	// stopped.
	IPs []string
}

// ContainerConfig describes a container to create (CRI's ContainerConfig,
// reduced). The simulated runtime ignores mounts, resources and security;
// the CRI runtime (internal/agent/cri) applies them.
type ContainerConfig struct {
	Name string
	// Attempt is the container's restart count: 0 for the first instance,
	// one more than the previous instance after that.
	Attempt uint32
	// Image is the image as the pod spec names it; ImageRef is what
	// PullImage returned for it.
	Image      string
	ImageRef   string
	Command    []string
	Args       []string
	WorkingDir string
	Env        []KeyValue
	// Init is set for init containers, Sidecar for those among them that
	// keep running beside the regular containers (restartPolicy Always).
	// The agent, not the runtime, acts on them; a runtime may use them to
	// label containers (the simulated one decides by them how long a
	// container runs).
	Init, Sidecar bool
	// Labels and Annotations are the agent's own metadata for the
	// container.
	Labels      map[string]string
	Annotations map[string]string
	// Mounts are bind mounts from the node into the container (volumes,
	// resolved to host paths by the agent). Resources and Security are
	// nil when the pod sets none.
	Mounts    []Mount
	Resources *Resources
	Security  *SecurityContext
}

// Mount is a bind mount of a node path into a container.
type Mount struct {
	ContainerPath string
	HostPath      string
	ReadOnly      bool
	// Propagation is the volumeMount's mountPropagation; empty is None.
	Propagation corev1.MountPropagationMode
}

// Resources are a container's resources in Kubernetes' units; a CRI
// runtime converts them to cgroup values as the kubelet does (CPU shares
// from the request, CFS quota from the limit). Zero means unset.
type Resources struct {
	CPURequestMilli  int64
	CPULimitMilli    int64
	MemoryLimitBytes int64
}

// SecurityContext is the subset of a container's effective security
// context (pod-level settings merged in) that the runtime applies.
type SecurityContext struct {
	RunAsUser              *int64
	RunAsGroup             *int64
	Privileged             bool
	ReadOnlyRootFilesystem bool
	// AllowPrivilegeEscalation nil means true, as in Kubernetes.
	AllowPrivilegeEscalation *bool
	CapAdd, CapDrop          []string
}

// KeyValue is one environment variable.
type KeyValue struct {
	Key, Value string
}

// ContainerFilter selects containers; zero fields match everything.
type ContainerFilter struct {
	PodUID    types.UID
	SandboxID string
}

// ContainerStatus is what the runtime reports of one container.
type ContainerStatus struct {
	ID        string
	SandboxID string
	PodUID    types.UID
	Name      string
	Attempt   uint32
	Image     string
	ImageRef  string
	State     ContainerState
	CreatedAt time.Time
	// StartedAt is zero until the container starts; FinishedAt until it
	// exits.
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int32
	// Reason and Message explain an exit, e.g. "Completed", "Error",
	// "OOMKilled".
	Reason  string
	Message string
}

// ContainerEvent reports a change the runtime made on its own.
type ContainerEvent struct {
	PodUID      types.UID
	ContainerID string
	State       ContainerState
}

// ContainerResources converts c's requests and limits into Resources, for
// a ContainerConfig; nil when c sets neither CPU nor memory.
func ContainerResources(c *corev1.Container) *Resources {
	r := Resources{
		CPURequestMilli:  c.Resources.Requests.Cpu().MilliValue(),
		CPULimitMilli:    c.Resources.Limits.Cpu().MilliValue(),
		MemoryLimitBytes: c.Resources.Limits.Memory().Value(),
	}
	if r == (Resources{}) {
		return nil
	}
	return &r
}

// ContainerSecurity merges the pod's security context into c's (the
// container's fields win, as in Kubernetes) for a ContainerConfig; nil
// when neither sets anything the runtime applies.
func ContainerSecurity(pod *corev1.Pod, c *corev1.Container) *SecurityContext {
	var s SecurityContext
	if psc := pod.Spec.SecurityContext; psc != nil {
		s.RunAsUser, s.RunAsGroup = psc.RunAsUser, psc.RunAsGroup
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			s.RunAsUser = csc.RunAsUser
		}
		if csc.RunAsGroup != nil {
			s.RunAsGroup = csc.RunAsGroup
		}
		s.Privileged = csc.Privileged != nil && *csc.Privileged
		s.ReadOnlyRootFilesystem = csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem
		s.AllowPrivilegeEscalation = csc.AllowPrivilegeEscalation
		if caps := csc.Capabilities; caps != nil {
			for _, c := range caps.Add {
				s.CapAdd = append(s.CapAdd, string(c))
			}
			for _, c := range caps.Drop {
				s.CapDrop = append(s.CapDrop, string(c))
			}
		}
	}
	if s.RunAsUser == nil && s.RunAsGroup == nil && !s.Privileged && !s.ReadOnlyRootFilesystem &&
		s.AllowPrivilegeEscalation == nil && len(s.CapAdd)+len(s.CapDrop) == 0 {
		return nil
	}
	return &s
}

// PodPorts lists the hostPorts of the pod's containers (init containers
// included, as the kubelet does), for a SandboxConfig. Host-network pods
// publish nothing: their ports are the node's already.
func PodPorts(pod *corev1.Pod) []PortMapping {
	if pod.Spec.HostNetwork {
		return nil
	}
	var out []PortMapping
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					out = append(out, PortMapping{Protocol: string(p.Protocol), ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIP: p.HostIP})
				}
			}
		}
	}
	return out
}
