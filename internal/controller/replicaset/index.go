package replicaset

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// podOwnerIndex indexes pods by their controller's UID, and orphans by
// orphanKey(namespace). A sync then reads only the pods it may care about
// instead of every pod of the namespace: with 10,000 pods that is the
// difference between O(pods of this owner) and O(pods) per pod event.
const podOwnerIndex = "skiff.replicaset/controller-uid"

func orphanKey(namespace string) string { return "orphan/" + namespace }

func indexPodByOwner(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{orphanKey(p.Namespace)}, nil
}

type podIndex struct {
	indexer cache.Indexer
}

// newPodIndex adds the index to the shared pod informer once; the
// ReplicaSet and ReplicationController controllers share it.
func newPodIndex(inf cache.SharedIndexInformer) (*podIndex, error) {
	if _, ok := inf.GetIndexer().GetIndexers()[podOwnerIndex]; !ok {
		if err := inf.AddIndexers(cache.Indexers{podOwnerIndex: indexPodByOwner}); err != nil {
			return nil, fmt.Errorf("indexing pods by controller: %w", err)
		}
	}
	return &podIndex{indexer: inf.GetIndexer()}, nil
}

func (x *podIndex) byKey(key string) ([]*corev1.Pod, error) {
	objs, err := x.indexer.ByIndex(podOwnerIndex, key)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// owned returns the pods whose controller is uid.
func (x *podIndex) owned(uid types.UID) ([]*corev1.Pod, error) {
	return x.byKey(string(uid))
}

// candidates returns the pods an owner may claim: those it controls and the
// orphans of its namespace.
func (x *podIndex) candidates(uid types.UID, namespace string) ([]*corev1.Pod, error) {
	owned, err := x.owned(uid)
	if err != nil {
		return nil, err
	}
	orphans, err := x.byKey(orphanKey(namespace))
	if err != nil {
		return nil, err
	}
	return append(owned, orphans...), nil
}

func labelsOf(p *corev1.Pod) labels.Set { return labels.Set(p.Labels) }
