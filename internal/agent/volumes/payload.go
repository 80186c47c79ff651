package volumes

import (
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-sh/skiff/internal/agent/envvars"
)

// defaultMode is upstream's default for configMap, secret, downwardAPI and
// projected files.
const defaultMode = 0o644

func modeOr(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m) & os.ModePerm
}

// payload computes what an atomic volume shows.
func (m *Manager) payload(pod *corev1.Pod, v *corev1.Volume) (payload, error) {
	out := payload{}
	switch {
	case v.ConfigMap != nil:
		s := v.ConfigMap
		return out, m.addConfigMap(out, pod.Namespace, s.Name, s.Items, s.Optional, modeOr(s.DefaultMode, defaultMode))
	case v.Secret != nil:
		s := v.Secret
		return out, m.addSecret(out, pod.Namespace, s.SecretName, s.Items, s.Optional, modeOr(s.DefaultMode, defaultMode))
	case v.DownwardAPI != nil:
		return out, m.addDownward(out, pod, v.DownwardAPI.Items, modeOr(v.DownwardAPI.DefaultMode, defaultMode))
	case v.Projected != nil:
		return out, m.addProjected(out, pod, v.Projected)
	}
	return nil, fmt.Errorf("not an atomic volume")
}

func (m *Manager) addProjected(out payload, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) error {
	def := modeOr(p.DefaultMode, defaultMode)
	for _, src := range p.Sources {
		var err error
		switch {
		case src.ConfigMap != nil:
			s := src.ConfigMap
			err = m.addConfigMap(out, pod.Namespace, s.Name, s.Items, s.Optional, def)
		case src.Secret != nil:
			s := src.Secret
			err = m.addSecret(out, pod.Namespace, s.Name, s.Items, s.Optional, def)
		case src.DownwardAPI != nil:
			err = m.addDownward(out, pod, src.DownwardAPI.Items, def)
		default:
			// serviceAccountToken, clusterTrustBundle, podCertificate:
			// not issued yet (see doc.go).
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) addConfigMap(out payload, ns, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode) error {
	cm, err := m.cfg.Sources.GetConfigMap(ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isTrue(optional) {
			return nil
		}
		return fmt.Errorf("configmap %s/%s: %w", ns, name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return addKeys(out, "configmap "+ns+"/"+name, data, items, optional, def)
}

func (m *Manager) addSecret(out payload, ns, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode) error {
	s, err := m.cfg.Sources.GetSecret(ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isTrue(optional) {
			return nil
		}
		return fmt.Errorf("secret %s/%s: %w", ns, name, err)
	}
	return addKeys(out, "secret "+ns+"/"+name, s.Data, items, optional, def)
}

// addKeys projects all keys (no items) or the listed items; a listed key
// that is missing fails the volume unless the source is optional, as
// upstream's MakePayload.
func addKeys(out payload, what string, data map[string][]byte, items []corev1.KeyToPath, optional *bool, def os.FileMode) error {
	if len(items) == 0 {
		for k, v := range data {
			out[k] = file{data: v, mode: def}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if isTrue(optional) {
				continue
			}
			return fmt.Errorf("%s has no key %q", what, it.Key)
		}
		out[it.Path] = file{data: v, mode: modeOr(it.Mode, def)}
	}
	return nil
}

func (m *Manager) addDownward(out payload, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def os.FileMode) error {
	for _, it := range items {
		var val string
		var err error
		switch {
		case it.FieldRef != nil:
			val, err = envvars.MetadataValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			c := envvars.FindContainer(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return fmt.Errorf("downward API item %s: container %q not found", it.Path, it.ResourceFieldRef.ContainerName)
			}
			val, err = envvars.ResourceValue(it.ResourceFieldRef, c, m.cfg.Allocatable)
		default:
			err = fmt.Errorf("no fieldRef or resourceFieldRef")
		}
		if err != nil {
			return fmt.Errorf("downward API item %s: %w", it.Path, err)
		}
		out[it.Path] = file{data: []byte(val), mode: modeOr(it.Mode, def)}
	}
	return nil
}

func isTrue(b *bool) bool { return b != nil && *b }
