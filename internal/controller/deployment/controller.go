package deployment

import (
	"context"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/manager"
)

// workers is upstream's default --concurrent-deployment-syncs.
const workers = 5

// controllerKind is what ReplicaSets' controller references name.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller rolls Deployments out through ReplicaSets.
type Controller struct {
	client   kubernetes.Interface
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	pods     cache.Indexer
	synced   []cache.InformerSynced
	recorder record.EventRecorder
	queue    workqueue.TypedRateLimitingInterface[string]
	clock    clock.WithTicker
}

var _ manager.Runner = (*Controller)(nil)

// New builds the Deployment controller.
func New(cc controller.Context) (*Controller, error) {
	clk := cc.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	dInf := cc.Informers.Apps().V1().Deployments()
	rsInf := cc.Informers.Apps().V1().ReplicaSets()
	podInf := cc.Informers.Core().V1().Pods().Informer()
	if err := addPodIndex(podInf); err != nil {
		return nil, err
	}
	c := &Controller{
		client:   cc.Client,
		dLister:  dInf.Lister(),
		rsLister: rsInf.Lister(),
		pods:     podInf.GetIndexer(),
		synced:   []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.HasSynced},
		recorder: cc.Recorder("deployment-controller"),
		clock:    clk,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "deployment", Clock: clk}),
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{dInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueDeployment,
			UpdateFunc: func(_, cur any) { c.enqueueDeployment(cur) },
			DeleteFunc: c.enqueueDeployment,
		}},
		{rsInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.addReplicaSet,
			UpdateFunc: c.updateReplicaSet,
			DeleteFunc: c.deleteReplicaSet,
		}},
		// Only deletions matter: Recreate waits for old pods to be gone.
		{podInf, cache.ResourceEventHandlerFuncs{DeleteFunc: c.deletePod}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("deployment controller event handler: %w", err)
		}
	}
	return c, nil
}

// Run waits for the caches, then syncs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return controller.Workers[string]{
		Name: "deployment", Queue: c.queue, Count: workers, Synced: c.synced, Sync: c.sync,
		RetryForever: true, KeyName: "deployment", RetryMessage: "sync failed, retrying",
	}.Run(ctx)
}

func (c *Controller) enqueueDeployment(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	c.queue.Add(d.Namespace + "/" + d.Name)
}

// resolve returns the Deployment a controller reference points at, if it
// is still the same object.
func (c *Controller) resolve(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	d, err := c.dLister.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// deploymentsSelecting returns the Deployments whose selector matches an
// orphan ReplicaSet, so they can consider adopting it.
func (c *Controller) deploymentsSelecting(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	ds, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		// An empty selector matches nothing here, never everything.
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (c *Controller) addReplicaSet(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolve(rs.Namespace, ref); d != nil {
			c.enqueueDeployment(d)
		}
		return
	}
	for _, d := range c.deploymentsSelecting(rs) {
		c.enqueueDeployment(d)
	}
}

func (c *Controller) updateReplicaSet(oldObj, curObj any) {
	old, cur := oldObj.(*appsv1.ReplicaSet), curObj.(*appsv1.ReplicaSet)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(cur), metav1.GetControllerOfNoCopy(old)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if d := c.resolve(old.Namespace, oldRef); d != nil {
			c.enqueueDeployment(d)
		}
	}
	if curRef != nil {
		if d := c.resolve(cur.Namespace, curRef); d != nil {
			c.enqueueDeployment(d)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(old.Labels, cur.Labels) {
		for _, d := range c.deploymentsSelecting(cur) {
			c.enqueueDeployment(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		utilruntime.HandleError(fmt.Errorf("unexpected object in ReplicaSet delete event: %T", obj))
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolve(rs.Namespace, ref); d != nil {
			c.enqueueDeployment(d)
		}
	}
}

// deletePod wakes a Recreate Deployment whose old pods are going away; the
// sync itself checks whether any are left.
func (c *Controller) deletePod(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(p.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	rsRef := metav1.GetControllerOfNoCopy(rs)
	if rsRef == nil {
		return
	}
	if d := c.resolve(rs.Namespace, rsRef); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueueDeployment(d)
	}
}
