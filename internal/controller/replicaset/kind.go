package replicaset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// owner is the part of a ReplicaSet or ReplicationController the core
// works on. It is built from the informer's cached object, which it points
// to and never modifies.
type owner struct {
	// obj is the cached object: events are recorded on it and controller
	// references point at it.
	obj             runtime.Object
	meta            metav1.Object
	replicas        int32
	minReadySeconds int32
	// selector matches nothing when the object's selector is empty.
	selector    labels.Selector
	selectorErr error
	// template is nil only for a ReplicationController without one, which
	// validation rejects; such an owner creates no pods.
	template *corev1.PodTemplateSpec
	status   appsv1.ReplicaSetStatus
}

// kind is what differs between ReplicaSets and ReplicationControllers.
type kind interface {
	gvk() schema.GroupVersionKind
	// component names the event source, as upstream's controllers do.
	component() string
	informer() cache.SharedIndexInformer
	get(namespace, name string) (*owner, error)
	list(namespace string) ([]*owner, error)
	// fromObject views an informer event's object; tombstones are unwrapped
	// by the caller.
	fromObject(obj any) (*owner, bool)
	// getLive reads the object from the API server, bypassing the cache,
	// so adoption never happens on behalf of an owner already deleted.
	getLive(ctx context.Context, namespace, name string) (metav1.Object, error)
	// writeStatus stores st as the owner's status, retrying once on a
	// conflict with a freshly read object as upstream does.
	writeStatus(ctx context.Context, o *owner, st appsv1.ReplicaSetStatus) error
	// reportsTerminating tells whether the status has terminatingReplicas.
	reportsTerminating() bool
}

// selectorOrNothing makes an empty selector match nothing: an owner must
// never claim every pod of its namespace.
func selectorOrNothing(s labels.Selector) labels.Selector {
	if s.Empty() {
		return labels.Nothing()
	}
	return s
}

// replicaSetKind serves apps/v1 ReplicaSets.
type replicaSetKind struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister appslisters.ReplicaSetLister
}

var _ kind = replicaSetKind{}

func (replicaSetKind) gvk() schema.GroupVersionKind {
	return appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
}
func (replicaSetKind) component() string                     { return "replicaset-controller" }
func (replicaSetKind) reportsTerminating() bool              { return true }
func (k replicaSetKind) informer() cache.SharedIndexInformer { return k.inf }

func viewReplicaSet(rs *appsv1.ReplicaSet) *owner {
	o := &owner{
		obj: rs, meta: rs,
		replicas:        1,
		minReadySeconds: rs.Spec.MinReadySeconds,
		template:        &rs.Spec.Template,
		status:          rs.Status,
	}
	if rs.Spec.Replicas != nil {
		o.replicas = *rs.Spec.Replicas
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		o.selectorErr = err
		sel = labels.Nothing()
	}
	o.selector = selectorOrNothing(sel)
	return o
}

func (k replicaSetKind) get(namespace, name string) (*owner, error) {
	rs, err := k.lister.ReplicaSets(namespace).Get(name)
	if err != nil {
		return nil, err
	}
	return viewReplicaSet(rs), nil
}

func (k replicaSetKind) list(namespace string) ([]*owner, error) {
	rss, err := k.lister.ReplicaSets(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*owner, len(rss))
	for i, rs := range rss {
		out[i] = viewReplicaSet(rs)
	}
	return out, nil
}

func (replicaSetKind) fromObject(obj any) (*owner, bool) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil, false
	}
	return viewReplicaSet(rs), true
}

func (k replicaSetKind) getLive(ctx context.Context, namespace, name string) (metav1.Object, error) {
	return k.client.AppsV1().ReplicaSets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (k replicaSetKind) writeStatus(ctx context.Context, o *owner, st appsv1.ReplicaSetStatus) error {
	rs := o.obj.(*appsv1.ReplicaSet).DeepCopy()
	c := k.client.AppsV1().ReplicaSets(rs.Namespace)
	for attempt := 0; ; attempt++ {
		rs.Status = st
		_, err := c.UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if attempt >= 1 || !apierrors.IsConflict(err) {
			return fmt.Errorf("updating status of ReplicaSet %s/%s: %w", rs.Namespace, rs.Name, err)
		}
		if rs, err = c.Get(ctx, rs.Name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("re-reading ReplicaSet %s/%s for its status: %w", o.meta.GetNamespace(), o.meta.GetName(), err)
		}
	}
}

// replicationControllerKind serves core/v1 ReplicationControllers, whose
// status carries the same counts minus terminatingReplicas.
type replicationControllerKind struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister corelisters.ReplicationControllerLister
}

var _ kind = replicationControllerKind{}

func (replicationControllerKind) gvk() schema.GroupVersionKind {
	return corev1.SchemeGroupVersion.WithKind("ReplicationController")
}
func (replicationControllerKind) component() string                     { return "replication-controller" }
func (replicationControllerKind) reportsTerminating() bool              { return false }
func (k replicationControllerKind) informer() cache.SharedIndexInformer { return k.inf }

func viewReplicationController(rc *corev1.ReplicationController) *owner {
	o := &owner{
		obj: rc, meta: rc,
		replicas:        1,
		minReadySeconds: rc.Spec.MinReadySeconds,
		template:        rc.Spec.Template,
		status:          rcStatusToRS(rc.Status),
		// An RC selector is a plain map, validated by the API server.
		selector: selectorOrNothing(labels.SelectorFromSet(rc.Spec.Selector)),
	}
	if rc.Spec.Replicas != nil {
		o.replicas = *rc.Spec.Replicas
	}
	return o
}

func (k replicationControllerKind) get(namespace, name string) (*owner, error) {
	rc, err := k.lister.ReplicationControllers(namespace).Get(name)
	if err != nil {
		return nil, err
	}
	return viewReplicationController(rc), nil
}

func (k replicationControllerKind) list(namespace string) ([]*owner, error) {
	rcs, err := k.lister.ReplicationControllers(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*owner, len(rcs))
	for i, rc := range rcs {
		out[i] = viewReplicationController(rc)
	}
	return out, nil
}

func (replicationControllerKind) fromObject(obj any) (*owner, bool) {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return nil, false
	}
	return viewReplicationController(rc), true
}

func (k replicationControllerKind) getLive(ctx context.Context, namespace, name string) (metav1.Object, error) {
	return k.client.CoreV1().ReplicationControllers(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (k replicationControllerKind) writeStatus(ctx context.Context, o *owner, st appsv1.ReplicaSetStatus) error {
	rc := o.obj.(*corev1.ReplicationController).DeepCopy()
	c := k.client.CoreV1().ReplicationControllers(rc.Namespace)
	for attempt := 0; ; attempt++ {
		rc.Status = rsStatusToRC(st)
		_, err := c.UpdateStatus(ctx, rc, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if attempt >= 1 || !apierrors.IsConflict(err) {
			return fmt.Errorf("updating status of ReplicationController %s/%s: %w", rc.Namespace, rc.Name, err)
		}
		if rc, err = c.Get(ctx, rc.Name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("re-reading ReplicationController %s/%s for its status: %w", o.meta.GetNamespace(), o.meta.GetName(), err)
		}
	}
}

func rcStatusToRS(s corev1.ReplicationControllerStatus) appsv1.ReplicaSetStatus {
	out := appsv1.ReplicaSetStatus{
		Replicas:             s.Replicas,
		FullyLabeledReplicas: s.FullyLabeledReplicas,
		ReadyReplicas:        s.ReadyReplicas,
		AvailableReplicas:    s.AvailableReplicas,
		ObservedGeneration:   s.ObservedGeneration,
	}
	for _, c := range s.Conditions {
		out.Conditions = append(out.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return out
}

func rsStatusToRC(s appsv1.ReplicaSetStatus) corev1.ReplicationControllerStatus {
	out := corev1.ReplicationControllerStatus{
		Replicas:             s.Replicas,
		FullyLabeledReplicas: s.FullyLabeledReplicas,
		ReadyReplicas:        s.ReadyReplicas,
		AvailableReplicas:    s.AvailableReplicas,
		ObservedGeneration:   s.ObservedGeneration,
	}
	for _, c := range s.Conditions {
		out.Conditions = append(out.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return out
}
