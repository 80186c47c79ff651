package endpointslice

import (
	"context"
	"fmt"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/endpoints/servicepods"
)

const (
	// ControllerName is the managed-by label value of the slices this
	// controller owns.
	ControllerName = "endpointslice-controller.k8s.io"
	// maxEndpointsPerSlice is upstream's default --max-endpoints-per-slice.
	maxEndpointsPerSlice = 100
	workers              = 2
	maxRetries           = 15
)

// Event reasons.
const (
	ReasonFailedToUpdateEndpointSlices = "FailedToUpdateEndpointSlices"
)

// Controller keeps the EndpointSlices of selector-based Services.
type Controller struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	slices    discoverylisters.EndpointSliceLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	selectors *servicepods.SelectorCache
	triggers  *servicepods.TriggerTimeTracker
	tracker   *tracker
	recorder  record.EventRecorder
}

// New builds the controller and registers its informers on cc.Informers.
func New(cc controller.Context) (*Controller, error) {
	svcInf := cc.Informers.Core().V1().Services()
	podInf := cc.Informers.Core().V1().Pods()
	sliceInf := cc.Informers.Discovery().V1().EndpointSlices()
	c := &Controller{
		client:   cc.Client,
		services: svcInf.Lister(),
		pods:     podInf.Lister(),
		slices:   sliceInf.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			// A stale cache needs a moment to catch up, not a hot loop;
			// the back-off starts a little higher than the default's 5ms.
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 100*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint_slice", Clock: cc.Clock}),
		selectors: servicepods.NewSelectorCache(),
		triggers:  servicepods.NewTriggerTimeTracker(),
		tracker:   newTracker(),
		recorder:  cc.Recorder("endpoint-slice-controller"),
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{svcInf.Informer(), c.selectors.ServiceHandler(c.queue.Add)},
		{podInf.Informer(), c.selectors.PodHandler(c.queue.Add)},
		{sliceInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.onSlice,
			UpdateFunc: c.onSliceUpdate,
			DeleteFunc: c.onSliceDelete,
		}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("endpointslice controller: adding event handler: %w", err)
		}
		c.synced = append(c.synced, h.inf.HasSynced)
	}
	return c, nil
}

// Run waits for the caches, syncs until ctx ends, and returns.
func (c *Controller) Run(ctx context.Context) error {
	return controller.Workers[string]{
		Name: "endpointslice-controller", Queue: c.queue, Count: workers, MaxRetries: maxRetries,
		Synced: c.synced, Sync: c.sync,
		KeyName: "service", RetryMessage: "Error syncing endpoint slices, retrying",
		SyncedMessage: "Synced endpoint slices",
		Dropped: func(key string, err error) error {
			return fmt.Errorf("endpointslice controller: dropping service %s out of the queue: %w", key, err)
		},
	}.Run(ctx)
}

func managed(s *discoveryv1.EndpointSlice) bool {
	return s.Labels[discoveryv1.LabelManagedBy] == ControllerName && s.Labels[discoveryv1.LabelServiceName] != ""
}

func (c *Controller) onSlice(obj any) {
	if s, ok := obj.(*discoveryv1.EndpointSlice); ok && managed(s) && c.tracker.shouldSync(s) {
		c.queue.Add(serviceKeyOf(s))
	}
}

func (c *Controller) onSliceUpdate(old, cur any) {
	o, ok1 := old.(*discoveryv1.EndpointSlice)
	n, ok2 := cur.(*discoveryv1.EndpointSlice)
	if !ok1 || !ok2 {
		return
	}
	// A slice that changed hands or Services concerns both sides.
	if managed(o) != managed(n) || serviceKeyOf(o) != serviceKeyOf(n) {
		if managed(o) {
			c.queue.Add(serviceKeyOf(o))
		}
		if managed(n) {
			c.queue.Add(serviceKeyOf(n))
		}
		return
	}
	c.onSlice(n)
}

func (c *Controller) onSliceDelete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if s, ok := obj.(*discoveryv1.EndpointSlice); ok && managed(s) && c.tracker.handleDeletion(s) {
		c.queue.Add(serviceKeyOf(s))
	}
}
