package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// Upstream's kubelet defaults, which the control plane's node lifecycle
// controller is tuned to.
const (
	// DefaultLeaseDuration is the kubelet's nodeLeaseDurationSeconds.
	DefaultLeaseDuration = 40 * time.Second
	// DefaultLeaseRenewInterval is a quarter of the lease duration, as
	// the kubelet renews: three renewals may fail before the lease lapses.
	DefaultLeaseRenewInterval = 10 * time.Second
	// DefaultNodeStatusUpdateFrequency is how often the agent computes the
	// node status (nodeStatusUpdateFrequency) ...
	DefaultNodeStatusUpdateFrequency = 10 * time.Second
	// DefaultNodeStatusReportFrequency is how often it writes an unchanged
	// one (nodeStatusReportFrequency); the Lease is the heartbeat.
	DefaultNodeStatusReportFrequency = 5 * time.Minute
	// DefaultResyncInterval is how often a pod is synced with no event
	// (the kubelet's syncFrequency), to catch anything an event missed.
	DefaultResyncInterval = time.Minute
	// Container restart back-off: 10s, 20s, 40s, ... capped at 5 minutes.
	DefaultBackOffInitial = 10 * time.Second
	DefaultBackOffMax     = 5 * time.Minute
	// DefaultWorkers is how many pods one agent syncs at once.
	DefaultWorkers = 4
)

// Config is one agent: one node. Fields left zero take upstream's
// defaults.
type Config struct {
	// NodeName is the Node this agent registers and runs the pods of.
	NodeName string
	Client   kubernetes.Interface
	Runtime  Runtime
	// Prober decides startup and readiness; nil counts every running
	// container as started and ready.
	Prober Prober
	// Pods is a pod watch shared by several agents in one process (see
	// NewPodWatch); nil means the agent watches its own node's pods.
	Pods *PodWatch
	Node NodeConfig
	// Workers is how many pods this agent syncs at once.
	Workers int
	// ReportContainerCreating writes a new pod's Pending status (its
	// containers Waiting with reason ContainerCreating) before starting
	// its containers, as the kubelet's first sync does. When false, a
	// runtime that starts containers at once (the simulated one) takes a
	// bound pod to Running in a single status write.
	ReportContainerCreating bool
	// BackOffInitial and BackOffMax bound the delay before a container
	// that keeps exiting is restarted (CrashLoopBackOff).
	BackOffInitial, BackOffMax time.Duration
	// LeaseDuration and LeaseRenewInterval shape the heartbeat Lease in
	// kube-node-lease.
	LeaseDuration, LeaseRenewInterval time.Duration
	// NodeStatusUpdateFrequency is how often the node status is computed
	// (and written if it changed); NodeStatusReportFrequency is how often
	// it is written when unchanged.
	NodeStatusUpdateFrequency, NodeStatusReportFrequency time.Duration
	// ResyncInterval is how often each pod is synced without an event.
	ResyncInterval time.Duration
	// Recorder receives pod events (Pulled, Created, Started, Killing,
	// BackOff); nil records none, which is what thousands of simulated
	// pods want.
	Recorder record.EventRecorder
	// Volumes and Env are the real node's hooks (see hooks.go); nil
	// mounts no volumes and passes only literal env values, which is all
	// the simulated runtime needs.
	Volumes Volumes
	Env     EnvResolver
	// ResolvConf is the host's resolv.conf, which pods with dnsPolicy
	// Default get (and ClusterFirst without ClusterDNS); its search
	// domains follow the cluster's for ClusterFirst. Empty leaves DNS to
	// the runtime unless the pod sets dnsConfig or uses cluster DNS.
	ResolvConf string
	// ClusterDNS are the nameservers of ClusterFirst pods, the kubelet's
	// --cluster-dns (the kube-dns Service's IP); empty makes ClusterFirst
	// fall back to Default, as the kubelet does.
	ClusterDNS []string
	// ClusterDomain is the kubelet's --cluster-domain, the root of
	// ClusterFirst pods' search list; empty means cluster.local.
	ClusterDomain string
	// WaitPodCIDR polls the Node every 200ms from registration until the
	// control plane assigns its pod CIDR, as the kubelet's
	// fastNodeStatusUpdate does, so that pod networking is configured at
	// once rather than at the next status update (10s). A real node sets
	// it; thousands of simulated ones would only add load.
	WaitPodCIDR bool
	// TerminationGate, when set, runs before a deleted pod's containers
	// are signalled, and returns once no data path sends it new traffic
	// (see termination.go). Its time counts against the grace period.
	TerminationGate func(ctx context.Context, pod *corev1.Pod) error
	Clock           clock.WithTicker
	Log             *slog.Logger
}

// NodeConfig is what the agent registers its Node with.
type NodeConfig struct {
	// Labels are added to the well-known ones the agent sets itself
	// (kubernetes.io/hostname, kubernetes.io/os, kubernetes.io/arch).
	Labels      map[string]string
	Annotations map[string]string
	// Taints are set when the Node is first created.
	Taints []corev1.Taint
	// Capacity is the node's resources; Allocatable defaults to it.
	Capacity    corev1.ResourceList
	Allocatable corev1.ResourceList
	// Addresses must hold an InternalIP: it is every pod's hostIP.
	Addresses []corev1.NodeAddress
	// SystemInfo is reported as status.nodeInfo; the agent fills in
	// kubeletVersion, containerRuntimeVersion, operatingSystem and
	// architecture.
	SystemInfo corev1.NodeSystemInfo
	// KubeletPort is status.daemonEndpoints.kubeletEndpoint.port; 0 leaves
	// it unset (a simulated node serves no logs or exec).
	KubeletPort int32
}

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.NodeName == "":
		return c, errors.New("agent: NodeName is required")
	case c.Client == nil:
		return c, errors.New("agent: Client is required")
	case c.Runtime == nil:
		return c, errors.New("agent: Runtime is required")
	}
	if c.Prober == nil {
		c.Prober = alwaysReady{}
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	setDefault(&c.BackOffInitial, DefaultBackOffInitial)
	setDefault(&c.BackOffMax, DefaultBackOffMax)
	setDefault(&c.LeaseDuration, DefaultLeaseDuration)
	setDefault(&c.LeaseRenewInterval, DefaultLeaseRenewInterval)
	setDefault(&c.NodeStatusUpdateFrequency, DefaultNodeStatusUpdateFrequency)
	setDefault(&c.NodeStatusReportFrequency, DefaultNodeStatusReportFrequency)
	setDefault(&c.ResyncInterval, DefaultResyncInterval)
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	c.Log = c.Log.With("node", c.NodeName)
	return c, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}
