// Package defaulttolerationseconds is upstream's DefaultTolerationSeconds
// admission plugin: every pod gets tolerations of the not-ready and
// unreachable NoExecute taints for 300 seconds, unless it already
// tolerates them. That is what keeps pods on a node that went silent for
// five minutes before the taint eviction controller deletes them
// (internal/controller/nodelifecycle), instead of at once.
//
// It runs on pod creates and updates (the main resource, not
// subresources), as upstream's; on an update the addition is one the pod
// validation allows (tolerations may be added).
package defaulttolerationseconds

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-sh/skiff/internal/admission"
)

// DefaultSeconds is upstream's default for both tolerations
// (--default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds).
const DefaultSeconds int64 = 300

// Plugin adds the default tolerations.
type Plugin struct {
	notReadySeconds    int64
	unreachableSeconds int64
}

var _ admission.Plugin = (*Plugin)(nil)

// New returns the plugin with upstream's 300 seconds for both taints.
func New() *Plugin {
	return &Plugin{notReadySeconds: DefaultSeconds, unreachableSeconds: DefaultSeconds}
}

// NewWithSeconds returns the plugin with other toleration periods.
func NewWithSeconds(notReady, unreachable int64) *Plugin {
	return &Plugin{notReadySeconds: notReady, unreachableSeconds: unreachable}
}

// Admit adds the tolerations to pods being created or updated.
func (p *Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if a.Resource.Group != "" || a.Resource.Resource != "pods" || a.Subresource != "" {
		return nil
	}
	if a.Operation != admission.Create && a.Operation != admission.Update {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("expected *v1.Pod but got %T", a.Object))
	}
	AddDefaultTolerations(pod, p.notReadySeconds, p.unreachableSeconds)
	return nil
}

// AddDefaultTolerations adds to pod a toleration of each of the not-ready
// and unreachable NoExecute taints it does not tolerate yet, for the
// given number of seconds. A toleration with the taint's key (or no key)
// and effect NoExecute (or no effect) counts as tolerating it, whatever
// its seconds, as upstream judges.
func AddDefaultTolerations(pod *corev1.Pod, notReadySeconds, unreachableSeconds int64) {
	for _, d := range []struct {
		key     string
		seconds int64
	}{{corev1.TaintNodeNotReady, notReadySeconds}, {corev1.TaintNodeUnreachable, unreachableSeconds}} {
		if tolerates(pod.Spec.Tolerations, d.key) {
			continue
		}
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: d.key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &d.seconds})
	}
}

func tolerates(tolerations []corev1.Toleration, key string) bool {
	for _, t := range tolerations {
		if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
			return true
		}
	}
	return false
}
