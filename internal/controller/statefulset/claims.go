package statefulset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var podKind = corev1.SchemeGroupVersion.WithKind("Pod")

func retentionPolicy(set *appsv1.StatefulSet) appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	p := appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	if set.Spec.PersistentVolumeClaimRetentionPolicy != nil {
		p = *set.Spec.PersistentVolumeClaimRetentionPolicy
	}
	return p
}

// claimOwners says which objects should own the claims of ordinal, so
// that the garbage collector deletes them exactly when the policy says:
// the set owns them under whenDeleted=Delete (they go with the set), the
// pod owns them under whenScaled=Delete once scale-down condemned the
// ordinal (they go with the pod). Never both, so one controller ref.
//
//	whenScaled  whenDeleted  in range    scaled down
//	Retain      Retain       -           -
//	Retain      Delete       set         set
//	Delete      Retain       -           pod
//	Delete      Delete       set         pod
func claimOwners(set *appsv1.StatefulSet, ordinal int) (setOwns, podOwns bool) {
	p := retentionPolicy(set)
	podOwns = p.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType && !inRange(set, ordinal)
	setOwns = p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType && !podOwns
	return setOwns, podOwns
}

// refersTo reports whether ref names obj as an object of kind gvk,
// ignoring the UID.
func refersTo(ref *metav1.OwnerReference, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	return ref.APIVersion == gvk.GroupVersion().String() && ref.Kind == gvk.Kind && ref.Name == obj.GetName()
}

// staleRef reports whether claim is owned by an earlier object with obj's
// name (a deleted set or pod of the same name). Such a claim is left for
// the garbage collector: touching it could rescue a claim that is meant
// to go.
func staleRef(claim *corev1.PersistentVolumeClaim, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	for i := range claim.OwnerReferences {
		ref := &claim.OwnerReferences[i]
		if refersTo(ref, obj, gvk) && ref.UID != obj.GetUID() {
			return true
		}
	}
	return false
}

// foreignController reports whether something other than set or pod
// controls claim; then Skiff stays out and only removes its own refs.
func foreignController(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	for i := range claim.OwnerReferences {
		ref := &claim.OwnerReferences[i]
		if refersTo(ref, set, controllerKind) || refersTo(ref, pod, podKind) {
			continue
		}
		if ref.Controller != nil && *ref.Controller {
			return true
		}
	}
	return false
}

// desiredClaimRefs returns the owner references claim should have under
// set's retention policy, and whether they differ from what it has. pod is
// the claim's pod, with its UID when it exists.
func desiredClaimRefs(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) ([]metav1.OwnerReference, bool) {
	if staleRef(claim, set, controllerKind) || staleRef(claim, pod, podKind) {
		return claim.OwnerReferences, false
	}
	setOwns, podOwns := claimOwners(set, ordinalOf(pod))
	if pod.UID == "" {
		podOwns = false // the pod's ref is added once it exists
	}
	foreign := foreignController(claim, set, pod)
	var refs []metav1.OwnerReference
	hasSet, hasPod := false, false
	for _, ref := range claim.OwnerReferences {
		isSet, isPod := ref.UID == set.UID, pod.UID != "" && ref.UID == pod.UID
		isController := ref.Controller != nil && *ref.Controller
		switch {
		case isSet && setOwns && isController && !foreign:
			hasSet = true
		case isPod && podOwns && isController && !foreign:
			hasPod = true
		case isSet || isPod:
			continue // drop: unwanted, or wanted but not as controller
		}
		refs = append(refs, ref)
	}
	changed := len(refs) != len(claim.OwnerReferences)
	if !foreign && setOwns && !hasSet {
		refs = append(refs, *metav1.NewControllerRef(set, controllerKind))
		changed = true
	}
	if !foreign && podOwns && !hasPod {
		refs = append(refs, *metav1.NewControllerRef(pod, podKind))
		changed = true
	}
	return refs, changed
}

// claimIsStale reports a claim that must not be reused by a new pod for
// its ordinal: under whenScaled=Delete it is still owned by the previous
// pod of that name and the garbage collector is about to delete it.
func claimIsStale(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	if retentionPolicy(set).WhenScaled != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		return false
	}
	return staleRef(claim, pod, podKind)
}
