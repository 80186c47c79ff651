package statefulset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

// canAdopt returns the check run before the first adoption of a sync: a
// live read (not the cache) that set still exists with the same UID and is
// not being deleted, so a dying StatefulSet does not grab pods the garbage
// collector is about to orphan.
func (c *Controller) canAdopt(set *appsv1.StatefulSet) func(context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if fresh.UID != set.UID {
			return fmt.Errorf("stateful set %s/%s was recreated (uid %s, want %s)", set.Namespace, set.Name, fresh.UID, set.UID)
		}
		if fresh.DeletionTimestamp != nil {
			return fmt.Errorf("stateful set %s/%s is being deleted", set.Namespace, set.Name)
		}
		return nil
	}
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
