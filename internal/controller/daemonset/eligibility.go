package daemonset

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// Labels upstream puts on daemon pods. The template generation label is
// the pre-ControllerRevision way of telling new pods from old; upstream
// still sets and honours it.
const (
	templateGenerationLabel = "pod-template-generation"
	// nodeNameField is the node field daemon pods' node affinity selects on.
	nodeNameField = "metadata.name"
)

// daemonTolerations are added to every daemon pod, as upstream does, so
// that node conditions which would keep or evict ordinary pods do not stop
// a node's own daemons: a node that is not ready or unreachable keeps them
// (NoExecute), and pressure or cordoning does not block them (NoSchedule).
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// hostNetworkToleration is added only to host-network pods: they do not
// need the pod network, so a node without one can still run them.
var hostNetworkToleration = corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// addDaemonTolerations adds the default daemon tolerations to spec,
// replacing a user toleration with the same key and effect (upstream's
// AddOrUpdateTolerationInPodSpec semantics).
func addDaemonTolerations(spec *corev1.PodSpec) {
	add := daemonTolerations
	if spec.HostNetwork {
		add = append(append([]corev1.Toleration(nil), daemonTolerations...), hostNetworkToleration)
	}
	for _, t := range add {
		replaced := false
		for i := range spec.Tolerations {
			if spec.Tolerations[i].Key == t.Key && spec.Tolerations[i].Effect == t.Effect {
				spec.Tolerations[i] = t
				replaced = true
				break
			}
		}
		if !replaced {
			spec.Tolerations = append(spec.Tolerations, t)
		}
	}
}

// templateGeneration reads the generation the API server keeps in the
// deprecated.daemonset.template.generation annotation; nil if absent or
// unparsable, in which case the revision hash alone tells pods apart.
func templateGeneration(ds *appsv1.DaemonSet) *int64 {
	s, ok := ds.Annotations[appsv1.DeprecatedTemplateGeneration]
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

// podTemplate is the template every new daemon pod of ds is made from:
// the user's template plus the default tolerations and the labels that
// mark which revision it belongs to.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	addDaemonTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if gen := templateGeneration(ds); gen != nil {
		t.Labels[templateGenerationLabel] = strconv.FormatInt(*gen, 10)
	}
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	return t
}

// isPodUpdated reports whether pod belongs to the current template: by
// revision hash, or by template generation for pods made before hashes.
func isPodUpdated(pod *corev1.Pod, hash string, gen *int64) bool {
	if hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
		return true
	}
	return gen != nil && pod.Labels[templateGenerationLabel] == strconv.FormatInt(*gen, 10)
}

// nodeAffinityFor returns affinity with its required node affinity
// replaced by "metadata.name In [node]", which is how a daemon pod is tied
// to its node while the scheduler still binds it (upstream's
// ScheduleDaemonSetPods). The user's other required terms were already
// checked against the node by nodeShouldRunDaemonPod, so dropping them
// loses nothing; preferred terms and pod (anti-)affinity are kept.
func nodeAffinityFor(affinity *corev1.Affinity, node string) *corev1.Affinity {
	out := affinity.DeepCopy()
	if out == nil {
		out = &corev1.Affinity{}
	}
	if out.NodeAffinity == nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
	}
	out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: nodeNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
		}},
	}
	return out
}

// targetNode returns the node a daemon pod is for: its binding if it is
// scheduled, otherwise the node its affinity pins it to.
func targetNode(pod *corev1.Pod) (string, error) {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName, nil
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", fmt.Errorf("pod %s/%s has no required node affinity", pod.Namespace, pod.Name)
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, req := range term.MatchFields {
			if req.Key == nodeNameField && req.Operator == corev1.NodeSelectorOpIn && len(req.Values) == 1 {
				return req.Values[0], nil
			}
		}
	}
	return "", fmt.Errorf("pod %s/%s is not pinned to one node", pod.Namespace, pod.Name)
}

// nodeShouldRunDaemonPod decides, for one node, whether ds wants a pod
// there (shouldRun) and whether a pod already there may stay
// (shouldContinueRunning). They differ for taints: a NoSchedule taint the
// pod does not tolerate keeps a new pod off the node but does not evict
// the one already running; only an untolerated NoExecute taint does.
func nodeShouldRunDaemonPod(node *corev1.Node, ds *appsv1.DaemonSet) (shouldRun, shouldContinueRunning bool) {
	spec := &ds.Spec.Template.Spec
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	pod := &corev1.Pod{Spec: *spec.DeepCopy()}
	pod.Spec.NodeName = node.Name
	addDaemonTolerations(&pod.Spec)
	// An unparsable affinity fails validation upstream; treat it as "no
	// match" rather than running everywhere.
	if fits, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !fits {
		return false, false
	}
	logger := klog.Background()
	_, untolerated := v1helper.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute || t.Effect == corev1.TaintEffectNoSchedule
	}, false)
	if !untolerated {
		return true, true
	}
	_, evicting := v1helper.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute
	}, false)
	return false, !evicting
}
