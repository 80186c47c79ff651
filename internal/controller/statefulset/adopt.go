package statefulset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

// canAdopt is the live check before adopting pods or revisions for set.
func (c *Controller) canAdopt(set *appsv1.StatefulSet) func(context.Context) error {
	return controller.RecheckOwner(set, "StatefulSet", func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	})
}

// claimPods returns the pods set controls, adopting orphans its selector
// matches and releasing pods it controls that the selector no longer
// matches (upstream's PodControllerRefManager). Only pods named like the
// set's ("<set>-<ordinal>") are considered members.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	return podcontrol.PodClaim{
		Client: c.client, Owner: set, Kind: controllerKind,
		Match: func(pod *corev1.Pod) bool {
			return selector.Matches(labels.Set(pod.Labels)) && isMember(set, pod)
		},
		CanAdopt: c.canAdopt(set),
	}.Claim(ctx, all)
}
