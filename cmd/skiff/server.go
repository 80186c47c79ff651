package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/agent/cri"
	"github.com/skiff-sh/skiff/internal/controller/builtin"
	"github.com/skiff-sh/skiff/internal/controller/manager"
	"github.com/skiff-sh/skiff/internal/controller/nodeipam"
	"github.com/skiff-sh/skiff/internal/gcheadroom"
	"github.com/skiff-sh/skiff/internal/server"
)

func newServerCommand() *cobra.Command {
	cfg := server.Config{
		DataDir:     defaultDataDir(),
		BindAddress: "127.0.0.1",
		HTTPSPort:   6443,
		ServiceCIDR: "10.43.0.0/16",
	}
	var logs logFlags
	var controllerCfg builtin.Config
	var clusterCIDR string
	var disableScheduler, disableAgent bool
	var agentCfg server.AgentConfig
	var endpoint string
	cfg.Controllers = func(loopback *rest.Config) []manager.Controller {
		list := builtin.Controllers(loopback, controllerCfg)
		if disableScheduler {
			list = slices.DeleteFunc(list, func(c manager.Controller) bool { return c.Name == builtin.SchedulerName })
		}
		return list
	}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: API server, datastore, controllers, scheduler",
		Long: `Run the control plane: API server, datastore, controllers and scheduler.

On first start the server creates a cluster CA, its serving certificate and an
admin kubeconfig in DATA_DIR/kubeconfig.yaml, which 'skiff kubectl' uses by
default. It stops cleanly on SIGINT or SIGTERM.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logs.install(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg.Log = logger
			if err := validateServerConfig(cfg); err != nil {
				return err
			}
			cidrs, err := clusterCIDRs(clusterCIDR, cfg.ServiceCIDR)
			if err != nil {
				return err
			}
			controllerCfg.ClusterCIDRs = cidrs
			// Local-path volumes live in the data dir: the default one
			// as root is the provisioner's default, /var/lib/skiff/storage.
			controllerCfg.LocalStorageDir = filepath.Join(cfg.DataDir, "storage")
			switch {
			case disableAgent:
			case endpoint == "" && os.Geteuid() != 0:
				// The control plane alone (or with simulated nodes) is
				// still useful unprivileged, as `make run` is used.
				logger.Warn("Not root: running without a node agent, as with --disable-agent (starting containerd needs root; see 'skiff check')")
			default:
				agentCfg.ClusterCIDRs = cidrs
				agentCfg.Run = realNode(endpoint, controllerCfg.LocalStorageDir)
				cfg.Agent = &agentCfg
			}
			return runServer(cmd.Context(), cfg)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the datastore, certificates and kubeconfig; the default is $"+dataDirEnv+" if set, else /var/lib/skiff as root, else $HOME/.skiff")
	fs.StringVar(&cfg.BindAddress, "bind-address", cfg.BindAddress, "IP address the API server listens on (0.0.0.0 for all interfaces)")
	fs.IntVar(&cfg.HTTPSPort, "https-port", cfg.HTTPSPort, "port the API server listens on")
	fs.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "IP address pods reach the API server at (the endpoint of Service default/kubernetes); the API server listens there too. Default: the pod gateway of this server's node (the first address of its pod CIDR), or --bind-address when running no node unless it is loopback")
	fs.BoolVar(&disableAgent, "disable-agent", false, "do not run a node agent (containerd and pods) in this process")
	fs.StringVar(&agentCfg.KubeletAddress, "kubelet-address", "", `listen address of the node's kubelet API (logs, exec, attach, port-forward), which the API server connects to (default ":10250")`)
	fs.StringVar(&endpoint, "container-runtime-endpoint", "", "CRI endpoint of a running containerd (unix:///run/containerd/containerd.sock); empty starts Skiff's own under DATA_DIR/containerd")
	fs.StringVar(&agentCfg.ClusterDNS, "cluster-dns", "", "address of the cluster DNS Service kube-system/kube-dns, which the node serves and gives pods as their nameserver (default: the 10th address of --service-cidr, 10.43.0.10)")
	fs.StringVar(&agentCfg.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	fs.StringVar(&agentCfg.IngressHTTPAddress, "ingress-http-address", ":80", `listen address of the node's Ingress proxy for HTTP ("" disables it)`)
	fs.StringVar(&agentCfg.IngressHTTPSAddress, "ingress-https-address", ":443", `listen address of the node's Ingress proxy for HTTPS ("" disables it)`)
	fs.StringVar(&cfg.ServiceCIDR, "service-cidr", cfg.ServiceCIDR, "IP range ClusterIPs are allocated from")
	fs.StringVar(&clusterCIDR, "cluster-cidr", nodeipam.DefaultClusterCIDR, "IP range pod IPs come from (an IPv4 and an IPv6 range may be given, comma-separated); each node gets a /24 (IPv6: /64) of it")
	fs.BoolVar(&cfg.DisableControllers, "disable-controller-manager", false, "run no controllers and no scheduler (the API server alone)")
	fs.BoolVar(&disableScheduler, "disable-scheduler", false, "run the controllers but not the scheduler")
	fs.IntVar(&cfg.SimulatedNodes, "simulated-nodes", 0, "register this many simulated nodes (no containers; see internal/agent/simulated) in this process")
	fs.DurationVar(&controllerCfg.NodeMonitorGracePeriod, "node-monitor-grace-period", 50*time.Second, "how long a node may stop heartbeating before it is marked Unknown and tainted")
	fs.Int64Var(&cfg.DefaultTolerationSeconds, "default-toleration-seconds", 300, "tolerationSeconds given to pods for the not-ready and unreachable taints when they set none")
	fs.DurationVar(&cfg.CompactInterval, "compact-interval", 5*time.Minute, "how often datastore history older than one interval is discarded")
	logs.addTo(fs)
	return cmd
}

// realNode runs the server's node on CRI: containerd at endpoint (empty:
// Skiff's own under DATA_DIR/containerd), local-path volumes under
// storageDir.
func realNode(endpoint, storageDir string) func(context.Context, server.Node) error {
	return func(ctx context.Context, n server.Node) error {
		return cri.RunNode(ctx, cri.NodeConfig{
			NodeName: n.Name, Client: n.Client, DataDir: n.DataDir, Endpoint: endpoint,
			ClusterCIDRs: n.ClusterCIDRs, ServiceCIDRs: n.ServiceCIDRs, ServeLoadBalancerStatus: true, LocalStorageDir: storageDir,
			Recorder: n.Recorder, Log: n.Log,
			ClientCAs: n.ClientCAs, KubeletAddress: n.KubeletAddress,
			ClusterDNS: []string{n.ClusterDNS}, ClusterDomain: n.ClusterDomain, ServeDNS: true,
			IngressHTTPAddress: n.IngressHTTPAddress, IngressHTTPSAddress: n.IngressHTTPSAddress,
		})
	}
}

// serverHeadroom bounds the server's garbage between collections. Its heap
// is mostly long-lived caches that grow with the cluster, and Go's default
// would let a 200 MB heap at 10,000 pods reach 400 MB; a third of the live
// heap is allowed there (about 30% more CPU over the scale benchmark). A
// heap under 32 MB keeps the default, which keeps collection out of the
// way of the node's Ingress proxy. Figures in docs/benchmarks.md.
var serverHeadroom = gcheadroom.Policy{Headroom: 32 << 20, MinPercent: 33, MaxPercent: 100}

// runServer runs the server until SIGINT or SIGTERM. After the first
// signal the default handling is restored, so a second one kills a server
// that hangs while shutting down.
func runServer(parent context.Context, cfg server.Config) error {
	if parent == nil {
		parent = context.Background()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	onDone := make(chan struct{})
	context.AfterFunc(ctx, func() {
		defer close(onDone)
		stop()
		// A signal's cause is an error naming it; stop's is plain Canceled.
		if cause := context.Cause(ctx); parent.Err() == nil && cause != context.Canceled {
			cfg.Log.Info("Shutting down", "cause", cause)
		}
	})

	keepExecutableTrimmed(ctx, cfg.Log)
	go gcheadroom.Keep(ctx, serverHeadroom, 250*time.Millisecond)
	err := server.Run(ctx, cfg)
	stopping := ctx.Err() != nil
	stop()
	<-onDone // the shutdown line, if any, is written before we exit
	if err != nil && !(stopping && errors.Is(err, context.Canceled)) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// validateServerConfig rejects flag values early, with the flag's name in
// the message, rather than leaving it to a component deep in start-up.
func validateServerConfig(cfg server.Config) error {
	if _, err := netip.ParseAddr(cfg.BindAddress); err != nil {
		return fmt.Errorf("--bind-address %q is not an IP address", cfg.BindAddress)
	}
	if cfg.HTTPSPort < 1 || cfg.HTTPSPort > 65535 {
		return fmt.Errorf("--https-port %d is not between 1 and 65535", cfg.HTTPSPort)
	}
	if _, err := netip.ParsePrefix(cfg.ServiceCIDR); err != nil {
		return fmt.Errorf("--service-cidr %q is not a CIDR (%v)", cfg.ServiceCIDR, err)
	}
	if cfg.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	return nil
}

// noArgs is cobra.NoArgs with a hint for the one mistake -v invites:
// "-v debug" parses as "-v" then a stray argument "debug".
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if args[0] == "debug" || args[0] == "info" {
		return fmt.Errorf("unexpected argument %q (use --log-level=%s)", args[0], args[0])
	}
	return fmt.Errorf("unexpected argument %q (see '%s --help')", args[0], cmd.CommandPath())
}

// clusterCIDRs parses --cluster-cidr and refuses ranges that overlap the
// service range.
func clusterCIDRs(flag, serviceCIDR string) ([]netip.Prefix, error) {
	cidrs, err := nodeipam.ParseClusterCIDRs(flag)
	if err != nil {
		return nil, fmt.Errorf("--cluster-cidr: %w", err)
	}
	svc, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return nil, fmt.Errorf("--service-cidr: %w", err)
	}
	for _, p := range cidrs {
		if p.Overlaps(svc) {
			return nil, fmt.Errorf("--cluster-cidr %s overlaps --service-cidr %s", p, svc)
		}
	}
	return cidrs, nil
}
