package cri

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/agent/envvars"
	"github.com/skiff-sh/skiff/internal/agent/volumes"
	"github.com/skiff-sh/skiff/internal/network/cni"
	"github.com/skiff-sh/skiff/internal/network/masquerade"
	"github.com/skiff-sh/skiff/internal/network/routes"
)

// nodeHooks are the agent's volume and env hooks, reading the API objects
// pods refer to through one informer factory.
type nodeHooks struct {
	factory informers.SharedInformerFactory
	volumes *volumeHook
	env     *envHook
}

// newNodeHooks builds the hooks; Start the factory before the agent runs.
// The informers hold every ConfigMap, Secret, Service, claim and volume of
// the cluster, as the kubelet's (it watches per referenced object; one
// node in a small cluster does not need that economy).
func newNodeHooks(cfg NodeConfig, node envvars.Node) *nodeHooks {
	f := informers.NewSharedInformerFactory(cfg.Client, 0)
	core := f.Core().V1()
	cms, secrets := core.ConfigMaps().Lister(), core.Secrets().Lister()
	vl := volumes.Listers{ConfigMaps: cms, Secrets: secrets,
		Claims: core.PersistentVolumeClaims().Lister(), Volumes: core.PersistentVolumes().Lister()}
	el := envvars.Listers{ConfigMaps: cms, Secrets: secrets, Services: core.Services().Lister()}
	return &nodeHooks{
		factory: f,
		volumes: &volumeHook{m: volumes.New(volumes.Config{
			DataDir: cfg.DataDir, Sources: vl, Allocatable: node.Allocatable,
			// Secrets stay off the disk when we may mount a tmpfs.
			SecretsOnTmpfs: os.Geteuid() == 0,
		})},
		env: &envHook{src: el, node: node},
	}
}

// start runs the informers and waits for their caches, so the first pod
// sync does not see missing config maps that exist.
func (h *nodeHooks) start(ctx context.Context) error {
	h.factory.Start(ctx.Done())
	for typ, ok := range h.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("node informer for %v did not sync: %w", typ, context.Cause(ctx))
		}
	}
	return nil
}

// resyncOnChange has the agent sync the pods that mount a ConfigMap or
// Secret as soon as it changes, so that their files follow edits at once.
func (h *nodeHooks) resyncOnChange(a *agent.Agent) error {
	core := h.factory.Core().V1()
	for kind, inf := range map[string]cache.SharedIndexInformer{"ConfigMap": core.ConfigMaps().Informer(), "Secret": core.Secrets().Informer()} {
		_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(old, cur any) {
				o, c := old.(metav1.Object), cur.(metav1.Object)
				if o.GetResourceVersion() != c.GetResourceVersion() {
					a.ResyncPodsMounting(kind, c.GetNamespace(), c.GetName())
				}
			},
		})
		if err != nil {
			return fmt.Errorf("watching %s changes: %w", kind, err)
		}
	}
	return nil
}

// volumeHook adapts volumes.Manager to agent.Volumes.
type volumeHook struct{ m *volumes.Manager }

func (v *volumeHook) Setup(pod *corev1.Pod) error  { return v.m.Setup(pod) }
func (v *volumeHook) Update(pod *corev1.Pod) error { return v.m.Update(pod) }
func (v *volumeHook) Cleanup(uid types.UID) error  { return v.m.Cleanup(uid) }

// PodUIDs lists the pod directories under DATA_DIR/pods.
func (v *volumeHook) PodUIDs() ([]types.UID, error) {
	entries, err := os.ReadDir(filepath.Dir(v.m.PodDir("x")))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing pod directories: %w", err)
	}
	var out []types.UID
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, types.UID(e.Name()))
		}
	}
	return out, nil
}

func (v *volumeHook) Mounts(pod *corev1.Pod, c *corev1.Container, env map[string]string) ([]agent.Mount, error) {
	ms, err := v.m.Mounts(pod, c, env)
	if err != nil {
		return nil, err
	}
	out := make([]agent.Mount, len(ms))
	for i, m := range ms {
		out[i] = agent.Mount{ContainerPath: m.ContainerPath, HostPath: m.HostPath, ReadOnly: m.ReadOnly, Propagation: m.Propagation}
	}
	return out, nil
}

// envHook adapts envvars.Resolve to agent.EnvResolver.
type envHook struct {
	src  envvars.Sources
	node envvars.Node
}

func (e *envHook) ResolveEnv(pod *corev1.Pod, c *corev1.Container, podIPs []string) (agent.ResolvedEnv, error) {
	res, err := envvars.Resolve(e.src, pod, c, e.node, podIPs)
	if err != nil {
		return agent.ResolvedEnv{}, err
	}
	out := agent.ResolvedEnv{Command: res.Command, Args: res.Args, Env: make([]agent.KeyValue, len(res.Env))}
	for i, ev := range res.Env {
		out.Env[i] = agent.KeyValue{Key: ev.Name, Value: ev.Value}
	}
	return out, nil
}

// hostResolvConf is the resolv.conf pods get with dnsPolicy Default (and
// ClusterFirst until cluster DNS exists). Under systemd-resolved
// /etc/resolv.conf names 127.0.0.53, unreachable from a pod's network
// namespace, so the upstream servers' file is used when present (as k3s
// does).
func hostResolvConf() string {
	const resolved = "/run/systemd/resolve/resolv.conf"
	if _, err := os.Stat(resolved); err == nil {
		return resolved
	}
	return "/etc/resolv.conf"
}

// setupHostNetwork installs the blackhole routes for the cluster and
// service ranges and turns on forwarding; the returned func removes the
// routes (the sysctls stay: other software may rely on forwarding too).
func setupHostNetwork(cfg NodeConfig) (func(), error) {
	all := append(append([]netip.Prefix(nil), cfg.ClusterCIDRs...), cfg.ServiceCIDRs...)
	if len(all) == 0 {
		return func() {}, nil
	}
	v6 := false
	for _, p := range all {
		v6 = v6 || p.Addr().Is6()
	}
	rep, err := routes.Sysctls{IPv6: v6}.Apply()
	if err != nil {
		return nil, err
	}
	if !rep.BridgeNetfilter {
		cfg.Log.Warn("br_netfilter is not loaded: pods reaching a service whose endpoint is on the same node are not translated (modprobe br_netfilter)")
	}
	bh := routes.Blackholes{Prefixes: cfg.ClusterCIDRs, Local: cfg.ServiceCIDRs}
	if err := bh.Install(); err != nil {
		return nil, err
	}
	return func() {
		if err := bh.Remove(); err != nil {
			cfg.Log.Warn("Removing blackhole routes", "err", err)
		}
	}, nil
}

// podEgress masquerades pods' connections to outside the pod ranges
// (internal/network/masquerade; the CNI bridge plugin's ipMasq is off).
// The ranges are the cluster's when known (skiff server), else the node's
// own pod CIDR, as ipMasq would use.
type podEgress struct {
	cfg   NodeConfig
	mu    sync.Mutex
	rules *masquerade.Rules
}

func (e *podEgress) install(ctx context.Context, podCIDR string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rules != nil {
		return
	}
	ranges := e.cfg.ClusterCIDRs
	if len(ranges) == 0 {
		var err error
		if ranges, err = cni.ParsePodCIDRs(podCIDR); err != nil {
			e.cfg.Log.Error("Pod egress masquerade", "podCIDR", podCIDR, "err", err)
			return
		}
	}
	r := masquerade.Rules{ClusterCIDRs: ranges}
	if err := r.Install(ctx); err != nil {
		e.cfg.Log.Error("Pod egress masquerade", "err", err)
		return
	}
	e.rules = &r
}

func (e *podEgress) remove() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rules == nil {
		return
	}
	if err := e.rules.Remove(context.Background()); err != nil {
		e.cfg.Log.Warn("Removing the pod egress masquerade table", "err", err)
	}
}
