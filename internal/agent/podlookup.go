package agent

import (
	corev1 "k8s.io/api/core/v1"
)

// PodByName returns the cached pod namespace/name if it is bound to this
// agent's node, for the node's kubelet API (logs, exec, port-forward),
// which is addressed by name as the kubelet's is. The pod is the cache's:
// callers must not modify it.
func (a *Agent) PodByName(namespace, name string) (*corev1.Pod, bool) {
	obj, ok, err := a.pods.informer.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName != a.cfg.NodeName {
		return nil, false
	}
	return pod, true
}
