package daemonset

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
// live read (not the cache) that ds still exists with the same UID and is
// not being deleted, so a dying DaemonSet does not grab pods the garbage
// collector is about to orphan.
func (c *Controller) canAdopt(ds *appsv1.DaemonSet) func(context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if fresh.UID != ds.UID {
			return fmt.Errorf("daemon set %s/%s was recreated (uid %s, want %s)", ds.Namespace, ds.Name, fresh.UID, ds.UID)
		}
		if fresh.DeletionTimestamp != nil {
			return fmt.Errorf("daemon set %s/%s is being deleted", ds.Namespace, ds.Name)
		}
		return nil
	}
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
