package daemonset

import (
	"context"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/expectations"
	"github.com/skiff-sh/skiff/internal/controller/history"
	"github.com/skiff-sh/skiff/internal/controller/manager"
	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

const (
	// component is the event source, as upstream names it.
	component = "daemonset-controller"
	// workers matches upstream's default --concurrent-daemonset-syncs.
	workers = 2

	// Back-off for deleting failed pods on one node, as upstream's.
	failedPodBackoffInitial = time.Second
	failedPodBackoffMax     = 15 * time.Minute
	backoffGCInterval       = time.Minute
)

// Event reasons specific to DaemonSets; pod create/delete events use
// podcontrol's reasons.
const (
	ReasonSelectingAll       = "SelectingAll"
	ReasonFailedDaemonPod    = "FailedDaemonPod"
	ReasonSucceededDaemonPod = "SucceededDaemonPod"
	// ReasonInvalidRollingUpdate is Skiff's: upstream only logs it.
	ReasonInvalidRollingUpdate = "InvalidRollingUpdate"
)

// Controller runs one daemon pod on every eligible node.
type Controller struct {
	client       kubernetes.Interface
	clock        clock.WithTicker
	recorder     record.EventRecorder
	podControl   podcontrol.PodControl
	expectations *expectations.Expectations
	history      history.Client
	// failedBackoff rate-limits replacing failed pods per node; it has
	// its own lock.
	failedBackoff *flowcontrol.Backoff

	dsLister   appslisters.DaemonSetLister
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	synced     []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[string]
}

// New builds the controller and registers its informers on cc.Informers.
func New(cc controller.Context) (*Controller, error) {
	recorder := cc.Recorder(component)
	apps := cc.Informers.Apps().V1()
	core := cc.Informers.Core().V1()
	c := &Controller{
		client:        cc.Client,
		clock:         cc.Clock,
		recorder:      recorder,
		podControl:    podcontrol.PodControl{Client: cc.Client, Recorder: recorder},
		expectations:  expectations.New(cc.Clock),
		history:       history.Client{Client: cc.Client, Lister: apps.ControllerRevisions().Lister()},
		failedBackoff: flowcontrol.NewFakeBackOff(failedPodBackoffInitial, failedPodBackoffMax, cc.Clock),
		dsLister:      apps.DaemonSets().Lister(),
		podLister:     core.Pods().Lister(),
		nodeLister:    core.Nodes().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset", Clock: cc.Clock}),
	}
	regs := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{apps.DaemonSets().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueue,
			UpdateFunc: func(_, cur any) { c.enqueue(cur) },
			DeleteFunc: c.enqueue,
		}},
		{apps.ControllerRevisions().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.onRevision,
			UpdateFunc: func(_, cur any) { c.onRevision(cur) },
			DeleteFunc: c.onRevision,
		}},
		{core.Pods().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod,
		}},
		{core.Nodes().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.addNode, UpdateFunc: c.updateNode, DeleteFunc: func(any) { c.enqueueAll() },
		}},
	}
	for _, r := range regs {
		reg, err := r.inf.AddEventHandler(r.h)
		if err != nil {
			return nil, fmt.Errorf("daemonset controller: registering handler: %w", err)
		}
		c.synced = append(c.synced, reg.HasSynced)
	}
	return c, nil
}

var _ manager.Runner = (*Controller)(nil)

// Run waits for the caches, then syncs DaemonSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	return controller.Workers[string]{
		Name: "daemonset", Queue: c.queue, Count: workers, Synced: c.synced, Sync: c.sync,
		RetryForever: true, KeyName: "daemonset", RetryMessage: "Syncing daemon set failed, will retry",
		Until: c.collectBackoff,
	}.Run(ctx)
}

// collectBackoff forgets stale failed-pod back-off entries until ctx ends.
func (c *Controller) collectBackoff(ctx context.Context) {
	t := c.clock.NewTicker(backoffGCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			c.failedBackoff.GC()
		}
	}
}

func keyOf(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("daemonset controller: key for %T: %w", obj, err))
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueueAll() {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		c.queue.Add(keyOf(ds))
	}
}

// resolveControllerRef returns the DaemonSet ref names if it still exists
// with ref's UID.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

// daemonSetsForPod returns the DaemonSets whose selector matches an
// orphan pod, so they can consider adopting it.
func (c *Controller) daemonSetsForPod(pod *corev1.Pod) []*appsv1.DaemonSet {
	all, err := c.dsLister.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.DaemonSet
	for _, ds := range all {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, ds)
		}
	}
	return out
}

func (c *Controller) onRevision(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	rev, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		return
	}
	if ds := c.resolveControllerRef(rev.Namespace, metav1.GetControllerOfNoCopy(rev)); ds != nil {
		c.queue.Add(keyOf(ds))
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already terminating (e.g. after a
		// restart): it is not a creation we are waiting for.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ds := c.resolveControllerRef(pod.Namespace, ref); ds != nil {
			c.expectations.CreationObserved(keyOf(ds))
			c.queue.Add(keyOf(ds))
		}
		return
	}
	for _, ds := range c.daemonSetsForPod(pod) {
		c.queue.Add(keyOf(ds))
	}
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	if curPod.DeletionTimestamp != nil {
		// A graceful delete: the replacement need not wait for the
		// kubelet to finish it.
		c.deletePod(curPod)
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if ds := c.resolveControllerRef(oldPod.Namespace, oldRef); ds != nil {
			c.queue.Add(keyOf(ds))
		}
	}
	if curRef != nil {
		if ds := c.resolveControllerRef(curPod.Namespace, curRef); ds != nil {
			c.queue.Add(keyOf(ds))
		}
		return
	}
	if refChanged || !reflect.DeepEqual(curPod.Labels, oldPod.Labels) {
		for _, ds := range c.daemonSetsForPod(curPod) {
			c.queue.Add(keyOf(ds))
		}
	}
}

func (c *Controller) deletePod(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ds := c.resolveControllerRef(pod.Namespace, metav1.GetControllerOfNoCopy(pod))
	if ds == nil {
		return
	}
	c.expectations.DeletionObserved(keyOf(ds), pod.Namespace+"/"+pod.Name)
	c.queue.Add(keyOf(ds))
}

func (c *Controller) addNode(obj any) {
	node := obj.(*corev1.Node)
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		if run, _ := nodeShouldRunDaemonPod(node, ds); run {
			c.queue.Add(keyOf(ds))
		}
	}
}

// updateNode wakes the DaemonSets whose verdict on the node changed.
// Heartbeat-only updates (condition timestamps) are ignored outright.
func (c *Controller) updateNode(old, cur any) {
	oldNode, curNode := old.(*corev1.Node), cur.(*corev1.Node)
	if nodeUpdateIrrelevant(oldNode, curNode) {
		return
	}
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		oldRun, oldKeep := nodeShouldRunDaemonPod(oldNode, ds)
		curRun, curKeep := nodeShouldRunDaemonPod(curNode, ds)
		if oldRun != curRun || oldKeep != curKeep {
			c.queue.Add(keyOf(ds))
		}
	}
}

// nodeUpdateIrrelevant reports whether only the resourceVersion or the
// condition details changed, not which conditions are true.
func nodeUpdateIrrelevant(oldNode, curNode *corev1.Node) bool {
	trueSet := func(n *corev1.Node) map[corev1.NodeConditionType]bool {
		m := map[corev1.NodeConditionType]bool{}
		for _, c := range n.Status.Conditions {
			if c.Status == corev1.ConditionTrue {
				m[c.Type] = true
			}
		}
		return m
	}
	if !reflect.DeepEqual(trueSet(oldNode), trueSet(curNode)) {
		return false
	}
	o := oldNode.DeepCopy()
	o.ResourceVersion = curNode.ResourceVersion
	o.Status.Conditions = curNode.Status.Conditions
	return apiequality.Semantic.DeepEqual(o, curNode)
}
