package scheduler

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	toolscache "k8s.io/client-go/tools/cache"
)

// Informer handlers turn events into cache updates, queue keys and
// "cluster changed" signals. Which plugins an event can help is upstream's
// EventsToRegister, coarsely: a pod rejected only by, say, NodePorts is not
// retried because a node's labels changed.
const (
	// A bound pod appeared or changed labels: affinity and spreading may
	// now be satisfiable.
	eventAssignedPodAdd = pluginInterPodAffinity | pluginPodTopologySpread
	// A bound pod went away or finished: its resources, ports and its
	// part in spreading and anti-affinity are free.
	eventAssignedPodDelete = pluginNodeResourcesFit | pluginNodePorts | pluginInterPodAffinity | pluginPodTopologySpread
	eventNodeDelete        = pluginInterPodAffinity | pluginPodTopologySpread
)

func (s *Scheduler) onPodAdd(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.Spec.NodeName != "" {
		s.queue.delete(podKey(pod))
		s.cache.addPod(pod)
		s.queue.moveAll(eventAssignedPodAdd)
		return
	}
	if responsibleFor(pod) && !s.cache.placed(pod.UID) {
		s.queue.add(podKey(pod), pod.UID, podPriority(pod))
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	key := podKey(pod)
	if pod.Spec.NodeName != "" {
		if old.Spec.NodeName == "" {
			s.queue.delete(key) // bound: by us (confirming the assumption) or by someone else
		}
		s.cache.addPod(pod)
		switch {
		case old.Spec.NodeName == "":
			s.queue.moveAll(eventAssignedPodAdd)
		case isTerminal(pod) && !isTerminal(old):
			s.queue.moveAll(eventAssignedPodDelete)
		case !maps.Equal(old.Labels, pod.Labels) || (old.DeletionTimestamp == nil) != (pod.DeletionTimestamp == nil):
			s.queue.moveAll(eventAssignedPodAdd)
		}
		return
	}
	if !responsibleFor(pod) {
		s.queue.delete(key)
		return
	}
	if s.cache.placed(pod.UID) {
		return // our binding is in flight
	}
	// Our own condition writes change only status; a change of spec or
	// labels (new tolerations, a relaxed selector) may make the pod fit.
	if !maps.Equal(old.Labels, pod.Labels) || !equality.Semantic.DeepEqual(&old.Spec, &pod.Spec) {
		s.queue.update(key, pod.UID, podPriority(pod))
		return
	}
	s.queue.add(key, pod.UID, podPriority(pod))
}

func (s *Scheduler) onPodDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.queue.delete(podKey(pod))
	if s.cache.removePod(pod.UID) {
		s.queue.moveAll(eventAssignedPodDelete)
	}
}

func (s *Scheduler) onNodeAdd(obj any) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	s.cache.setNode(node)
	s.queue.moveAll(allPlugins)
}

func (s *Scheduler) onNodeUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Node)
	node, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	s.cache.setNode(node)
	if event := nodeChange(old, node); event != 0 {
		s.queue.moveAll(event)
	}
}

func (s *Scheduler) onNodeDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	s.cache.removeNode(node.Name)
	s.queue.moveAll(eventNodeDelete)
}

// nodeChange says which plugins a node update concerns. Heartbeats (status
// condition timestamps) concern none, so they do not stir the queue.
func nodeChange(old, node *corev1.Node) pluginSet {
	var event pluginSet
	if !equality.Semantic.DeepEqual(old.Status.Allocatable, node.Status.Allocatable) {
		event |= pluginNodeResourcesFit
	}
	if !maps.Equal(old.Labels, node.Labels) {
		event |= pluginNodeAffinity | pluginPodTopologySpread | pluginInterPodAffinity
	}
	if !equality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) || notReadyTaintKey(old) != notReadyTaintKey(node) {
		event |= pluginTaintToleration | pluginPodTopologySpread
	}
	if old.Spec.Unschedulable != node.Spec.Unschedulable {
		event |= pluginNodeUnschedulable
	}
	return event
}
