package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
)

// Upstream's defaults (--concurrent-gc-syncs and the discovery resync of
// kube-controller-manager).
const (
	DefaultWorkers               = 20
	DefaultDiscoveryResyncPeriod = 30 * time.Second
)

// DefaultIgnoredResources are never watched nor collected: events are
// many, short-lived and owned by nobody (upstream ignores them too).
func DefaultIgnoredResources() []schema.GroupResource {
	return []schema.GroupResource{{Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}}
}

// Config tunes the collector; zero values mean upstream's defaults.
type Config struct {
	// RESTConfig reaches the API server for the metadata client the
	// collector lists, watches, patches and deletes every kind with.
	// Required.
	RESTConfig *rest.Config
	// Workers is the number of concurrent deletions (and orphanings).
	Workers int
	// DiscoveryResyncPeriod is how often discovery is read again to
	// watch new resources (CRDs) and drop removed ones.
	DiscoveryResyncPeriod time.Duration
	// IgnoredResources are left alone; nil means DefaultIgnoredResources.
	IgnoredResources []schema.GroupResource
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.DiscoveryResyncPeriod <= 0 {
		c.DiscoveryResyncPeriod = DefaultDiscoveryResyncPeriod
	}
	if c.IgnoredResources == nil {
		c.IgnoredResources = DefaultIgnoredResources()
	}
	return c
}

// Controller is the garbage collector.
type Controller struct {
	cfg       Config
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	mapper    meta.ResettableRESTMapper
	recorder  record.EventRecorder
	clock     clock.WithTicker

	graph    *graph
	absent   *absentOwners
	monitors *monitorSet

	attemptToDelete workqueue.TypedRateLimitingInterface[types.UID]
	attemptToOrphan workqueue.TypedRateLimitingInterface[types.UID]
	// workerLock is held for reading by every worker while it handles an
	// item, and for writing while new monitors fill the graph, so that
	// no decision is taken on a graph that lacks a whole resource.
	workerLock sync.RWMutex
}

// New builds the garbage collector. It watches every resource discovery
// reports as listable, watchable and deletable through the metadata
// client made from cfg.RESTConfig; it does not use cc.Informers.
func New(cc controller.Context, cfg Config) (*Controller, error) {
	if cfg.RESTConfig == nil {
		return nil, errors.New("garbage collector: RESTConfig is required")
	}
	mc, err := metadata.NewForConfig(cfg.RESTConfig)
	if err != nil {
		return nil, fmt.Errorf("garbage collector: metadata client: %w", err)
	}
	return newController(cc, cfg, mc, cc.Client.Discovery()), nil
}

func newController(cc controller.Context, cfg Config, mc metadata.Interface, dc discovery.DiscoveryInterface) *Controller {
	cfg = cfg.withDefaults()
	absent := newAbsentOwners()
	gc := &Controller{
		cfg:       cfg,
		metadata:  mc,
		discovery: dc,
		mapper:    restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		recorder:  cc.Recorder("garbage-collector-controller"),
		clock:     cc.Clock,
		graph:     newGraph(absent),
		absent:    absent,
		attemptToDelete: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_delete", Clock: cc.Clock}),
		attemptToOrphan: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_orphan", Clock: cc.Clock}),
	}
	gc.monitors = newMonitorSet(mc, gc.observe)
	return gc
}

// Run watches every deletable resource, waits until the graph holds all
// of them, and collects garbage until ctx ends.
func (gc *Controller) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("garbagecollector")
	ctx = klog.NewContext(ctx, logger)
	defer gc.attemptToDelete.ShutDown()
	defer gc.attemptToOrphan.ShutDown()
	defer gc.monitors.stopAll()

	if !gc.startMonitors(ctx) {
		return nil
	}
	var wg sync.WaitGroup
	for range gc.cfg.Workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for gc.processNext(ctx, gc.attemptToDelete, gc.attemptToDeleteItem) {
			}
		}()
		go func() {
			defer wg.Done()
			for gc.processNext(ctx, gc.attemptToOrphan, gc.attemptToOrphanItem) {
			}
		}()
	}
	logger.V(2).Info("Garbage collector running", "resources", gc.monitors.len())
	gc.resyncUntilDone(ctx)
	gc.attemptToDelete.ShutDown()
	gc.attemptToOrphan.ShutDown()
	wg.Wait()
	return nil
}

// startMonitors reads discovery until it names some resources, starts
// their monitors and waits for them to sync. It returns false if ctx
// ended first.
func (gc *Controller) startMonitors(ctx context.Context) bool {
	ticker := gc.clock.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		resources, failed, err := gc.deletableResources()
		if len(resources) > 0 {
			gc.monitors.sync(ctx, resources, failed)
			return gc.monitors.waitForSync(ctx)
		}
		klog.FromContext(ctx).Error(err, "Discovering resources for the garbage collector; retrying")
		select {
		case <-ctx.Done():
			return false
		case <-ticker.C():
		}
	}
}

// resyncUntilDone re-reads discovery every DiscoveryResyncPeriod and
// adjusts the monitors to what is served now, pausing the workers while
// new monitors fill the graph.
func (gc *Controller) resyncUntilDone(ctx context.Context) {
	ticker := gc.clock.NewTicker(gc.cfg.DiscoveryResyncPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
		resources, failed, err := gc.deletableResources()
		if err != nil {
			klog.FromContext(ctx).V(2).Info("Partial discovery; keeping monitors of failed groups", "err", err)
		}
		if len(resources) == 0 || !gc.monitors.changed(resources, failed) {
			continue
		}
		gc.mapper.Reset()
		gc.workerLock.Lock()
		gc.monitors.sync(ctx, resources, failed)
		syncCtx, cancel := context.WithTimeout(ctx, gc.cfg.DiscoveryResyncPeriod)
		if !gc.monitors.waitForSync(syncCtx) && ctx.Err() == nil {
			klog.FromContext(ctx).Error(nil, "Timed out waiting for new garbage collector monitors to sync")
		}
		cancel()
		gc.workerLock.Unlock()
	}
}

// observe applies one event to the graph and queues the work it causes.
func (gc *Controller) observe(ev event) {
	gc.schedule(gc.graph.apply(ev))
}

func (gc *Controller) schedule(w work) {
	for _, uid := range w.attemptToDelete {
		gc.attemptToDelete.Add(uid)
	}
	for _, uid := range w.attemptToOrphan {
		gc.attemptToOrphan.Add(uid)
	}
	for _, r := range w.invalidNamespace {
		gc.reportInvalidNamespace(r.dependent, fmt.Sprintf("ownerRef %s does not exist in namespace %q", r.owner, r.dependent.Namespace))
	}
}

// processNext handles one queued uid. sync returns requeue=true for an
// item that is fine but must be looked at again (a virtual node not yet
// observed); an error is retried with back-off too.
func (gc *Controller) processNext(ctx context.Context, q workqueue.TypedRateLimitingInterface[types.UID],
	sync func(context.Context, types.UID) (bool, error)) bool {
	uid, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(uid)
	gc.workerLock.RLock()
	requeue, err := sync(ctx, uid)
	gc.workerLock.RUnlock()
	switch {
	case err != nil:
		klog.FromContext(ctx).V(2).Info("Garbage collecting item failed; will retry", "uid", uid, "err", err)
		q.AddRateLimited(uid)
	case requeue:
		q.AddRateLimited(uid)
	default:
		q.Forget(uid)
	}
	return true
}
