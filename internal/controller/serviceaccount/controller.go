package serviceaccount

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/internal/controller"
)

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

const (
	workers    = 1
	maxRetries = 15
)

// Controller ensures the default ServiceAccount of every namespace.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	synced     []cache.InformerSynced
	// queue holds namespace names.
	queue workqueue.TypedRateLimitingInterface[string]
}

// New builds the controller and registers its informers on cc.Informers.
func New(cc controller.Context) (*Controller, error) {
	nsInf := cc.Informers.Core().V1().Namespaces()
	saInf := cc.Informers.Core().V1().ServiceAccounts()
	c := &Controller{
		client:     cc.Client,
		namespaces: nsInf.Lister(),
		accounts:   saInf.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount", Clock: cc.Clock}),
	}
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onNamespace,
		UpdateFunc: func(_, cur any) { c.onNamespace(cur) },
	}); err != nil {
		return nil, fmt.Errorf("serviceaccount controller: adding namespace handler: %w", err)
	}
	if _, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.onAccountDelete,
	}); err != nil {
		return nil, fmt.Errorf("serviceaccount controller: adding service account handler: %w", err)
	}
	c.synced = []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced}
	return c, nil
}

// Run waits for the caches, syncs until ctx ends, and returns.
func (c *Controller) Run(ctx context.Context) error {
	return controller.Workers[string]{
		Name: "serviceaccount-controller", Queue: c.queue, Count: workers, MaxRetries: maxRetries,
		Synced: c.synced, Sync: c.sync,
		KeyName: "namespace", RetryMessage: "Error ensuring service account, retrying",
		Dropped: func(key string, err error) error {
			return fmt.Errorf("serviceaccount controller: dropping namespace %s: %w", key, err)
		},
	}.Run(ctx)
}

func (c *Controller) onNamespace(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller) onAccountDelete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == DefaultName {
		c.queue.Add(sa.Namespace)
	}
}
