package statefulset

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/expectations"
	"github.com/skiff-sh/skiff/internal/controller/history"
	"github.com/skiff-sh/skiff/internal/controller/manager"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

const (
	// component is the event source, as upstream names it.
	component = "statefulset-controller"
	// workers matches upstream's default --concurrent-statefulset-syncs.
	workers = 5
)

// Controller gives each StatefulSet its stable, ordered pods and claims.
type Controller struct {
	client       kubernetes.Interface
	clock        clock.WithTicker
	recorder     record.EventRecorder
	expectations *expectations.Expectations
	history      history.Client

	setLister   appslisters.StatefulSetLister
	podLister   corelisters.PodLister
	claimLister corelisters.PersistentVolumeClaimLister
	synced      []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[string]
}

// New builds the controller and registers its informers on cc.Informers.
func New(cc controller.Context) (*Controller, error) {
	apps := cc.Informers.Apps().V1()
	core := cc.Informers.Core().V1()
	c := &Controller{
		client:       cc.Client,
		clock:        cc.Clock,
		recorder:     cc.Recorder(component),
		expectations: expectations.New(cc.Clock),
		history:      history.Client{Client: cc.Client, Lister: apps.ControllerRevisions().Lister()},
		setLister:    apps.StatefulSets().Lister(),
		podLister:    core.Pods().Lister(),
		claimLister:  core.PersistentVolumeClaims().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "statefulset", Clock: cc.Clock}),
	}
	regs := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{apps.StatefulSets().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueue,
			UpdateFunc: func(_, cur any) { c.enqueue(cur) },
			DeleteFunc: c.enqueue,
		}},
		{core.Pods().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.onPodAdd, UpdateFunc: c.onPodUpdate, DeleteFunc: c.onPodDelete,
		}},
		{core.PersistentVolumeClaims().Informer(), cache.ResourceEventHandlerFuncs{
			DeleteFunc: c.onClaimDelete,
		}},
		// Revisions are only read; registering keeps their cache filled.
		{apps.ControllerRevisions().Informer(), cache.ResourceEventHandlerFuncs{}},
	}
	for _, r := range regs {
		reg, err := r.inf.AddEventHandler(r.h)
		if err != nil {
			return nil, fmt.Errorf("statefulset controller: registering handler: %w", err)
		}
		c.synced = append(c.synced, reg.HasSynced)
	}
	return c, nil
}

var _ manager.Runner = (*Controller)(nil)

// Run waits for the caches, then syncs StatefulSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	return controller.Workers[string]{
		Name: "statefulset", Queue: c.queue, Count: workers, Synced: c.synced, Sync: c.sync,
		RetryForever: true, KeyName: "statefulset", RetryMessage: "Syncing stateful set failed, will retry",
	}.Run(ctx)
}

func keyOf(set *appsv1.StatefulSet) string { return set.Namespace + "/" + set.Name }

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("statefulset controller: key for %T: %w", obj, err))
		return
	}
	c.queue.Add(key)
}

// resolveControllerRef returns the StatefulSet ref names if it still
// exists with ref's UID.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	set, err := c.setLister.StatefulSets(namespace).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

// setsForPod returns the StatefulSets that could adopt an orphan pod.
func (c *Controller) setsForPod(pod *corev1.Pod) []*appsv1.StatefulSet {
	all, err := c.setLister.StatefulSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.StatefulSet
	for _, set := range all {
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) && isMember(set, pod) {
			out = append(out, set)
		}
	}
	return out
}

func (c *Controller) onPodAdd(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.onPodDelete(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if set := c.resolveControllerRef(pod.Namespace, ref); set != nil {
			c.expectations.CreationObserved(keyOf(set))
			c.queue.Add(keyOf(set))
		}
		return
	}
	for _, set := range c.setsForPod(pod) {
		c.queue.Add(keyOf(set))
	}
}

func (c *Controller) onPodUpdate(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if set := c.resolveControllerRef(oldPod.Namespace, oldRef); set != nil {
			c.queue.Add(keyOf(set))
		}
	}
	if curRef != nil {
		if set := c.resolveControllerRef(curPod.Namespace, curRef); set != nil {
			if curPod.DeletionTimestamp != nil {
				c.expectations.DeletionObserved(keyOf(set), curPod.Namespace+"/"+curPod.Name)
			}
			c.queue.Add(keyOf(set))
		}
		return
	}
	if refChanged || !reflect.DeepEqual(curPod.Labels, oldPod.Labels) {
		for _, set := range c.setsForPod(curPod) {
			c.queue.Add(keyOf(set))
		}
	}
}

func (c *Controller) onPodDelete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	set := c.resolveControllerRef(pod.Namespace, metav1.GetControllerOfNoCopy(pod))
	if set == nil {
		return
	}
	c.expectations.DeletionObserved(keyOf(set), pod.Namespace+"/"+pod.Name)
	c.queue.Add(keyOf(set))
}

// onClaimDelete wakes the sets whose claim it was: a pod may be waiting for
// a stale claim to be collected before it can be created.
func (c *Controller) onClaimDelete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	sets, err := c.setLister.StatefulSets(claim.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, set := range sets {
		for _, t := range set.Spec.VolumeClaimTemplates {
			if strings.HasPrefix(claim.Name, t.Name+"-"+set.Name+"-") {
				c.queue.Add(keyOf(set))
				break
			}
		}
	}
}
