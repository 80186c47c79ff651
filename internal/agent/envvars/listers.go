package envvars

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Listers backs Sources with informer listers.
type Listers struct {
	ConfigMaps corelisters.ConfigMapLister
	Secrets    corelisters.SecretLister
	Services   corelisters.ServiceLister
}

var _ Sources = Listers{}

func (l Listers) GetConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	return l.ConfigMaps.ConfigMaps(ns).Get(name)
}

func (l Listers) GetSecret(ns, name string) (*corev1.Secret, error) {
	return l.Secrets.Secrets(ns).Get(name)
}

func (l Listers) ListServices(ns string) ([]*corev1.Service, error) {
	return l.Services.Services(ns).List(labels.Everything())
}
