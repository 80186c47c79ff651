package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-sh/skiff/internal/agent/simulated"
)

// agentOptions are the flags of `skiff agent`.
type agentOptions struct {
	runtime    string
	kubeconfig string
	nodeName   string
	nodes      int
	firstIndex int
	labels     map[string]string
	capacity   map[string]string
	creating   bool
	events     bool
	endpoint   string
	// kubeletAddress is the kubelet API's listen address (--runtime=cri).
	kubeletAddress string
	// Cluster DNS and Ingress of a CRI node.
	clusterDNS                []string
	clusterDomain             string
	serveDNS                  bool
	ingressHTTP, ingressHTTPS string
}

func newAgentCommand() *cobra.Command {
	opts := agentOptions{runtime: "simulated", nodes: 1}
	var logs logFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent: register a Node and run the pods bound to it",
		Long: `Run a node agent against any Kubernetes API server (Skiff's or upstream's):
it registers a Node, renews its Lease in kube-node-lease, reports the node's
status and runs the pods bound to it, writing their status back.

--runtime=simulated runs no containers (like kwok): pods go Running and Ready
at once, and pod annotations script the rest, e.g.
  sim.skiff.dev/run-duration: "2s"   containers exit after 2s
  sim.skiff.dev/exit-code: "1"       ... with this exit code (alone: at once)
  sim.skiff.dev/ready: "false"       containers never become ready
  sim.skiff.dev/ready-after: "5s"    ... or only 5s after they start
With --nodes N, one process runs N simulated nodes named NODE_NAME-0 to
NODE_NAME-(N-1), sharing one connection and one pod watch.

--runtime=cri runs real containers (as root; see 'skiff check'): the agent
starts containerd under DATA_DIR/containerd (or uses
--container-runtime-endpoint), imports its pause image, registers the Node
with this machine's CPUs, memory and disk, and runs pods through CRI.

Stopping the agent (SIGINT, SIGTERM) looks like the node dying: it stops
renewing its Lease and writes nothing on the way out.

Unless --kubeconfig or KUBECONFIG is given, the agent uses the admin
kubeconfig the server wrote: DATA_DIR/kubeconfig.yaml, where DATA_DIR is
$` + dataDirEnv + `, else /var/lib/skiff as root, else $HOME/.skiff.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logs.install(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if opts.runtime == "cri" {
				return runCRIAgent(cmd.Context(), opts, logger)
			}
			cfg, err := opts.simulatedConfig(logger)
			if err != nil {
				return err
			}
			return runAgent(cmd.Context(), cfg, opts.events, logger)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.runtime, "runtime", opts.runtime, `container runtime: "simulated" (no containers) or "cri" (real containers on containerd)`)
	fs.StringVar(&opts.endpoint, "container-runtime-endpoint", "", "with --runtime=cri: an existing CRI endpoint such as unix:///run/containerd/containerd.sock (default: start containerd under DATA_DIR/containerd)")
	fs.StringVar(&opts.kubeletAddress, "kubelet-address", "", `with --runtime=cri: listen address of the node's kubelet API (logs, exec, attach, port-forward), which the API server connects to (default ":10250")`)
	fs.StringSliceVar(&opts.clusterDNS, "cluster-dns", []string{"10.43.0.10"}, "with --runtime=cri: the cluster DNS Service's addresses, ClusterFirst pods' nameservers (empty: pods use the host's resolv.conf); the default is that of skiff server")
	fs.StringVar(&opts.clusterDomain, "cluster-domain", "cluster.local", "with --runtime=cri: the cluster's DNS domain")
	fs.BoolVar(&opts.serveDNS, "serve-cluster-dns", true, "with --runtime=cri: serve cluster DNS on the node's pod gateway and publish it in Service kube-system/kube-dns (created at the first --cluster-dns address if absent); false when the cluster runs its own DNS")
	fs.StringVar(&opts.ingressHTTP, "ingress-http-address", ":80", `with --runtime=cri: listen address of the node's Ingress proxy for HTTP ("" disables it)`)
	fs.StringVar(&opts.ingressHTTPS, "ingress-https-address", ":443", `with --runtime=cri: listen address of the node's Ingress proxy for HTTPS ("" disables it)`)
	fs.StringVar(&opts.kubeconfig, "kubeconfig", "", "kubeconfig of the API server to join")
	fs.StringVar(&opts.nodeName, "node-name", "", "name of the Node to register (default: the host name); with --nodes, the prefix of the names")
	fs.IntVar(&opts.nodes, "nodes", opts.nodes, "number of simulated nodes this process runs")
	fs.IntVar(&opts.firstIndex, "first-index", 0, "index of the first simulated node, so several processes can share a cluster without address clashes")
	fs.StringToStringVar(&opts.labels, "node-labels", nil, "labels to add to the Node, as key=value pairs")
	fs.StringToStringVar(&opts.capacity, "capacity", nil, "simulated node resources, overriding cpu=32,memory=256Gi,pods=110,ephemeral-storage=100Gi")
	fs.BoolVar(&opts.creating, "report-container-creating", false, "write each new pod's Pending/ContainerCreating status before Running (one more write per pod)")
	fs.BoolVar(&opts.events, "events", false, "record pod events (Pulled, Created, Started, Killing, BackOff)")
	logs.addTo(fs)
	return cmd
}

// simulatedConfig turns the flags into the simulated nodes' config.
func (o agentOptions) simulatedConfig(log *slog.Logger) (simulated.Config, error) {
	if o.runtime != "simulated" {
		return simulated.Config{}, fmt.Errorf("--runtime %q is not supported (\"simulated\" or \"cri\")", o.runtime)
	}
	if o.nodes < 1 {
		return simulated.Config{}, fmt.Errorf("--nodes %d must be at least 1", o.nodes)
	}
	capacity := simulated.DefaultCapacity()
	for name, v := range o.capacity {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return simulated.Config{}, fmt.Errorf("--capacity %s=%s: %v", name, v, err)
		}
		capacity[corev1.ResourceName(name)] = q
	}
	name := o.nodeName
	if name == "" {
		host, err := os.Hostname()
		if err != nil {
			return simulated.Config{}, fmt.Errorf("--node-name not given and the host name is unknown: %w", err)
		}
		name = strings.ToLower(host)
	}
	rc, err := agentRESTConfig(o.kubeconfig, o.nodes)
	if err != nil {
		return simulated.Config{}, err
	}
	cfg := simulated.Config{
		RESTConfig:              rc,
		Nodes:                   o.nodes,
		FirstIndex:              o.firstIndex,
		Capacity:                capacity,
		Labels:                  o.labels,
		ReportContainerCreating: o.creating,
		Log:                     log,
	}
	if o.nodes == 1 {
		cfg.Name = name
	} else {
		cfg.NamePrefix = name + "-"
	}
	return cfg, nil
}

// agentRESTConfig loads the kubeconfig (the flag, else KUBECONFIG, else
// the server's admin kubeconfig) with the kubelet's client limits per
// node: 50 requests per second, bursts of 100.
func agentRESTConfig(path string, nodes int) (*rest.Config, error) {
	if path == "" {
		path = os.Getenv(clientcmd.RecommendedConfigPathEnvVar)
	}
	if path == "" {
		path = filepath.Join(defaultDataDir(), "kubeconfig.yaml")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	rc.QPS, rc.Burst = float32(50*nodes), 100*nodes
	rc.UserAgent = "skiff-agent"
	return rc, nil
}

// runAgent runs the agent until SIGINT or SIGTERM.
func runAgent(parent context.Context, cfg simulated.Config, events bool, log *slog.Logger) error {
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if events {
		client, err := kubernetes.NewForConfig(cfg.RESTConfig)
		if err != nil {
			return fmt.Errorf("event client: %w", err)
		}
		broadcaster := record.NewBroadcaster(record.WithContext(ctx))
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
		defer broadcaster.Shutdown()
		cfg.NewRecorder = func(node string) record.EventRecorder {
			return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: node})
		}
	}
	log.Info("Node agent starting", "runtime", "simulated", "nodes", cfg.Nodes, "server", cfg.RESTConfig.Host)
	keepExecutableTrimmed(ctx, log)
	err := simulated.Run(ctx, cfg)
	if err != nil && !(ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		return fmt.Errorf("agent: %w", err)
	}
	log.Info("Node agent stopped")
	return nil
}
