package resourcequota

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/resourcequota/usage"
)

const (
	workers    = 2
	maxRetries = 15
	// fullResync is upstream's --resource-quota-sync-period: every quota is
	// recomputed this often, which also catches what no event reports (a
	// pod stuck terminating past its grace period).
	fullResync = 5 * time.Minute
	// liveResync is how often a quota counting a resource no cache holds
	// is recomputed; deletions of those objects raise no event here.
	liveResync = 30 * time.Second
	// settleDelay is how long after admission charged a quota it is
	// recomputed: by then the charged object is stored and cached, and a
	// charge for a write that failed after admission (invalid, already
	// exists) is handed back.
	settleDelay = 10 * time.Second
)

// Controller keeps ResourceQuota status: hard mirrors spec.hard, used is
// recomputed from caches.
type Controller struct {
	client  kubernetes.Interface
	quotas  corelisters.ResourceQuotaLister
	sources map[schema.GroupResource]source
	live    liveCounter
	synced  []cache.InformerSynced
	queue   workqueue.TypedRateLimitingInterface[string]
	clock   clock.WithTicker
}

// New builds the controller and registers its informers on cc.Informers.
func New(cc controller.Context) (*Controller, error) {
	qInf := cc.Informers.Core().V1().ResourceQuotas()
	c := &Controller{
		client:  cc.Client,
		quotas:  qInf.Lister(),
		sources: cachedSources(cc.Informers),
		live:    liveCounter{client: cc.Client},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "resourcequota", Clock: cc.Clock}),
		clock: cc.Clock,
	}
	if _, err := qInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onQuota,
		UpdateFunc: c.onQuotaUpdate,
	}); err != nil {
		return nil, fmt.Errorf("resourcequota controller: adding quota handler: %w", err)
	}
	c.synced = append(c.synced, qInf.Informer().HasSynced)
	for gr, src := range c.sources {
		if _, err := src.informer.AddEventHandler(c.replenishHandler(gr)); err != nil {
			return nil, fmt.Errorf("resourcequota controller: adding %s handler: %w", gr, err)
		}
		c.synced = append(c.synced, src.informer.HasSynced)
	}
	return c, nil
}

// Run waits for the caches, syncs until ctx ends, and returns.
func (c *Controller) Run(ctx context.Context) error {
	return controller.Workers[string]{
		Name: "resourcequota-controller", Queue: c.queue, Count: workers, MaxRetries: maxRetries,
		Synced: c.synced, Sync: c.sync,
		KeyName: "quota", RetryMessage: "Error syncing resource quota, retrying",
		Dropped: func(key string, err error) error {
			return fmt.Errorf("resourcequota controller: dropping %s: %w", key, err)
		},
		Until: c.resyncUntilDone,
	}.Run(ctx)
}

// resyncUntilDone queues every quota each fullResync until ctx ends.
func (c *Controller) resyncUntilDone(ctx context.Context) {
	ticker := c.clock.NewTicker(fullResync)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			c.enqueueAll()
		}
	}
}

func (c *Controller) enqueueAll() {
	list, err := c.quotas.List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range list {
		c.queue.Add(q.Namespace + "/" + q.Name)
	}
}

func (c *Controller) enqueueNamespace(ns string) {
	list, err := c.quotas.ResourceQuotas(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range list {
		c.queue.Add(q.Namespace + "/" + q.Name)
	}
}

func (c *Controller) onQuota(obj any) {
	if q, ok := obj.(*corev1.ResourceQuota); ok {
		c.queue.Add(q.Namespace + "/" + q.Name)
	}
}

// onQuotaUpdate syncs a quota at once when its limits changed or its
// status does not list them yet. When only status.used moved, that is
// admission charging a create the caches may not show yet: recomputing at
// once would hand the charge back, so the recomputation waits settleDelay.
func (c *Controller) onQuotaUpdate(old, cur any) {
	o, ok1 := old.(*corev1.ResourceQuota)
	q, ok2 := cur.(*corev1.ResourceQuota)
	if !ok1 || !ok2 {
		return
	}
	key := q.Namespace + "/" + q.Name
	switch {
	case !usage.Equal(q.Spec.Hard, q.Status.Hard) || missingUsage(q):
		c.queue.Add(key)
	case !usage.Equal(o.Status.Used, q.Status.Used):
		c.queue.AddAfter(key, settleDelay)
	}
}

func missingUsage(q *corev1.ResourceQuota) bool {
	for name := range q.Spec.Hard {
		if _, ok := q.Status.Used[name]; !ok {
			return true
		}
	}
	return false
}
