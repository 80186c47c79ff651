package endpoints

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/endpoints/servicepods"
)

// Event reasons, as upstream's endpoint controller reports them.
const (
	ReasonFailedToCreateEndpoint = "FailedToCreateEndpoint"
	ReasonFailedToUpdateEndpoint = "FailedToUpdateEndpoint"
)

const (
	workers = 2
	// maxRetries bounds the rate-limited retries of one Service; the next
	// event about it starts over.
	maxRetries = 15
)

// Controller keeps one Endpoints object per selector-based Service.
type Controller struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	selectors *servicepods.SelectorCache
	triggers  *servicepods.TriggerTimeTracker
	recorder  record.EventRecorder
}

// New builds the controller and registers its informers on cc.Informers.
func New(cc controller.Context) (*Controller, error) {
	svcInf := cc.Informers.Core().V1().Services()
	podInf := cc.Informers.Core().V1().Pods()
	epInf := cc.Informers.Core().V1().Endpoints()
	c := &Controller{
		client:    cc.Client,
		services:  svcInf.Lister(),
		pods:      podInf.Lister(),
		endpoints: epInf.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint", Clock: cc.Clock}),
		selectors: servicepods.NewSelectorCache(),
		triggers:  servicepods.NewTriggerTimeTracker(),
		recorder:  cc.Recorder(ControllerName),
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{svcInf.Informer(), c.selectors.ServiceHandler(c.queue.Add)},
		{podInf.Informer(), c.selectors.PodHandler(c.queue.Add)},
		// A deleted Endpoints object whose Service still exists is
		// recreated; other changes to it are the controller's own.
		{epInf.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: c.onEndpointsDelete}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("endpoint controller: adding event handler: %w", err)
		}
		c.synced = append(c.synced, h.inf.HasSynced)
	}
	return c, nil
}

// Run waits for the caches, syncs until ctx ends, and returns.
func (c *Controller) Run(ctx context.Context) error {
	return controller.Workers[string]{
		Name: ControllerName, Queue: c.queue, Count: workers, MaxRetries: maxRetries,
		Synced: c.synced, Sync: c.sync,
		Started: func(context.Context) error { c.enqueueLeftovers(); return nil },
		KeyName: "service", RetryMessage: "Error syncing endpoints, retrying",
		SyncedMessage: "Synced service endpoints",
		Dropped: func(key string, err error) error {
			return fmt.Errorf("endpoint controller: dropping service %s out of the queue: %w", key, err)
		},
	}.Run(ctx)
}

// enqueueLeftovers queues every Endpoints object this controller made, so
// those whose Service was deleted while it was not running are removed.
func (c *Controller) enqueueLeftovers() {
	sel := labels.SelectorFromSet(labels.Set{LabelManagedBy: ControllerName})
	list, err := c.endpoints.List(sel)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("endpoint controller: listing leftover endpoints: %w", err))
		return
	}
	for _, ep := range list {
		c.queue.Add(ep.Namespace + "/" + ep.Name)
	}
}

func (c *Controller) onEndpointsDelete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if ep, ok := obj.(*corev1.Endpoints); ok {
		c.queue.Add(ep.Namespace + "/" + ep.Name)
	}
}

// isNamespaceTerminating reports a create refused because the namespace is
// going away; retrying cannot help.
func isNamespaceTerminating(err error) bool {
	return apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}
