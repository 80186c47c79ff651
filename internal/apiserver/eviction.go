package apiserver

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/storage/watchcache"
)

var (
	evictionGVK = policyv1.SchemeGroupVersion.WithKind("Eviction")
	pdbGVR      = policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets")
)

// evict serves pods/eviction: delete a pod only if its PodDisruptionBudget
// allows one more disruption, charging the budget first, as upstream does.
// This is what `kubectl drain` uses.
func (s *Server) evict(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, _, err := s.decodeBody(r, body, evictionGVK)
	if err != nil {
		return err
	}
	ev := obj.(*policyv1.Eviction)
	if ev.Name != "" && ev.Name != info.Name {
		return badRequest("name in URL does not match name in Eviction object")
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if d, err := dryRun(r); err != nil {
		return err
	} else if d {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	cur, _, err := s.current(r.Context(), res, res.key(info.Namespace, info.Name), false)
	if err != nil {
		return storeError(err, res.groupResource(), info.Name)
	}
	pod := cur.(*corev1.Pod)
	if !podIgnoresBudget(pod) {
		if err := s.chargeBudget(r.Context(), pod, len(opts.DryRun) > 0); err != nil {
			return err
		}
	}
	if _, _, err := s.deleteObject(r.Context(), res, info.Namespace, info.Name, opts); err != nil {
		return err
	}
	s.writeObject(w, r, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusSuccess, Code: http.StatusCreated})
	return nil
}

// podIgnoresBudget: pods that are not running (done, still pending) or
// already being deleted are evicted without consulting a budget.
func podIgnoresBudget(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// chargeBudget finds the pod's budget and takes one disruption from it.
func (s *Server) chargeBudget(ctx context.Context, pod *corev1.Pod, dry bool) error {
	pdbRes := s.resources[pdbGVR]
	if pdbRes == nil {
		return nil
	}
	if err := s.cache.WaitForFresh(ctx); err != nil {
		return tooLargeRV(err)
	}
	items, _ := pdbRes.cache.List(pdbRes.listPrefix(pod.Namespace), watchcache.Everything)
	var matched []*policyv1.PodDisruptionBudget
	for _, o := range items {
		obj, err := o.Decode()
		if err != nil {
			return err
		}
		pdb := obj.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		matched = append(matched, pdb)
	}
	switch len(matched) {
	case 0:
		return nil
	case 1:
	default:
		return apierrors.NewInternalError(fmt.Errorf("this pod has more than one PodDisruptionBudget, which the eviction subresource does not support"))
	}
	pdb := matched[0]
	// An unready pod does not count as healthy, so evicting it costs the
	// budget nothing once the budget is met (upstream's IfHealthyBudget),
	// and always with AlwaysAllow.
	if !podReady(pod) {
		p := pdb.Spec.UnhealthyPodEvictionPolicy
		if (p != nil && *p == policyv1.AlwaysAllow) || pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy {
			return nil
		}
	}
	_, err := s.updateObject(ctx, pdbRes, pdb.Namespace, pdb.Name, statusSubresource, dry, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*policyv1.PodDisruptionBudget)
		if p.Status.ObservedGeneration < p.Generation {
			return nil, tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.",
				"The disruption budget %s is still being processed by the server.", p.Name)
		}
		if p.Status.DisruptionsAllowed <= 0 {
			return nil, tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.",
				"The disruption budget %s needs %d healthy pods and has %d currently", p.Name, p.Status.DesiredHealthy, p.Status.CurrentHealthy)
		}
		if len(p.Status.DisruptedPods) >= 2000 {
			return nil, tooManyRequests("DisruptedPods map too big - too many evictions not confirmed by PDB controller", "")
		}
		p.Status.DisruptionsAllowed--
		if p.Status.DisruptedPods == nil {
			p.Status.DisruptedPods = map[string]metav1.Time{}
		}
		p.Status.DisruptedPods[pod.Name] = metav1.NewTime(s.now())
		p.ResourceVersion = "" // retried on conflict: the budget is re-read
		return p, nil
	})
	return err
}

func tooManyRequests(message, causeFormat string, args ...any) error {
	err := apierrors.NewTooManyRequests(message, 10)
	if causeFormat != "" {
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: policyv1.DisruptionBudgetCause, Message: fmt.Sprintf(causeFormat, args...)})
	}
	return err
}
