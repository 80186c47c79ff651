package agent

import (
	corev1 "k8s.io/api/core/v1"
)

// ResyncPodsMounting syncs now every pod of this node whose volumes
// project the ConfigMap or Secret (kind "ConfigMap" or "Secret")
// namespace/name, so that an edit reaches the files in the pod within a
// moment rather than at the pod's next periodic sync. (The kubelet's
// periodic sync plus its watch-based object cache take up to a minute;
// Skiff's node watches every ConfigMap and Secret already.) Env vars are
// not affected: they are fixed when a container starts, as upstream.
func (a *Agent) ResyncPodsMounting(kind, namespace, name string) {
	for _, pod := range a.pods.list(a.cfg.NodeName) {
		if pod.Namespace == namespace && mountsObject(pod, kind, name) {
			a.enqueue(pod.UID)
		}
	}
}

// mountsObject reports whether a volume of pod (directly or projected)
// holds the ConfigMap or Secret name.
func mountsObject(pod *corev1.Pod, kind, name string) bool {
	for _, v := range pod.Spec.Volumes {
		switch {
		case kind == "ConfigMap" && v.ConfigMap != nil && v.ConfigMap.Name == name,
			kind == "Secret" && v.Secret != nil && v.Secret.SecretName == name:
			return true
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if kind == "ConfigMap" && src.ConfigMap != nil && src.ConfigMap.Name == name ||
					kind == "Secret" && src.Secret != nil && src.Secret.Name == name {
					return true
				}
			}
		}
	}
	return false
}
