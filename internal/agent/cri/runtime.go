package cri

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remote "k8s.io/cri-client/pkg"
	"k8s.io/klog/v2"

	"github.com/skiff-sh/skiff/internal/agent"
)

// Config configures the CRI runtime.
type Config struct {
	// Endpoint is the CRI socket, e.g. "unix:///var/lib/skiff/containerd/containerd.sock".
	Endpoint string
	// LogDir holds the pod log directories (the kubelet's /var/log/pods).
	LogDir string
	// CgroupDriver is "systemd" or "cgroupfs" (default), as containerd is
	// configured; it decides the form of the sandbox cgroup parent.
	CgroupDriver string
	// RequestTimeout bounds each CRI call; default 2m, the kubelet's
	// runtimeRequestTimeout (creating a sandbox can take a while).
	RequestTimeout time.Duration
	// RelistPeriod is how often WatchEvents relists; default 1s, the
	// kubelet's generic PLEG period.
	RelistPeriod time.Duration
	// OnPodCIDR, when set, runs before the runtime hears of the node's pod
	// CIDR: containerd 1.6 without a conf_template ignores CRI's
	// UpdateRuntimeConfig, so the node writes its CNI configuration here.
	OnPodCIDR func(cidr string) error
}

// Runtime is agent.Runtime over CRI.
type Runtime struct {
	cfg    Config
	rs     internalapi.RuntimeService
	images internalapi.ImageManagerService

	mu sync.Mutex
	// sandboxes caches the config each sandbox was created with, since
	// CRI's CreateContainer wants it again; guarded by mu. After an agent
	// restart it is rebuilt from PodSandboxStatus (sandboxConfigFor).
	sandboxes map[string]*runtimeapi.PodSandboxConfig
}

var _ agent.Runtime = (*Runtime)(nil)

// New connects to cfg.Endpoint and checks that it answers.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Endpoint == "" || cfg.LogDir == "" {
		return nil, errors.New("cri: Endpoint and LogDir are required")
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 2 * time.Minute
	}
	if cfg.RelistPeriod == 0 {
		cfg.RelistPeriod = time.Second
	}
	rs, err := remote.NewRemoteRuntimeServiceBuilder().
		WithEndpoint(cfg.Endpoint).WithConnectionTimeout(cfg.RequestTimeout).WithUseStreaming(false).Build(ctx)
	if err != nil {
		return nil, fmt.Errorf("cri: runtime service at %s: %w", cfg.Endpoint, err)
	}
	is, err := remote.NewRemoteImageServiceBuilder().
		WithEndpoint(cfg.Endpoint).WithConnectionTimeout(cfg.RequestTimeout).Build(ctx)
	if err != nil {
		_ = rs.Close(ctx)
		return nil, fmt.Errorf("cri: image service at %s: %w", cfg.Endpoint, err)
	}
	return &Runtime{cfg: cfg, rs: rs, images: is, sandboxes: map[string]*runtimeapi.PodSandboxConfig{}}, nil
}

// Close closes the connections.
func (r *Runtime) Close(ctx context.Context) error {
	return errors.Join(r.rs.Close(quiet(ctx)), r.images.Close(quiet(ctx)))
}

// Version implements agent.Runtime.
func (r *Runtime) Version(ctx context.Context) (agent.RuntimeVersion, error) {
	v, err := r.rs.Version(quiet(ctx), "v1")
	if err != nil {
		return agent.RuntimeVersion{}, fmt.Errorf("cri: version: %w", err)
	}
	return agent.RuntimeVersion{Name: v.RuntimeName, Version: v.RuntimeVersion}, nil
}

// RuntimeConditions implements agent.RuntimeStatuser: CRI's runtime
// conditions (RuntimeReady, NetworkReady) for the node's Ready condition.
func (r *Runtime) RuntimeConditions(ctx context.Context) ([]agent.RuntimeCondition, error) {
	st, err := r.rs.Status(quiet(ctx), false)
	if err != nil {
		return nil, fmt.Errorf("cri: status: %w", err)
	}
	var out []agent.RuntimeCondition
	for _, c := range st.GetStatus().GetConditions() {
		out = append(out, agent.RuntimeCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
	}
	return out, nil
}

// UpdatePodCIDR implements agent.Runtime.
func (r *Runtime) UpdatePodCIDR(ctx context.Context, cidr string) error {
	if r.cfg.OnPodCIDR != nil {
		if err := r.cfg.OnPodCIDR(cidr); err != nil {
			return fmt.Errorf("cri: pod CIDR %s: %w", cidr, err)
		}
	}
	err := r.rs.UpdateRuntimeConfig(quiet(ctx), &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr}})
	if err != nil {
		return fmt.Errorf("cri: update pod CIDR %s: %w", cidr, err)
	}
	return nil
}

// isNotFound reports a CRI NotFound error, which stop and remove treat as
// done.
func isNotFound(err error) bool {
	return status.Code(err) == codes.NotFound
}

// quiet silences cri-client's own klog error lines: every error is
// returned with context and logged once by the agent, and NotFound from
// stop and remove is expected, not an error.
func quiet(ctx context.Context) context.Context {
	return klog.NewContext(ctx, logr.Discard())
}
