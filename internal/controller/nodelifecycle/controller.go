package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
)

// taintPassPeriod is how often the rate-limited NoExecute tainting runs
// (upstream's NodeEvictionPeriod).
const taintPassPeriod = 100 * time.Millisecond

// Event reasons, upstream's.
const (
	ReasonRegisteredNode = "RegisteredNode"
	ReasonRemovingNode   = "RemovingNode"
	ReasonNodeNotReady   = "NodeNotReady"
)

// Controller watches node heartbeats and taints nodes that stopped.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.WithTicker

	nodeLister  corelisters.NodeLister
	leaseLister coordlisters.LeaseLister
	podLister   corelisters.PodLister
	podIndexer  cache.Indexer
	synced      []cache.InformerSynced

	health *healthMap
	// nodesToRetry holds nodes whose pods could not all be marked not
	// ready; the next pass tries again.
	nodesToRetry sync.Map

	// zoneMu guards the fields below. knownNodes and zoneStates are only
	// written by the monitor pass.
	zoneMu     sync.Mutex
	knownNodes map[string]*corev1.Node
	zoneStates map[string]zoneState
	tainters   map[string]*zoneTainter

	// nodeQueue drives the NoSchedule taints that mirror conditions;
	// podQueue marks pods newly bound to an unhealthy node not ready.
	nodeQueue workqueue.TypedRateLimitingInterface[string]
	podQueue  workqueue.TypedRateLimitingInterface[string]
}

// New builds the node lifecycle controller from the shared informers
// (nodes, leases, pods).
func New(cc controller.Context, cfg Config) (*Controller, error) {
	nodes := cc.Informers.Core().V1().Nodes()
	leases := cc.Informers.Coordination().V1().Leases()
	pods := cc.Informers.Core().V1().Pods()
	if err := addNodeNameIndex(pods.Informer()); err != nil {
		return nil, err
	}
	c := &Controller{
		cfg:         cfg.withDefaults(),
		client:      cc.Client,
		recorder:    cc.Recorder("node-controller"),
		clock:       cc.Clock,
		nodeLister:  nodes.Lister(),
		leaseLister: leases.Lister(),
		podLister:   pods.Lister(),
		podIndexer:  pods.Informer().GetIndexer(),
		synced:      []cache.InformerSynced{nodes.Informer().HasSynced, leases.Informer().HasSynced, pods.Informer().HasSynced},
		health:      newHealthMap(),
		knownNodes:  map[string]*corev1.Node{},
		zoneStates:  map[string]zoneState{},
		tainters:    map[string]*zoneTainter{},
		nodeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "node_lifecycle_nodes", Clock: cc.Clock}),
		podQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "node_lifecycle_pods", Clock: cc.Clock}),
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueueNode(obj) },
		UpdateFunc: func(_, obj any) { c.enqueueNode(obj) },
		DeleteFunc: func(obj any) {
			if n, ok := tombstone[*corev1.Node](obj); ok {
				c.nodesToRetry.Delete(n.Name)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("node lifecycle: node handler: %w", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.podBound(nil, obj) },
		UpdateFunc: func(old, obj any) {
			c.podBound(old, obj)
		},
	}); err != nil {
		return nil, fmt.Errorf("node lifecycle: pod handler: %w", err)
	}
	return c, nil
}

func (c *Controller) enqueueNode(obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		c.nodeQueue.Add(n.Name)
	}
}

// podBound queues a pod that was just bound to a node: if the node is
// unhealthy, the pod must not read Ready.
func (c *Controller) podBound(oldObj, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	if old, ok := oldObj.(*corev1.Pod); ok && old.Spec.NodeName == pod.Spec.NodeName {
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
		c.podQueue.Add(key)
	}
}

// Run monitors node health until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("nodelifecycle")
	ctx = klog.NewContext(ctx, logger)
	defer c.nodeQueue.ShutDown()
	defer c.podQueue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	for range 4 {
		run(func(ctx context.Context) {
			for c.processNextNode(ctx) {
			}
		})
		run(func(ctx context.Context) {
			for c.processNextPod(ctx) {
			}
		})
	}
	run(func(ctx context.Context) { c.every(ctx, taintPassPeriod, c.doNoExecuteTaintingPass) })
	c.every(ctx, c.cfg.NodeMonitorPeriod, func(ctx context.Context) {
		if err := c.monitorNodeHealth(ctx); err != nil {
			logger.Error(err, "Monitoring node health")
		}
	})
	c.nodeQueue.ShutDown()
	c.podQueue.ShutDown()
	wg.Wait()
	return nil
}

// every runs f now and then every period of the injected clock until ctx
// ends.
func (c *Controller) every(ctx context.Context, period time.Duration, f func(context.Context)) {
	ticker := c.clock.NewTicker(period)
	defer ticker.Stop()
	for {
		f(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

func (c *Controller) processNextNode(ctx context.Context) bool {
	name, quit := c.nodeQueue.Get()
	if quit {
		return false
	}
	defer c.nodeQueue.Done(name)
	if err := c.doNoScheduleTaintingPass(ctx, name); err != nil {
		klog.FromContext(ctx).V(2).Info("Updating NoSchedule taints failed; will retry", "node", name, "err", err)
		c.nodeQueue.AddRateLimited(name)
		return true
	}
	c.nodeQueue.Forget(name)
	return true
}

func (c *Controller) processNextPod(ctx context.Context) bool {
	key, quit := c.podQueue.Get()
	if quit {
		return false
	}
	defer c.podQueue.Done(key)
	if err := c.syncPod(ctx, key); err != nil {
		klog.FromContext(ctx).V(2).Info("Marking pod not ready failed; will retry", "pod", key, "err", err)
		c.podQueue.AddRateLimited(key)
		return true
	}
	c.podQueue.Forget(key)
	return true
}

// syncPod marks a pod bound to a node whose last known Ready condition is
// not True as not ready.
func (c *Controller) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key we made; nothing to retry
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if err != nil {
		return nil // deleted: nothing to mark
	}
	h := c.health.get(pod.Spec.NodeName)
	if h == nil {
		return nil // the monitor pass handles nodes it has not seen yet
	}
	if _, err := c.nodeLister.Get(pod.Spec.NodeName); err != nil {
		return fmt.Errorf("getting node %s: %w", pod.Spec.NodeName, err)
	}
	ready := findCondition(h.status, corev1.NodeReady)
	if ready == nil || ready.Status == corev1.ConditionTrue {
		return nil
	}
	return c.markPodsNotReady(ctx, []*corev1.Pod{pod}, pod.Spec.NodeName)
}

// tombstone unwraps a deleted object.
func tombstone[T any](obj any) (T, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	t, ok := obj.(T)
	return t, ok
}

// podNodeNameIndex indexes pods by spec.nodeName; upstream's name, so a
// controller that registers the same index shares it.
const podNodeNameIndex = "spec.nodeName"

func addNodeNameIndex(informer cache.SharedIndexInformer) error {
	if _, ok := informer.GetIndexer().GetIndexers()[podNodeNameIndex]; ok {
		return nil
	}
	err := informer.AddIndexers(cache.Indexers{podNodeNameIndex: func(obj any) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.Spec.NodeName == "" {
			return nil, nil
		}
		return []string{pod.Spec.NodeName}, nil
	}})
	if err != nil {
		return fmt.Errorf("adding the pod node-name index: %w", err)
	}
	return nil
}

func podsOnNode(indexer cache.Indexer, node string) ([]*corev1.Pod, error) {
	objs, err := indexer.ByIndex(podNodeNameIndex, node)
	if err != nil {
		return nil, err
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return pods, nil
}
