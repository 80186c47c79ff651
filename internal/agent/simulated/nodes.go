package simulated

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-sh/skiff/internal/agent"
)

// LabelSimulated marks simulated nodes, so workloads can select (or avoid)
// them.
const LabelSimulated = "node.skiff.dev/simulated"

// DefaultNamePrefix names simulated nodes skiff-sim-0, skiff-sim-1, ...
const DefaultNamePrefix = "skiff-sim-"

// DefaultCapacity is a simulated node's size: a large server, so that
// scheduling benchmarks are bounded by pod counts rather than resources.
func DefaultCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("32"),
		corev1.ResourceMemory:           resource.MustParse("256Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
}

// maxNodes is how many nodes the fallback address plan has room for (see
// PodCIDRFor).
const maxNodes = 12 * 256

// Config runs simulated nodes in this process.
type Config struct {
	// RESTConfig reaches the API server; the nodes share one client (with
	// protobuf) and one pod watch.
	RESTConfig *rest.Config
	// Nodes is how many nodes to run (default 1).
	Nodes int
	// Name names a single node (Nodes 1). Otherwise nodes are named
	// NamePrefix plus their index.
	Name       string
	NamePrefix string
	// FirstIndex offsets the indexes (names and fallback addresses), so
	// that several processes can each run some nodes of one cluster.
	FirstIndex int
	// Capacity defaults to DefaultCapacity.
	Capacity corev1.ResourceList
	// Labels and Taints are added to every node.
	Labels map[string]string
	Taints []corev1.Taint
	// Workers is how many pods each node syncs at once (default 2).
	Workers int
	// ReportContainerCreating writes Pending/ContainerCreating before
	// Running, costing a second status write per pod (see agent.Config).
	ReportContainerCreating bool
	// NewRecorder returns the event recorder for one node's pod events
	// (source host = the node); nil records none, which is what thousands
	// of simulated pods want: events would double the API writes.
	NewRecorder func(node string) record.EventRecorder
	// Tuning for tests; zero values take the agent's defaults.
	BackOffInitial, BackOffMax                    time.Duration
	LeaseRenewInterval, NodeStatusUpdateFrequency time.Duration
	Clock                                         Clock
	Log                                           *slog.Logger
	// Ready, when set, is closed once every node is registered and runs
	// its pods.
	Ready chan<- struct{}
}

// Run runs the simulated nodes until ctx ends. Ending ctx looks to the
// control plane like the nodes dying: their Leases stop being renewed.
func Run(ctx context.Context, cfg Config) error {
	agents, runtimes, pods, err := build(cfg)
	if err != nil {
		return err
	}
	// Runs after the agents stopped: pending exit timers go too.
	defer func() {
		for _, rt := range runtimes {
			rt.Close()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); pods.Run(ctx) }()
	errs := make([]error, len(agents))
	for i, ag := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ag.Run(ctx)
		}()
	}
	if cfg.Ready != nil {
		go func() {
			for _, ag := range agents {
				select {
				case <-ag.Ready():
				case <-ctx.Done():
					return
				}
			}
			close(cfg.Ready)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// build makes one agent per node, all sharing a client and a pod watch.
func build(cfg Config) ([]*agent.Agent, []*Runtime, *agent.PodWatch, error) {
	if cfg.RESTConfig == nil {
		return nil, nil, nil, errors.New("simulated nodes: RESTConfig is required")
	}
	if cfg.Nodes <= 0 {
		cfg.Nodes = 1
	}
	if cfg.FirstIndex < 0 || cfg.FirstIndex+cfg.Nodes > maxNodes {
		return nil, nil, nil, fmt.Errorf("simulated nodes: indexes %d-%d do not fit the address plan (at most %d nodes)", cfg.FirstIndex, cfg.FirstIndex+cfg.Nodes-1, maxNodes)
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = DefaultNamePrefix
	}
	if cfg.Capacity == nil {
		cfg.Capacity = DefaultCapacity()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	rc := rest.CopyConfig(cfg.RESTConfig)
	// Protobuf is cheaper to encode and decode than JSON at thousands of
	// pods.
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("simulated nodes: client: %w", err)
	}
	watchNode := ""
	if cfg.Nodes == 1 {
		watchNode = nodeName(cfg, 0)
	}
	pods := agent.NewPodWatch(client, watchNode)
	agents := make([]*agent.Agent, 0, cfg.Nodes)
	runtimes := make([]*Runtime, 0, cfg.Nodes)
	for i := range cfg.Nodes {
		ag, rt, err := buildNode(cfg, client, pods, i)
		if err != nil {
			return nil, nil, nil, err
		}
		agents, runtimes = append(agents, ag), append(runtimes, rt)
	}
	return agents, runtimes, pods, nil
}

func buildNode(cfg Config, client kubernetes.Interface, pods *agent.PodWatch, i int) (*agent.Agent, *Runtime, error) {
	name := nodeName(cfg, i)
	index := cfg.FirstIndex + i
	nodeIP := NodeIPFor(index)
	rt, err := New(Options{NodeIP: nodeIP.String(), PodCIDR: PodCIDRFor(index).String(), Clock: cfg.Clock})
	if err != nil {
		return nil, nil, err
	}
	labels := map[string]string{LabelSimulated: "true"}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	ac := agent.Config{
		NodeName: name,
		Client:   client,
		Runtime:  rt,
		Prober:   Prober{},
		Pods:     pods,
		Node: agent.NodeConfig{
			Labels:   labels,
			Taints:   cfg.Taints,
			Capacity: cfg.Capacity,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: nodeIP.String()},
				{Type: corev1.NodeHostName, Address: name},
			},
			SystemInfo: systemInfo(name),
		},
		Workers:                   cfg.Workers,
		ReportContainerCreating:   cfg.ReportContainerCreating,
		BackOffInitial:            cfg.BackOffInitial,
		BackOffMax:                cfg.BackOffMax,
		LeaseRenewInterval:        cfg.LeaseRenewInterval,
		NodeStatusUpdateFrequency: cfg.NodeStatusUpdateFrequency,
		Log:                       cfg.Log,
	}
	if cfg.Clock != nil {
		ac.Clock = cfg.Clock
	}
	if cfg.NewRecorder != nil {
		ac.Recorder = cfg.NewRecorder(name)
	}
	ag, err := agent.New(ac)
	return ag, rt, err
}

func nodeName(cfg Config, i int) string {
	if cfg.Nodes == 1 && cfg.Name != "" {
		return cfg.Name
	}
	prefix := cfg.NamePrefix
	if prefix == "" {
		prefix = DefaultNamePrefix
	}
	return prefix + strconv.Itoa(cfg.FirstIndex+i)
}

// NodeIPFor is simulated node index's InternalIP: 10.240.0.0/16, 254
// nodes per /24, skipping .0 and .255. Index 0 is 10.240.0.1, index 253 is
// 10.240.0.254, index 254 is 10.240.1.1.
func NodeIPFor(index int) netip.Addr {
	return addOffset(netip.MustParseAddr("10.240.0.0"), uint64(index/254)<<8+uint64(index%254)+1)
}

// PodCIDRFor is simulated node index's pod range while the control plane
// has assigned it none: one /24 per node from 10.244.0.0 upwards. Index
// 0 is 10.244.0.0/24, index 255 is 10.244.255.0/24, index 256 is
// 10.245.0.0/24, and so on up to 10.255.255.0/24 (index 3071).
func PodCIDRFor(index int) netip.Prefix {
	return netip.PrefixFrom(addOffset(netip.MustParseAddr("10.244.0.0"), uint64(index)<<8), 24)
}

// systemInfo is a simulated node's nodeInfo; the IDs are derived from the
// name so they survive restarts.
func systemInfo(name string) corev1.NodeSystemInfo {
	h := fnv.New128a()
	_, _ = h.Write([]byte(name))
	sum := h.Sum(nil)
	id := fmt.Sprintf("%x", sum)
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	return corev1.NodeSystemInfo{
		MachineID:     id,
		SystemUUID:    uuid,
		BootID:        uuid,
		KernelVersion: "simulated",
		OSImage:       "Skiff simulated node",
	}
}
