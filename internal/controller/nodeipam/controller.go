package nodeipam

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/internal/controller"
)

// Defaults, as k3s: 10.42.0.0/16 cut into /24s (254 pods on each of up to
// 256 nodes); upstream's /64 for IPv6 node subnets.
const (
	DefaultClusterCIDR  = "10.42.0.0/16"
	DefaultNodeMaskIPv4 = 24
	DefaultNodeMaskIPv6 = 64
)

// Event reasons, upstream's.
const (
	ReasonCIDRNotAvailable     = "CIDRNotAvailable"
	ReasonCIDRAssignmentFailed = "CIDRAssignmentFailed"
)

const maxRetries = 15

// Config is the cluster's pod address space; zero values mean the
// defaults.
type Config struct {
	// ClusterCIDRs are the pod ranges, at most one per IP family (dual
	// stack gives each node one subnet of each). Empty means
	// DefaultClusterCIDR.
	ClusterCIDRs []netip.Prefix
	// NodeMaskIPv4 and NodeMaskIPv6 are the sizes of a node's subnet.
	NodeMaskIPv4 int
	NodeMaskIPv6 int
}

// ParseClusterCIDRs parses a --cluster-cidr value: one CIDR, or an IPv4
// and an IPv6 CIDR separated by a comma, as kube-controller-manager takes
// it. An empty string means the default.
func ParseClusterCIDRs(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultClusterCIDR
	}
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("cluster CIDR %q: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	if len(out) > 2 || (len(out) == 2 && out[0].Addr().Is4() == out[1].Addr().Is4()) {
		return nil, fmt.Errorf("cluster CIDR %q: at most one CIDR per IP family", s)
	}
	return out, nil
}

// allocation is what the controller holds for one node. uid tells a node
// recreated under the same name from the one the subnets were taken for.
type allocation struct {
	uid   types.UID
	cidrs []netip.Prefix
}

// Controller gives every Node spec.podCIDR(s) from the cluster CIDRs.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	synced   cache.InformerSynced
	recorder record.EventRecorder
	// queue holds node names.
	queue workqueue.TypedRateLimitingInterface[string]

	// mu guards sets and allocs: the rebuild in Run and the workers.
	mu sync.Mutex
	// sets has one entry per cluster CIDR, in ClusterCIDRs order, which is
	// also the order of a node's podCIDRs (the first is its primary).
	sets   []*cidrSet
	allocs map[string]allocation
}

// New builds the controller and registers its node informer.
func New(cc controller.Context, cfg Config) (*Controller, error) {
	sets, err := newCIDRSets(cfg)
	if err != nil {
		return nil, fmt.Errorf("node IPAM: %w", err)
	}
	nodeInf := cc.Informers.Core().V1().Nodes()
	c := &Controller{
		client:   cc.Client,
		nodes:    nodeInf.Lister(),
		synced:   nodeInf.Informer().HasSynced,
		recorder: cc.Recorder("node-ipam-controller"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam", Clock: cc.Clock}),
		sets:   sets,
		allocs: map[string]allocation{},
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("node IPAM: adding node handler: %w", err)
	}
	return c, nil
}

func newCIDRSets(cfg Config) ([]*cidrSet, error) {
	cidrs := cfg.ClusterCIDRs
	if len(cidrs) == 0 {
		cidrs = []netip.Prefix{netip.MustParsePrefix(DefaultClusterCIDR)}
	}
	if cfg.NodeMaskIPv4 == 0 {
		cfg.NodeMaskIPv4 = DefaultNodeMaskIPv4
	}
	if cfg.NodeMaskIPv6 == 0 {
		cfg.NodeMaskIPv6 = DefaultNodeMaskIPv6
	}
	sets := make([]*cidrSet, 0, len(cidrs))
	for _, p := range cidrs {
		mask := cfg.NodeMaskIPv6
		if p.Addr().Is4() {
			mask = cfg.NodeMaskIPv4
		}
		s, err := newCIDRSet(p, mask)
		if err != nil {
			return nil, err
		}
		sets = append(sets, s)
	}
	return sets, nil
}

// Run rebuilds the allocation state from the Nodes that already carry pod
// CIDRs, then assigns CIDRs until ctx ends. The rebuild happens before any
// worker runs, so a restarted controller never hands out a subnet a node
// already has.
func (c *Controller) Run(ctx context.Context) error {
	return controller.Workers[string]{
		Name: "node-ipam-controller", Queue: c.queue, Count: 1, MaxRetries: maxRetries,
		Synced: []cache.InformerSynced{c.synced}, Sync: c.sync, Started: c.occupyAll,
		KeyName: "node", RetryMessage: "Assigning node CIDR failed, retrying",
		Dropped: func(key string, err error) error {
			return fmt.Errorf("node IPAM: dropping node %s: %w", key, err)
		},
	}.Run(ctx)
}

// occupyAll marks every CIDR the nodes already hold as taken.
func (c *Controller) occupyAll(ctx context.Context) error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("node IPAM: listing nodes: %w", err)
	}
	for _, n := range nodes {
		if len(nodeCIDRs(n)) > 0 {
			c.occupy(ctx, n)
		}
	}
	return nil
}

func (c *Controller) enqueue(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if n, ok := obj.(*corev1.Node); ok {
		c.queue.Add(n.Name)
	}
}
