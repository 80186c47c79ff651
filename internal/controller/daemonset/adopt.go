package daemonset

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

// canAdopt is the live check before adopting pods or revisions for ds.
func (c *Controller) canAdopt(ds *appsv1.DaemonSet) func(context.Context) error {
	return controller.RecheckOwner(ds, "DaemonSet", func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	})
}

// claimPods returns the pods ds controls, adopting orphans its selector
// matches and releasing pods it controls that the selector no longer
// matches (upstream's PodControllerRefManager).
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	return podcontrol.PodClaim{
		Client: c.client, Owner: ds, Kind: controllerKind,
		Match: func(pod *corev1.Pod) bool {
			return selector.Matches(labels.Set(pod.Labels))
		},
		CanAdopt: c.canAdopt(ds),
	}.Claim(ctx, all)
}
