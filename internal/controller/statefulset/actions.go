package statefulset

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

var _ podActions = (*Controller)(nil)

// Event reasons beyond podcontrol's create/delete ones, as upstream's
// StatefulSet controller reports them.
const (
	ReasonSuccessfulUpdate = "SuccessfulUpdate"
	ReasonFailedUpdate     = "FailedUpdate"
)

func (c *Controller) recordPod(set *appsv1.StatefulSet, verb, okReason, failReason string, pod *corev1.Pod, err error) {
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, okReason, "%s Pod %s in StatefulSet %s successful", verb, pod.Name, set.Name)
		return
	}
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return // every create fails while the namespace goes; not news
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, failReason, "%s Pod %s in StatefulSet %s failed error: %v", verb, pod.Name, set.Name, err)
}

func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := c.createClaims(ctx, set, pod); err != nil {
		c.recordPod(set, "create", podcontrol.ReasonSuccessfulCreate, podcontrol.ReasonFailedCreate, pod, err)
		return err
	}
	key := keyOf(set)
	c.expectations.ExpectCreations(key, 1)
	created, err := c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		c.expectations.CreationObserved(key)
		if !apierrors.IsAlreadyExists(err) {
			c.recordPod(set, "create", podcontrol.ReasonSuccessfulCreate, podcontrol.ReasonFailedCreate, pod, err)
		}
		return fmt.Errorf("creating pod %s: %w", pod.Name, err)
	}
	c.recordPod(set, "create", podcontrol.ReasonSuccessfulCreate, podcontrol.ReasonFailedCreate, pod, nil)
	// Now that the pod has a UID, claims can point at it if they must.
	return c.fixClaimOwners(ctx, set, created)
}

func (c *Controller) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	key, podKey := keyOf(set), pod.Namespace+"/"+pod.Name
	c.expectations.ExpectDeletions(key, []string{podKey})
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone already, or a newer pod holds the name: nothing of ours
		// left to delete.
		c.expectations.DeletionObserved(key, podKey)
		return nil
	}
	c.recordPod(set, "delete", podcontrol.ReasonSuccessfulDelete, podcontrol.ReasonFailedDelete, pod, err)
	if err != nil {
		c.expectations.DeletionObserved(key, podKey)
		return fmt.Errorf("deleting pod %s: %w", pod.Name, err)
	}
	return nil
}

// repair fixes what processReplica found wrong with an existing pod. Pod
// volumes cannot change after creation, so a pod mounting the wrong claims
// only gets its claims created; recreating it is the user's call.
func (c *Controller) repair(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := c.createClaims(ctx, set, pod); err != nil {
		return err
	}
	if err := c.fixClaimOwners(ctx, set, pod); err != nil {
		return err
	}
	if identityMatches(set, pod) {
		return nil
	}
	upd := pod.DeepCopy()
	setIdentityLabels(upd)
	_, err := c.client.CoreV1().Pods(upd.Namespace).Update(ctx, upd, metav1.UpdateOptions{})
	c.recordPod(set, "update", ReasonSuccessfulUpdate, ReasonFailedUpdate, pod, err)
	if err != nil {
		return fmt.Errorf("restoring identity of pod %s: %w", pod.Name, err)
	}
	return nil
}

func (c *Controller) claimState(set *appsv1.StatefulSet, pod *corev1.Pod) (missing, wrongOwners bool) {
	for _, want := range claimsFor(set, ordinalOf(pod)) {
		claim, err := c.claimLister.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		if err != nil {
			missing = true
			continue
		}
		if _, changed := desiredClaimRefs(claim, set, pod); changed {
			wrongOwners = true
		}
	}
	return missing, wrongOwners
}

func (c *Controller) claimStale(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	for _, want := range claimsFor(set, ordinalOf(pod)) {
		claim, err := c.claimLister.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		if err == nil && claimIsStale(claim, set, pod) {
			return true
		}
	}
	return false
}

// createClaims creates the claims of pod's ordinal that do not exist. A
// claim being deleted is an error: the pod must wait for it to go and be
// recreated empty rather than bind to it.
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	var errs []error
	for _, want := range claimsFor(set, ordinalOf(pod)) {
		existing, err := c.claimLister.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		switch {
		case err == nil && existing.DeletionTimestamp != nil:
			errs = append(errs, fmt.Errorf("claim %s is being deleted", want.Name))
		case err == nil:
		case apierrors.IsNotFound(err):
			_, err := c.client.CoreV1().PersistentVolumeClaims(want.Namespace).Create(ctx, want, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue // created by an earlier sync the cache has not shown
			}
			c.recordClaim(set, pod, want, err)
			if err != nil {
				errs = append(errs, fmt.Errorf("creating claim %s: %w", want.Name, err))
			}
		default:
			errs = append(errs, fmt.Errorf("reading claim %s: %w", want.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) recordClaim(set *appsv1.StatefulSet, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim, err error) {
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, podcontrol.ReasonSuccessfulCreate, "create Claim %s Pod %s in StatefulSet %s success", claim.Name, pod.Name, set.Name)
		return
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, podcontrol.ReasonFailedCreate, "create Claim %s for Pod %s in StatefulSet %s failed error: %v", claim.Name, pod.Name, set.Name, err)
}

// fixClaimOwners gives pod's existing claims the owner references set's
// retention policy wants. Missing claims are skipped: they get theirs
// when created.
func (c *Controller) fixClaimOwners(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	var errs []error
	for _, want := range claimsFor(set, ordinalOf(pod)) {
		claim, err := c.claimLister.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		if apierrors.IsNotFound(err) {
			// The cache may lag a claim we just created; read it live.
			claim, err = c.client.CoreV1().PersistentVolumeClaims(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		}
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reading claim %s: %w", want.Name, err))
			continue
		}
		if err := c.setClaimOwners(ctx, set, pod, claim); err != nil {
			errs = append(errs, fmt.Errorf("setting owners of claim %s for its retention policy: %w", want.Name, err))
		}
	}
	return errors.Join(errs...)
}

// setClaimOwners writes the owners claim should have, if they differ. A
// conflict usually means the cache has not caught up with our own earlier
// write, so it is decided once more on a live read before giving up.
func (c *Controller) setClaimOwners(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim) error {
	claims := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace)
	for attempt := 0; ; attempt++ {
		refs, changed := desiredClaimRefs(claim, set, pod)
		if !changed {
			return nil
		}
		upd := claim.DeepCopy()
		upd.OwnerReferences = refs
		_, err := claims.Update(ctx, upd, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) || attempt > 0 {
			return err
		}
		if claim, err = claims.Get(ctx, claim.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
}
