package limitranger

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/qos"

	"github.com/skiff-sh/skiff/internal/admission"
)

// Plugin is the LimitRanger admission plugin.
type Plugin struct {
	limits *admission.NamespaceLister[corev1.LimitRange]
}

var _ admission.Plugin = (*Plugin)(nil)

// New builds the plugin and registers a LimitRange informer on factory;
// the caller starts factory once the API server serves. Until its cache
// has synced the plugin reads LimitRanges with client.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Plugin {
	inf := factory.Core().V1().LimitRanges()
	return &Plugin{limits: admission.NewNamespaceLister(inf.Informer().HasSynced,
		func(ns string) ([]*corev1.LimitRange, error) {
			return inf.Lister().LimitRanges(ns).List(labels.Everything())
		},
		func(ctx context.Context, ns string) ([]*corev1.LimitRange, error) {
			list, err := client.CoreV1().LimitRanges(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, fmt.Errorf("listing limit ranges in %s: %w", ns, err)
			}
			return admission.Pointers(list.Items), nil
		})}
}

// Admit defaults and checks pod resources on create and claim storage on
// create and update. Containers cannot change after creation (except
// through resize, which Skiff does not serve), so pod updates pass.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Subresource != "" || a.Namespace == "" || a.Resource.Group != "" {
		return nil
	}
	var pod *corev1.Pod
	var pvc *corev1.PersistentVolumeClaim
	switch obj := a.Object.(type) {
	case *corev1.Pod:
		if a.Operation != admission.Create {
			return nil
		}
		pod = obj
	case *corev1.PersistentVolumeClaim:
		if a.Operation != admission.Create && a.Operation != admission.Update {
			return nil
		}
		pvc = obj
	default:
		return nil
	}
	if a.OldObject != nil {
		if acc, err := meta.Accessor(a.OldObject); err == nil && acc.GetDeletionTimestamp() != nil {
			return nil
		}
	}
	ranges, err := p.limits.List(ctx, a.Namespace)
	if err != nil {
		return forbidden(a, fmt.Errorf("unable to %s %v at this time because there was an error enforcing limit ranges", a.Operation, a.Resource))
	}
	if pod != nil {
		return admitPod(a, ranges, pod)
	}
	for _, lr := range ranges {
		if err := validateClaim(lr, pvc); err != nil {
			return forbidden(a, err)
		}
	}
	return nil
}

// admitPod applies every LimitRange's defaults, then checks every
// LimitRange, as upstream's mutating and validating phases do.
func admitPod(a *admission.Attributes, ranges []*corev1.LimitRange, pod *corev1.Pod) error {
	changed := false
	for _, lr := range ranges {
		changed = applyDefaults(lr, pod) || changed
	}
	if changed {
		// The API server computed the QoS class before admission; the
		// defaults may have changed it.
		pod.Status.QOSClass = qos.ComputePodQOS(pod)
	}
	for _, lr := range ranges {
		if err := validatePod(lr, pod); err != nil {
			return forbidden(a, err)
		}
	}
	return nil
}

// forbidden is upstream's admission.NewForbidden: 403, `pods "name" is
// forbidden: <reason>`.
func forbidden(a *admission.Attributes, err error) error {
	name := a.Name
	if name == "" {
		if acc, aerr := meta.Accessor(a.Object); aerr == nil {
			name = acc.GetGenerateName()
		}
	}
	return apierrors.NewForbidden(a.Resource.GroupResource(), name, err)
}
