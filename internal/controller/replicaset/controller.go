package replicaset

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/expectations"
	"github.com/skiff-sh/skiff/internal/controller/manager"
	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

const (
	// BurstReplicas caps the creates or deletes of one sync, as upstream:
	// the rest wait until the informer has seen these.
	BurstReplicas = 500
	// workers is upstream's default --concurrent-replicaset-syncs.
	workers = 5
)

// Controller reconciles one kind (ReplicaSet or ReplicationController).
type Controller struct {
	kind          kind
	client        kubernetes.Interface
	pods          *podIndex
	podsSynced    cache.InformerSynced
	ownersSynced  cache.InformerSynced
	podControl    podcontrol.PodControl
	expectations  *expectations.Expectations
	queue         workqueue.TypedRateLimitingInterface[string]
	clock         clock.WithTicker
	burstReplicas int
}

var _ manager.Runner = (*Controller)(nil)

// NewReplicaSetController builds the ReplicaSet controller.
func NewReplicaSetController(cc controller.Context) (*Controller, error) {
	inf := cc.Informers.Apps().V1().ReplicaSets()
	return newController(cc, replicaSetKind{client: cc.Client, inf: inf.Informer(), lister: inf.Lister()}, "replicaset")
}

// NewReplicationManager builds the ReplicationController controller: the
// same core as NewReplicaSetController, over core/v1 ReplicationControllers.
func NewReplicationManager(cc controller.Context) (*Controller, error) {
	inf := cc.Informers.Core().V1().ReplicationControllers()
	return newController(cc, replicationControllerKind{client: cc.Client, inf: inf.Informer(), lister: inf.Lister()}, "replicationmanager")
}

func newController(cc controller.Context, k kind, queueName string) (*Controller, error) {
	clk := cc.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	podInf := cc.Informers.Core().V1().Pods().Informer()
	pods, err := newPodIndex(podInf)
	if err != nil {
		return nil, err
	}
	c := &Controller{
		kind:          k,
		client:        cc.Client,
		pods:          pods,
		podsSynced:    podInf.HasSynced,
		ownersSynced:  k.informer().HasSynced,
		podControl:    podcontrol.PodControl{Client: cc.Client, Recorder: cc.Recorder(k.component())},
		expectations:  expectations.New(clk),
		clock:         clk,
		burstReplicas: BurstReplicas,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: queueName, Clock: clk}),
	}
	if _, err := k.informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addOwner,
		UpdateFunc: c.updateOwner,
		DeleteFunc: c.deleteOwner,
	}); err != nil {
		return nil, fmt.Errorf("watching %s: %w", k.gvk().Kind, err)
	}
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("watching pods for %s: %w", k.gvk().Kind, err)
	}
	return c, nil
}

// Run waits for the caches, then syncs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	kind := c.kind.gvk().Kind
	return controller.Workers[string]{
		Name: strings.ToLower(kind), Queue: c.queue, Count: workers,
		Synced: []cache.InformerSynced{c.podsSynced, c.ownersSynced}, Sync: c.sync,
		RetryForever: true, KeyName: "key", RetryMessage: kind + " sync failed, retrying",
	}.Run(ctx)
}

func keyOf(o *owner) string {
	return o.meta.GetNamespace() + "/" + o.meta.GetName()
}

func (c *Controller) addOwner(obj any) {
	if o, ok := c.kind.fromObject(obj); ok {
		c.queue.Add(keyOf(o))
	}
}

func (c *Controller) updateOwner(oldObj, curObj any) {
	old, ok1 := c.kind.fromObject(oldObj)
	cur, ok2 := c.kind.fromObject(curObj)
	if !ok1 || !ok2 {
		return
	}
	// Deleted and recreated under the same name between two events: the
	// old one's expectations must not hold back the new one.
	if old.meta.GetUID() != cur.meta.GetUID() {
		c.expectations.Forget(keyOf(old))
	}
	// Every update is synced (not only spec changes), so a status write or
	// resync retries owners whose last creates failed.
	c.queue.Add(keyOf(cur))
}

func (c *Controller) deleteOwner(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	o, ok := c.kind.fromObject(obj)
	if !ok {
		return
	}
	// A new owner of the same name starts with clean expectations.
	c.expectations.Forget(keyOf(o))
	c.queue.Add(keyOf(o))
}

// resolve returns the owner a controller reference points at, if it is of
// our kind and still the same object (same UID).
func (c *Controller) resolve(namespace string, ref *metav1.OwnerReference) *owner {
	gvk := c.kind.gvk()
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || ref.Kind != gvk.Kind || gv.Group != gvk.Group {
		return nil
	}
	o, err := c.kind.get(namespace, ref.Name)
	if err != nil || o.meta.GetUID() != ref.UID {
		return nil
	}
	return o
}

// matchingOwners returns the owners whose selector matches an orphan pod,
// so they can consider adopting it.
func (c *Controller) matchingOwners(p *corev1.Pod) []*owner {
	all, err := c.kind.list(p.Namespace)
	if err != nil {
		return nil
	}
	var out []*owner
	for _, o := range all {
		if o.selectorErr == nil && o.selector.Matches(labelsOf(p)) {
			out = append(out, o)
		}
	}
	return out
}

func (c *Controller) addPod(obj any) {
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		// Seen for the first time already terminating (e.g. after a
		// restart): that is a deletion, not an observed creation.
		c.deletePod(p)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		if o := c.resolve(p.Namespace, ref); o != nil {
			c.expectations.CreationObserved(keyOf(o))
			c.queue.Add(keyOf(o))
		}
		return
	}
	// An orphan: no one waits for its creation, but matching owners may
	// want to adopt it.
	for _, o := range c.matchingOwners(p) {
		c.queue.Add(keyOf(o))
	}
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync, nothing changed
	}
	labelsChanged := !reflect.DeepEqual(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// Graceful deletion started: count it as deleted now so the
		// replacement is created without waiting for the kubelet.
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(cur), metav1.GetControllerOfNoCopy(old)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if o := c.resolve(old.Namespace, oldRef); o != nil {
			c.queue.Add(keyOf(o))
		}
	}
	if curRef != nil {
		o := c.resolve(cur.Namespace, curRef)
		if o == nil {
			return
		}
		c.queue.Add(keyOf(o))
		if o.minReadySeconds > 0 && !isPodReady(old) && isPodReady(cur) {
			// Availability changes with time alone; look again once the
			// pod has been ready long enough (plus a second for timestamp
			// rounding, as upstream).
			c.queue.AddAfter(keyOf(o), time.Duration(o.minReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, o := range c.matchingOwners(cur) {
			c.queue.Add(keyOf(o))
		}
	}
}

func (c *Controller) deletePod(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		t, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			utilruntime.HandleError(fmt.Errorf("unexpected object in pod delete event: %T", obj))
			return
		}
		if p, ok = t.Obj.(*corev1.Pod); !ok {
			utilruntime.HandleError(fmt.Errorf("tombstone holds %T, not a pod", t.Obj))
			return
		}
	}
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil {
		return // no controller cares about orphans going away
	}
	o := c.resolve(p.Namespace, ref)
	if o == nil {
		return
	}
	c.expectations.DeletionObserved(keyOf(o), p.Namespace+"/"+p.Name)
	c.queue.Add(keyOf(o))
}
