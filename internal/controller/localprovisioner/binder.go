package localprovisioner

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// findMatch picks the smallest volume that can serve the claim: one
// pre-bound to it wins; otherwise an unclaimed volume of the same class
// and volume mode, offering every requested access mode, matching the
// claim's selector, and at least as large as the request. When node is
// set (WaitForFirstConsumer), the volume's node affinity must admit it.
func findMatch(pvs []*corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim, node *corev1.Node) *corev1.PersistentVolume {
	var best *corev1.PersistentVolume
	for _, pv := range pvs {
		if pv.DeletionTimestamp != nil || !fits(pv, pvc) || !admits(pv, node) {
			continue
		}
		if ref := pv.Spec.ClaimRef; ref != nil {
			if ref.Namespace == pvc.Namespace && ref.Name == pvc.Name && (ref.UID == "" || ref.UID == pvc.UID) {
				return pv
			}
			continue
		}
		if pv.Status.Phase != corev1.VolumeAvailable && pv.Status.Phase != "" && pv.Status.Phase != corev1.VolumePending {
			continue
		}
		if best == nil || capacity(pv).Cmp(*capacity(best)) < 0 {
			best = pv
		}
	}
	return best
}

// admits reports whether a volume's required node affinity accepts node.
func admits(pv *corev1.PersistentVolume, node *corev1.Node) bool {
	if node == nil || pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return true
	}
	ok, err := corev1helpers.MatchNodeSelectorTerms(node, pv.Spec.NodeAffinity.Required)
	return err == nil && ok
}

func capacity(pv *corev1.PersistentVolume) *resource.Quantity {
	q := pv.Spec.Capacity[corev1.ResourceStorage]
	return &q
}

func fits(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) bool {
	if pv.Spec.StorageClassName != claimClass(pvc) {
		return false
	}
	mode := func(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
		if m == nil {
			return corev1.PersistentVolumeFilesystem
		}
		return *m
	}
	if mode(pv.Spec.VolumeMode) != mode(pvc.Spec.VolumeMode) {
		return false
	}
	for _, want := range pvc.Spec.AccessModes {
		found := false
		for _, have := range pv.Spec.AccessModes {
			found = found || have == want
		}
		if !found {
			return false
		}
	}
	if pvc.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(pvc.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pv.Labels)) {
			return false
		}
	}
	req := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	return capacity(pv).Cmp(req) >= 0
}
