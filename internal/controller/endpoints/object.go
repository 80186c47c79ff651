package endpoints

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations the controller writes, as upstream names them.
const (
	// LabelManagedBy marks Endpoints this controller owns; only those are
	// deleted when their Service goes away.
	LabelManagedBy = "endpoints.kubernetes.io/managed-by"
	// ControllerName is LabelManagedBy's value.
	ControllerName = "endpoint-controller"
	// maxCapacity is how many addresses one Endpoints object holds before
	// it is truncated and annotated as over capacity.
	maxCapacity = 1000
	truncated   = "truncated"
)

// desiredEndpoints returns the Endpoints object to write for svc, or nil
// when cur (nil if none exists) already says the same thing. The trigger
// time annotation alone never causes a write: it describes a change, and
// without a change there is nothing to describe.
func desiredEndpoints(svc *corev1.Service, cur *corev1.Endpoints, subsets []corev1.EndpointSubset, trigger time.Time) *corev1.Endpoints {
	subsets, over := truncateSubsets(subsets)
	labels := endpointsLabels(svc)
	if cur != nil && cur.ResourceVersion != "" &&
		apiequality.Semantic.DeepEqual(cur.Subsets, subsets) &&
		apiequality.Semantic.DeepEqual(cur.Labels, labels) &&
		(cur.Annotations[corev1.EndpointsOverCapacity] == truncated) == over {
		return nil
	}
	var out *corev1.Endpoints
	if cur != nil {
		out = cur.DeepCopy()
	} else {
		out = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace}}
	}
	out.Subsets = subsets
	out.Labels = labels
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	if !trigger.IsZero() {
		out.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
	} else {
		delete(out.Annotations, corev1.EndpointsLastChangeTriggerTime)
	}
	if over {
		out.Annotations[corev1.EndpointsOverCapacity] = truncated
	} else {
		delete(out.Annotations, corev1.EndpointsOverCapacity)
	}
	return out
}

// endpointsLabels are the Service's labels plus the controller's own and,
// for a Service without a cluster IP, the headless marker.
func endpointsLabels(svc *corev1.Service) map[string]string {
	labels := make(map[string]string, len(svc.Labels)+2)
	for k, v := range svc.Labels {
		labels[k] = v
	}
	delete(labels, corev1.IsHeadlessService)
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		labels[corev1.IsHeadlessService] = ""
	}
	labels[LabelManagedBy] = ControllerName
	return labels
}

// truncateSubsets cuts subsets down to maxCapacity addresses, keeping
// ready addresses first and sharing the room among subsets in proportion
// to their size, drops subsets left empty, and reports whether it cut
// anything.
//
// Worked example: 900 ready addresses and 300 not ready, in two subsets of
// 150 not-ready each. Ready ones all fit (900 <= 1000); the 100 remaining
// places go to not-ready addresses, ceil(150/300*100) = 50 per subset.
// With 1200 ready addresses instead, ready ones are cut to 1000 the same
// way and every not-ready address is dropped.
func truncateSubsets(subsets []corev1.EndpointSubset) ([]corev1.EndpointSubset, bool) {
	ready, notReady := 0, 0
	for i := range subsets {
		ready += len(subsets[i].Addresses)
		notReady += len(subsets[i].NotReadyAddresses)
	}
	if ready+notReady <= maxCapacity {
		return subsets, false
	}
	cutReady := ready > maxCapacity
	room, total := maxCapacity-ready, notReady
	if cutReady {
		room, total = maxCapacity, ready
	}
	left := room
	for i := range subsets {
		ss := &subsets[i]
		n := len(ss.NotReadyAddresses)
		if cutReady {
			n = len(ss.Addresses)
		}
		// Round up: the last subsets get whatever room remains.
		share := (n*room + total - 1) / total
		share = min(share, left)
		if cutReady {
			ss.Addresses = ss.Addresses[:min(share, len(ss.Addresses))]
			ss.NotReadyAddresses = nil
			left -= len(ss.Addresses)
		} else {
			ss.NotReadyAddresses = ss.NotReadyAddresses[:min(share, len(ss.NotReadyAddresses))]
			left -= len(ss.NotReadyAddresses)
		}
	}
	kept := subsets[:0]
	for _, ss := range subsets {
		if len(ss.Addresses)+len(ss.NotReadyAddresses) > 0 {
			kept = append(kept, ss)
		}
	}
	return kept, true
}
