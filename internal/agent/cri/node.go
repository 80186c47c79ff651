package cri

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/agent/envvars"
	"github.com/skiff-sh/skiff/internal/agent/imagegc"
	"github.com/skiff-sh/skiff/internal/agent/kubeletserver"
	"github.com/skiff-sh/skiff/internal/agent/prober"
	"github.com/skiff-sh/skiff/internal/controller/localprovisioner"
	"github.com/skiff-sh/skiff/internal/image"
	"github.com/skiff-sh/skiff/internal/network/cni"
	"github.com/skiff-sh/skiff/internal/runtime/containerd"
)

// NodeConfig runs a real node: the agent on CRI, with containerd
// supervised under DataDir unless Endpoint names one already running.
type NodeConfig struct {
	NodeName string
	Client   kubernetes.Interface
	// DataDir is the agent's data dir: containerd/, cni/conf/ and
	// pod-logs/ go under it.
	DataDir string
	// Endpoint is an existing CRI endpoint ("unix:///run/containerd/containerd.sock");
	// empty starts Skiff's own containerd.
	Endpoint string
	Labels   map[string]string
	Recorder record.EventRecorder
	Log      *slog.Logger
	// ClusterCIDRs and ServiceCIDRs are the cluster's pod and service
	// ranges: the node keeps addresses in them that nothing claimed on the
	// machine (a blackhole route for pods, a local route for services;
	// internal/network/routes) and its service proxy programs them. The
	// routes are removed when the node stops. Both empty install none and
	// leave the sysctls.
	ClusterCIDRs, ServiceCIDRs []netip.Prefix
	// ServeLoadBalancerStatus has this node's service proxy fill in
	// status.loadBalancer of type LoadBalancer Services with its
	// addresses, as k3s's servicelb does; one node of a cluster should.
	ServeLoadBalancerStatus bool
	// LocalStorageDir is where the local-path provisioner's volumes live
	// on this node; it must match the controller's BaseDir (empty: the
	// provisioner's DefaultBaseDir).
	LocalStorageDir string
	// Ready, when set, is closed once the agent is registered and runs
	// pods.
	Ready chan<- struct{}
	// ClientCAs verify the API server's client certificate on the node's
	// kubelet API (logs, exec, attach, port-forward): the cluster CA. Nil
	// runs no kubelet API and reports no kubelet port.
	ClientCAs *x509.CertPool
	// KubeletAddress is the kubelet API's listen address; empty means
	// ":10250". ":0" picks a free port (tests); the Node reports the one
	// chosen in status.daemonEndpoints.kubeletEndpoint.port.
	KubeletAddress string
	// ClusterDNS are the cluster DNS Service's addresses (the kubelet's
	// --cluster-dns), ClusterFirst pods' nameservers; empty leaves those
	// pods on the host's resolv.conf. ClusterDomain is their search
	// domain's root; empty means cluster.local.
	ClusterDNS    []string
	ClusterDomain string
	// ServeDNS has the node serve cluster DNS on its pod gateway (port
	// 53) and publish itself in the EndpointSlice kube-system/kube-dns-<node>,
	// creating the Service kube-system/kube-dns at ClusterDNS when it is
	// absent. It needs ClusterDNS.
	ServeDNS bool
	// IngressHTTPAddress and IngressHTTPSAddress are where the node's
	// Ingress proxy listens (":80", ":443"); empty disables a listener,
	// both empty run no Ingress controller.
	IngressHTTPAddress, IngressHTTPSAddress string
}

// RunNode runs the node until ctx ends, then stops containerd (if it
// started one) and returns. Containers keep running across the restart.
func RunNode(ctx context.Context, cfg NodeConfig) error {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	for _, ip := range cfg.ClusterDNS {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("cluster DNS address %q: %w", ip, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	endpoint, driver := cfg.Endpoint, containerd.DetectCgroupDriver()
	// containerd watches the CNI directory for the configuration written
	// once the node has a pod CIDR, so it must exist before containerd.
	if err := cni.PrepareDirs(cfg.DataDir); err != nil {
		return err
	}
	removeRoutes, err := setupHostNetwork(cfg)
	if err != nil {
		return fmt.Errorf("node network: %w", err)
	}
	defer removeRoutes()
	defer reserveDNSService(ctx, cfg)()
	defer cancel() // stops its retries before waiting for them
	podCIDR := newPodCIDRSignal()
	egress := &podEgress{cfg: cfg}
	defer egress.remove()
	var supervised chan error
	if endpoint == "" {
		sup, err := containerd.New(containerd.Config{
			Dir: filepath.Join(cfg.DataDir, "containerd"), PauseImage: image.PauseRef,
			CNIConfDir: cni.ConfDir(cfg.DataDir), CNIBinDir: cni.BinDir(),
		}, cfg.Log)
		if err != nil {
			return err
		}
		supervised = make(chan error, 1)
		go func() { supervised <- sup.Run(ctx) }()
		select {
		case <-sup.Ready():
		case err := <-supervised:
			return fmt.Errorf("containerd: %w", err)
		}
		// After the agent stops, wait for containerd to stop too.
		defer func() { <-supervised }()
		defer cancel()
		endpoint, driver = sup.Endpoint(), sup.Config().CgroupDriver
	}
	// Sandboxes need the pause image and no registry serves it: import it
	// on every start (a no-op when unchanged, the build is reproducible).
	ctr := image.Ctr{Address: strings.TrimPrefix(endpoint, "unix://")}
	if err := ctr.LoadPause(ctx); err != nil {
		if cfg.Endpoint == "" {
			return fmt.Errorf("loading the pause image: %w", err)
		}
		cfg.Log.Warn("Could not import the pause image into the given runtime; sandboxes need it", "image", image.PauseRef, "err", err)
	}
	rt, err := New(ctx, Config{
		Endpoint: endpoint, LogDir: filepath.Join(cfg.DataDir, "pod-logs"), CgroupDriver: driver,
		OnPodCIDR: func(cidr string) error {
			podCIDR.set(cidr)
			egress.install(ctx, cidr)
			wrote, err := cni.Write(cfg.DataDir, cidr, cni.Options{})
			if wrote {
				cfg.Log.Info("Wrote the pod network's CNI configuration", "podCIDR", cidr, "path", cni.ConfPath(cfg.DataDir))
			}
			return err
		},
	})
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	return runAgent(ctx, cfg, rt, podCIDR)
}

// runAgent runs the agent on rt, with its volume and env hooks, the
// local-path volume cleaner, cluster DNS and the Ingress controller, until
// ctx ends.
func runAgent(ctx context.Context, cfg NodeConfig, rt *Runtime, podCIDR *podCIDRSignal) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Listen before the agent registers the Node, which reports the port.
	var kubeletLn net.Listener
	if cfg.ClientCAs != nil {
		ln, err := net.Listen("tcp", cmp.Or(cfg.KubeletAddress, fmt.Sprintf(":%d", kubeletserver.DefaultPort)))
		if err != nil {
			return fmt.Errorf("kubelet API: %w", err)
		}
		defer ln.Close()
		kubeletLn = ln
	}
	// The node's data paths (service proxy, Ingress) hold a deleted pod's
	// SIGTERM until they stopped sending it traffic.
	paths := &dataPaths{}
	a, hooks, err := newNodeAgent(cfg, rt, kubeletLn, paths.gate)
	if err != nil {
		return err
	}
	if kubeletLn != nil {
		ks, err := kubeletserver.New(kubeletserver.Config{
			Pods: a.PodByName, Runtime: rt, ClientCAs: cfg.ClientCAs,
			Log: cfg.Log.With("component", "kubelet-api"),
		})
		if err != nil {
			return err
		}
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := ks.Serve(ctx, kubeletLn); err != nil {
				cfg.Log.Error("Kubelet API stopped", "err", err)
			}
		}()
		defer func() { <-served }()
		defer cancel()
	}
	if err := hooks.resyncOnChange(a); err != nil {
		return err
	}
	if err := hooks.start(ctx); err != nil {
		return err
	}
	defer hooks.factory.Shutdown()
	waitServices, err := startNodeServices(ctx, cfg, hooks.factory, a, hooks.env.node.HostIPs, podCIDR, paths)
	if err != nil {
		return err
	}
	defer waitServices()
	defer cancel()
	if len(cfg.ServiceCIDRs) > 0 {
		waitProxy, err := startServiceProxy(ctx, cfg, hooks.env.node.HostIPs, podCIDR, paths)
		if err != nil {
			return err
		}
		defer waitProxy()
		defer cancel()
	}
	cleaner, err := localprovisioner.NewNodeCleaner(cfg.Client, cfg.NodeName, cfg.LocalStorageDir)
	if err != nil {
		return err
	}
	cleaned := make(chan struct{})
	go func() {
		defer close(cleaned)
		if err := cleaner.Run(ctx); err != nil && ctx.Err() == nil {
			cfg.Log.Error("Local-path volume cleaner", "err", err)
		}
	}()
	defer func() { <-cleaned }()
	gc, err := imagegc.New(imagegc.Config{Runtime: rt, Pinned: []string{image.PauseRef}, Log: cfg.Log.With("component", "imagegc")})
	if err != nil {
		return err
	}
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		if err := gc.Run(ctx); err != nil && ctx.Err() == nil {
			cfg.Log.Error("Image garbage collector", "err", err)
		}
	}()
	defer func() { <-gcDone }()
	defer cancel()
	if cfg.Ready != nil {
		go func() {
			select {
			case <-a.Ready():
				close(cfg.Ready)
			case <-ctx.Done():
			}
		}()
	}
	err = a.Run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// newNodeAgent builds the agent with the machine's capacity and
// addresses, and its volume and env hooks.
func newNodeAgent(cfg NodeConfig, rt *Runtime, kubeletLn net.Listener, gate func(context.Context, *corev1.Pod) error) (*agent.Agent, *nodeHooks, error) {
	var kubeletPort int32
	if kubeletLn != nil {
		kubeletPort = int32(kubeletLn.Addr().(*net.TCPAddr).Port)
	}
	capacity, err := NodeCapacity(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, nil, fmt.Errorf("node addresses: %w", err)
	}
	addrs, err := NodeAddresses(strings.ToLower(host))
	if err != nil {
		return nil, nil, err
	}
	node := envvars.Node{Name: cfg.NodeName, Allocatable: capacity}
	for _, a := range addrs {
		if a.Type == corev1.NodeInternalIP {
			node.HostIPs = append(node.HostIPs, a.Address)
		}
	}
	hooks := newNodeHooks(cfg, node)
	var info corev1.NodeSystemInfo
	if id, err := os.ReadFile("/etc/machine-id"); err == nil {
		info.MachineID = strings.TrimSpace(string(id))
	}
	info.OSImage = osImage()
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		info.KernelVersion = strings.TrimSpace(string(rel))
	}
	a, err := agent.New(agent.Config{
		NodeName: cfg.NodeName,
		Client:   cfg.Client,
		Runtime:  rt,
		Prober:   prober.New(prober.Config{Execer: rt, Recorder: cfg.Recorder, Log: cfg.Log}),
		Node: agent.NodeConfig{
			Labels: cfg.Labels, Capacity: capacity, Addresses: addrs, SystemInfo: info,
			KubeletPort: kubeletPort,
		},
		// Real containers take a while to start: show ContainerCreating.
		ReportContainerCreating: true,
		Recorder:                cfg.Recorder,
		Log:                     cfg.Log,
		// The kubelet's PLEG relists every second; a minute's resync
		// catches the rest.
		ResyncInterval:  time.Minute,
		Volumes:         hooks.volumes,
		Env:             hooks.env,
		ResolvConf:      hostResolvConf(),
		ClusterDNS:      cfg.ClusterDNS,
		ClusterDomain:   cfg.ClusterDomain,
		WaitPodCIDR:     true,
		TerminationGate: gate,
	})
	return a, hooks, err
}

// osImage is PRETTY_NAME from /etc/os-release, as the kubelet reports it
// (e.g. "Debian GNU/Linux 12 (bookworm)").
func osImage() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}
