package podgc

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
)

// Upstream's defaults (kube-controller-manager --terminated-pod-gc-threshold
// and the podgc constants).
const (
	DefaultTerminatedPodThreshold = 12500
	DefaultGCCheckPeriod          = 20 * time.Second
	DefaultQuarantineTime         = 40 * time.Second
)

// Config tunes the collector; zero values mean upstream's defaults.
type Config struct {
	// TerminatedPodThreshold is how many terminated pods may exist before
	// the oldest are deleted. 0 means DefaultTerminatedPodThreshold; a
	// negative value turns this check off (upstream's 0).
	TerminatedPodThreshold int
	// GCCheckPeriod is how often the checks run.
	GCCheckPeriod time.Duration
	// QuarantineTime is how long a node must be missing from the cache
	// before its pods are checked against the API server.
	QuarantineTime time.Duration
}

func (c Config) withDefaults() Config {
	if c.TerminatedPodThreshold == 0 {
		c.TerminatedPodThreshold = DefaultTerminatedPodThreshold
	}
	if c.GCCheckPeriod <= 0 {
		c.GCCheckPeriod = DefaultGCCheckPeriod
	}
	if c.QuarantineTime <= 0 {
		c.QuarantineTime = DefaultQuarantineTime
	}
	return c
}

// Controller is the pod garbage collector.
type Controller struct {
	cfg    Config
	client kubernetes.Interface
	clock  clock.WithTicker

	podLister   corelisters.PodLister
	nodeLister  corelisters.NodeLister
	podsSynced  cache.InformerSynced
	nodesSynced cache.InformerSynced

	// quarantine is touched only by the gc loop, one pass at a time.
	quarantine quarantine
}

// New builds the pod garbage collector from the shared informers.
func New(cc controller.Context, cfg Config) (*Controller, error) {
	pods := cc.Informers.Core().V1().Pods()
	nodes := cc.Informers.Core().V1().Nodes()
	return &Controller{
		cfg:         cfg.withDefaults(),
		client:      cc.Client,
		clock:       cc.Clock,
		podLister:   pods.Lister(),
		nodeLister:  nodes.Lister(),
		podsSynced:  pods.Informer().HasSynced,
		nodesSynced: nodes.Informer().HasSynced,
		quarantine:  quarantine{},
	}, nil
}

// Run collects pods every GCCheckPeriod until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("podgc")
	ctx = klog.NewContext(ctx, logger)
	if !cache.WaitForCacheSync(ctx.Done(), c.podsSynced, c.nodesSynced) {
		return nil
	}
	ticker := c.clock.NewTicker(c.cfg.GCCheckPeriod)
	defer ticker.Stop()
	for {
		if err := c.gc(ctx); err != nil {
			logger.Error(err, "Pod garbage collection pass failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

// gc is one pass of every check, in upstream's order.
func (c *Controller) gc(ctx context.Context) error {
	pods, err := c.podLister.List(everything)
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	nodes, err := c.nodeLister.List(everything)
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	if c.cfg.TerminatedPodThreshold > 0 {
		c.deleteAll(ctx, terminatedToDelete(pods, c.cfg.TerminatedPodThreshold), nil, "terminated")
	}
	c.deleteAll(ctx, terminatingOnOutOfServiceNodes(pods, nodes), nil, "terminating on out-of-service node")
	c.gcOrphaned(ctx, pods, nodes)
	c.deleteAll(ctx, unscheduledTerminating(pods), nil, "unscheduled terminating")
	return nil
}
