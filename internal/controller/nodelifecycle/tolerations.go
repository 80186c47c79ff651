package nodelifecycle

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// noExecuteTaints returns the taints that evict pods.
func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// evictionVerdict is what NoExecute taints mean for one pod.
type evictionVerdict struct {
	// now: some taint is not tolerated at all.
	now bool
	// never: every taint is tolerated forever (no tolerationSeconds).
	never bool
	// after is how long the pod may stay, counted from when the taints
	// were first seen on its node; used when neither now nor never.
	after time.Duration
}

// decideEviction matches a pod's tolerations against its node's NoExecute
// taints, as upstream's taint eviction does: each taint must be tolerated
// by some toleration (the first that matches is the one used), and the
// shortest tolerationSeconds among those used is how long the pod stays.
// A tolerationSeconds of zero or less means at once.
//
// Example: taints unreachable and example.com/x; tolerations unreachable
// for 300s and example.com/x forever: the pod goes after 300s.
func decideEviction(taints []corev1.Taint, tolerations []corev1.Toleration) evictionVerdict {
	if len(taints) == 0 {
		return evictionVerdict{never: true}
	}
	minSeconds := int64(-1) // -1: no limit seen yet
	for i := range taints {
		var used *corev1.Toleration
		for j := range tolerations {
			// Comparison operators (Lt/Gt) are an alpha feature upstream,
			// off by default.
			if tolerations[j].ToleratesTaint(klog.Background(), &taints[i], false) {
				used = &tolerations[j]
				break
			}
		}
		if used == nil {
			return evictionVerdict{now: true}
		}
		if s := used.TolerationSeconds; s != nil {
			secs := max(*s, 0)
			if minSeconds < 0 || secs < minSeconds {
				minSeconds = secs
			}
		}
	}
	if minSeconds < 0 {
		return evictionVerdict{never: true}
	}
	return evictionVerdict{after: time.Duration(minSeconds) * time.Second}
}
