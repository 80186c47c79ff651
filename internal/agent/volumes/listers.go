package volumes

import (
	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Listers backs Sources with informer listers (they return NotFound
// errors apierrors.IsNotFound recognises).
type Listers struct {
	ConfigMaps corelisters.ConfigMapLister
	Secrets    corelisters.SecretLister
	Claims     corelisters.PersistentVolumeClaimLister
	Volumes    corelisters.PersistentVolumeLister
}

var _ Sources = Listers{}

func (l Listers) GetConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	return l.ConfigMaps.ConfigMaps(ns).Get(name)
}

func (l Listers) GetSecret(ns, name string) (*corev1.Secret, error) {
	return l.Secrets.Secrets(ns).Get(name)
}

func (l Listers) GetPersistentVolumeClaim(ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return l.Claims.PersistentVolumeClaims(ns).Get(name)
}

func (l Listers) GetPersistentVolume(name string) (*corev1.PersistentVolume, error) {
	return l.Volumes.Get(name)
}
