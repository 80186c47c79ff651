package localprovisioner

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// syncVolume keeps a volume's phase right and reclaims it when its claim
// is gone.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.pvs.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pv.DeletionTimestamp != nil {
		return nil // NodeCleaner's business now
	}
	ref := pv.Spec.ClaimRef
	if ref == nil {
		if pv.Status.Phase == corev1.VolumePending || pv.Status.Phase == "" {
			return c.volumePhase(ctx, pv, corev1.VolumeAvailable)
		}
		return nil
	}
	gone, err := c.claimGone(ctx, ref)
	if err != nil || !gone {
		return err
	}
	return c.reclaim(ctx, pv)
}

// claimGone says whether the claim a volume references no longer exists.
// The cache may lag behind a just-created claim, and a wrong "gone" here
// deletes data, so a miss is confirmed against the API server.
func (c *Controller) claimGone(ctx context.Context, ref *corev1.ObjectReference) (bool, error) {
	pvc, err := c.pvcs.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if apierrors.IsNotFound(err) {
		pvc, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	// A claim of the same name but another UID is a new claim: ours is gone.
	return ref.UID != "" && pvc.UID != ref.UID, nil
}

// reclaim applies the reclaim policy of a volume whose claim is gone.
func (c *Controller) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	if err := c.volumePhase(ctx, pv, corev1.VolumeReleased); err != nil {
		return err
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		pv.Annotations[annProvisionedBy] != ProvisionerName {
		return nil // Retain, or a volume we cannot delete: stays Released
	}
	err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pv.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting released volume %s: %w", pv.Name, err)
	}
	c.recorder.Eventf(pv, corev1.EventTypeNormal, "VolumeDelete", "Deleted volume %s: its claim is gone and reclaimPolicy is Delete", pv.Name)
	return nil
}
