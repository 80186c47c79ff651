package localprovisioner

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// ensureClass creates the StorageClass unless it exists (a user may have
// edited or replaced it; it is then left alone), retrying until the API
// server answers or ctx ends.
func (c *Controller) ensureClass(ctx context.Context) error {
	reclaim := corev1.PersistentVolumeReclaimDelete
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: c.cfg.ClassName, Annotations: map[string]string{annDefaultClass: "true"}},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &mode,
	}
	for {
		_, err := c.client.StorageV1().StorageClasses().Get(ctx, sc.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = c.client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				err = nil
			}
		}
		if err == nil {
			return nil
		}
		klog.FromContext(ctx).V(2).Info("ensuring storage class, retrying", "class", sc.Name, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(time.Second):
		}
	}
}

// defaultClass is the newest class marked default ("" if none), as
// upstream picks among several.
func (c *Controller) defaultClass() (string, error) {
	classes, err := c.classes.List(everything())
	if err != nil {
		return "", fmt.Errorf("listing storage classes: %w", err)
	}
	var best *storagev1.StorageClass
	for _, sc := range classes {
		if sc.Annotations[annDefaultClass] != "true" && sc.Annotations["storageclass.beta.kubernetes.io/is-default-class"] != "true" {
			continue
		}
		if best == nil || sc.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			(sc.CreationTimestamp.Equal(&best.CreationTimestamp) && sc.Name < best.Name) {
			best = sc
		}
	}
	if best == nil {
		return "", nil
	}
	return best.Name, nil
}
