package namespace

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
)

// Upstream's defaults (--concurrent-namespace-syncs, --namespace-sync-period
// and the controller's namespaceDeletionGracePeriod).
const (
	DefaultWorkers             = 10
	DefaultResyncPeriod        = 5 * time.Minute
	DefaultDeletionGracePeriod = 5 * time.Second
)

// Config tunes the controller; zero values mean upstream's defaults.
type Config struct {
	// RESTConfig reaches the API server for the metadata client that
	// lists and deletes content of every kind. Required.
	RESTConfig *rest.Config
	Workers    int
	// ResyncPeriod is how often every terminating namespace is looked at
	// again even without events.
	ResyncPeriod time.Duration
	// DeletionGracePeriod delays processing a namespace event so that
	// objects created a moment before the deletion are visible to the
	// lists (upstream: time for HA API servers and etcd followers to
	// catch up).
	DeletionGracePeriod time.Duration
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.ResyncPeriod <= 0 {
		c.ResyncPeriod = DefaultResyncPeriod
	}
	if c.DeletionGracePeriod <= 0 {
		c.DeletionGracePeriod = DefaultDeletionGracePeriod
	}
	return c
}

// Controller empties and finalizes terminating namespaces.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	metadata  metadata.Interface
	discovery func() ([]*metav1.APIResourceList, error)
	clock     clock.WithTicker

	lister corelisters.NamespaceLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New builds the namespace controller. It registers the namespace
// informer on cc.Informers.
func New(cc controller.Context, cfg Config) (*Controller, error) {
	if cfg.RESTConfig == nil {
		return nil, errors.New("namespace controller: RESTConfig is required")
	}
	mc, err := metadata.NewForConfig(cfg.RESTConfig)
	if err != nil {
		return nil, fmt.Errorf("namespace controller: metadata client: %w", err)
	}
	return newController(cc, cfg, mc, cc.Client.Discovery())
}

func newController(cc controller.Context, cfg Config, mc metadata.Interface, dc discovery.DiscoveryInterface) (*Controller, error) {
	cfg = cfg.withDefaults()
	informer := cc.Informers.Core().V1().Namespaces()
	c := &Controller{
		cfg:       cfg,
		client:    cc.Client,
		metadata:  mc,
		discovery: dc.ServerPreferredNamespacedResources,
		clock:     cc.Clock,
		lister:    informer.Lister(),
		synced:    informer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(rateLimiter(),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace", Clock: cc.Clock}),
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("namespace controller: adding event handler: %w", err)
	}
	return c, nil
}

// rateLimiter is upstream's: exponential per-item back-off capped at a
// minute (a stuck namespace is retried at least every minute), and an
// overall 10 qps with a burst of 100.
func rateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, time.Minute),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// enqueue queues terminating namespaces only; the rest are not ours.
func (c *Controller) enqueue(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	c.queue.AddAfter(ns.Name, c.cfg.DeletionGracePeriod)
}

// Run processes terminating namespaces until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("namespace")
	ctx = klog.NewContext(ctx, logger)
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return nil
	}
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	c.resyncUntilDone(ctx)
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

// resyncUntilDone queues every terminating namespace each ResyncPeriod,
// so one whose content is removed without an event reaching us (a
// finalizer dropped, a failed write) is still finished. Upstream gets the
// same from its informer's resync; the shared factory here has none.
func (c *Controller) resyncUntilDone(ctx context.Context) {
	ticker := c.clock.NewTicker(c.cfg.ResyncPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
		namespaces, err := c.lister.List(labels.Everything())
		if err != nil {
			klog.FromContext(ctx).Error(err, "Listing namespaces to resync")
			continue
		}
		for _, ns := range namespaces {
			if ns.DeletionTimestamp != nil {
				c.queue.Add(ns.Name)
			}
		}
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	err := c.sync(ctx, key)
	var remaining *ResourcesRemainingError
	switch {
	case err == nil:
		c.queue.Forget(key)
	case errors.As(err, &remaining):
		// Wait half the estimate, plus a second: content in graceful
		// termination usually goes away before its full grace period.
		// Example: pods with a 30s grace period left → requeue in 16s.
		wait := time.Duration(remaining.Estimate/2+1) * time.Second
		klog.FromContext(ctx).V(4).Info("Content remaining in namespace", "namespace", key, "wait", wait)
		c.queue.AddAfter(key, wait)
	default:
		klog.FromContext(ctx).Error(err, "Deleting namespace content failed; will retry", "namespace", key)
		c.queue.AddRateLimited(key)
	}
	return true
}
