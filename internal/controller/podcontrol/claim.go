package podcontrol

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// PodClaim adopts and releases pods for one owner, as upstream's
// PodControllerRefManager does for the DaemonSet and StatefulSet
// controllers.
type PodClaim struct {
	Client kubernetes.Interface
	Owner  metav1.Object
	// Kind is the owner's kind, written into the controller reference.
	Kind schema.GroupVersionKind
	// Match says whether the owner selects pod.
	Match func(pod *corev1.Pod) bool
	// CanAdopt runs once, before the first adoption: a live read that the
	// owner still exists and is not being deleted.
	CanAdopt func(context.Context) error
}

// Claim returns the pods the owner controls, adopting orphans Match
// accepts and releasing pods it controls that Match no longer accepts.
// Pods controlled by anything else are ignored.
func (m PodClaim) Claim(ctx context.Context, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	uid := m.Owner.GetUID()
	checked := false
	var claimed []*corev1.Pod
	for _, pod := range pods {
		ref := metav1.GetControllerOfNoCopy(pod)
		matches := m.Match(pod)
		switch {
		case ref != nil && ref.UID != uid:
		case ref != nil && matches:
			claimed = append(claimed, pod)
		case ref != nil:
			if err := m.setOwners(ctx, pod, withoutOwner(pod.OwnerReferences, uid)); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("releasing pod %s: %w", pod.Name, err)
			}
		case matches && pod.DeletionTimestamp == nil:
			if !checked {
				if err := m.CanAdopt(ctx); err != nil {
					return nil, fmt.Errorf("cannot adopt pods: %w", err)
				}
				checked = true
			}
			refs := append(withoutOwner(pod.OwnerReferences, uid), *metav1.NewControllerRef(m.Owner, m.Kind))
			if err := m.setOwners(ctx, pod, refs); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("adopting pod %s: %w", pod.Name, err)
			}
			adopted := pod.DeepCopy()
			adopted.OwnerReferences = refs
			claimed = append(claimed, adopted)
		}
	}
	return claimed, nil
}

func withoutOwner(refs []metav1.OwnerReference, uid types.UID) []metav1.OwnerReference {
	out := make([]metav1.OwnerReference, 0, len(refs)+1)
	for _, r := range refs {
		if r.UID != uid {
			out = append(out, r)
		}
	}
	return out
}

// setOwners replaces pod's owner references, guarded by the
// resourceVersion it was computed from.
func (m PodClaim) setOwners(ctx context.Context, pod *corev1.Pod, refs []metav1.OwnerReference) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "resourceVersion": pod.ResourceVersion, "uid": pod.UID,
	}})
	if err != nil {
		return err
	}
	_, err = m.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}
