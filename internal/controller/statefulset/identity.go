package statefulset

import (
	"regexp"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

// podNameRE splits "<set>-<ordinal>"; the set name may itself contain
// dashes and digits, so the ordinal is the last dash-separated run of
// digits.
var podNameRE = regexp.MustCompile(`^(.*)-([0-9]+)$`)

// parseName returns the set name and ordinal encoded in a pod name, or
// ("", -1) if the name is not of that form. Ordinals beyond int32 are
// rejected, as upstream's parse is.
func parseName(name string) (parent string, ordinal int) {
	m := podNameRE.FindStringSubmatch(name)
	if m == nil {
		return "", -1
	}
	n, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return "", -1
	}
	return m[1], int(n)
}

func ordinalOf(pod *corev1.Pod) int {
	_, ord := parseName(pod.Name)
	return ord
}

func replicasOf(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1 // the API default
	}
	return int(*set.Spec.Replicas)
}

// startOrdinal is the first ordinal of set (spec.ordinals.start, default
// 0); the set's pods are start, start+1, ..., start+replicas-1.
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

// inRange reports whether ordinal is one set currently wants.
// Example: start=5, replicas=3 wants 5, 6 and 7.
func inRange(set *appsv1.StatefulSet, ordinal int) bool {
	start := startOrdinal(set)
	return ordinal >= start && ordinal < start+replicasOf(set)
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return set.Name + "-" + strconv.Itoa(ordinal)
}

// claimName is "<claim template>-<set>-<ordinal>", the name upstream (and
// volume zone-spreading heuristics) rely on.
func claimName(set *appsv1.StatefulSet, template string, ordinal int) string {
	return template + "-" + set.Name + "-" + strconv.Itoa(ordinal)
}

// isMember reports whether pod's name makes it one of set's pods.
func isMember(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, _ := parseName(pod.Name)
	return parent == set.Name
}

// identityMatches reports whether pod carries the identity of its ordinal:
// name, namespace and the labels a headless service or a user selects one
// replica by.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ord := parseName(pod.Name)
	return ord >= 0 && parent == set.Name && pod.Namespace == set.Namespace &&
		pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name &&
		pod.Labels[appsv1.PodIndexLabel] == strconv.Itoa(ord)
}

// setIdentityLabels puts the pod-name and pod-index labels on pod.
func setIdentityLabels(pod *corev1.Pod) {
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinalOf(pod))
}

// storageMatches reports whether pod mounts the claim of every claim
// template under the template's name.
func storageMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	ord := ordinalOf(pod)
	if ord < 0 {
		return false
	}
	vols := make(map[string]corev1.Volume, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	for _, t := range set.Spec.VolumeClaimTemplates {
		v, ok := vols[t.Name]
		if !ok || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claimName(set, t.Name, ord) {
			return false
		}
	}
	return true
}

// claimsFor returns the claims pod's ordinal needs, one per template, in
// template order. They carry the template's labels plus the set's
// selector labels so that they can be found by the set's selector.
func claimsFor(set *appsv1.StatefulSet, ordinal int) []*corev1.PersistentVolumeClaim {
	out := make([]*corev1.PersistentVolumeClaim, 0, len(set.Spec.VolumeClaimTemplates))
	for i := range set.Spec.VolumeClaimTemplates {
		t := &set.Spec.VolumeClaimTemplates[i]
		claim := t.DeepCopy()
		claim.Name = claimName(set, t.Name, ordinal)
		claim.Namespace = set.Namespace
		claim.ResourceVersion, claim.UID = "", ""
		claim.Status = corev1.PersistentVolumeClaimStatus{}
		if claim.Labels == nil {
			claim.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				claim.Labels[k] = v
			}
		}
		out = append(out, claim)
	}
	return out
}

// setStorage makes pod mount its ordinal's claims, replacing any template
// volume with a claim template's name; other volumes are kept after them.
func setStorage(set *appsv1.StatefulSet, pod *corev1.Pod) {
	ord := ordinalOf(pod)
	templates := make(map[string]bool, len(set.Spec.VolumeClaimTemplates))
	vols := make([]corev1.Volume, 0, len(pod.Spec.Volumes)+len(set.Spec.VolumeClaimTemplates))
	for _, t := range set.Spec.VolumeClaimTemplates {
		templates[t.Name] = true
		vols = append(vols, corev1.Volume{
			Name: t.Name,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: claimName(set, t.Name, ord),
			}},
		})
	}
	for _, v := range pod.Spec.Volumes {
		if !templates[v.Name] {
			vols = append(vols, v)
		}
	}
	pod.Spec.Volumes = vols
}

// newPod builds the pod for ordinal from set's template: stable name,
// hostname and subdomain (for DNS through the governing headless
// service), identity labels, and its claims mounted.
func newPod(set *appsv1.StatefulSet, ordinal int) *corev1.Pod {
	pod := podcontrol.PodFromTemplate(&set.Spec.Template, set, metav1.NewControllerRef(set, controllerKind))
	pod.GenerateName = ""
	pod.Name = podName(set, ordinal)
	pod.Namespace = set.Namespace
	setIdentityLabels(pod)
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	setStorage(set, pod)
	return pod
}

// usesCurrentRevision reports whether a pod created now for ordinal gets
// the current revision rather than the update revision: during a rolling
// update, ordinals below the partition stay on the current revision.
// Example: start=0, partition=2: ordinals 0 and 1 are (re)created at the
// current revision, 2 and up at the update revision. OnDelete always
// creates at the update revision: the user deleted the pod to update it.
func usesCurrentRevision(set *appsv1.StatefulSet, ordinal int) bool {
	if set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return false
	}
	start := startOrdinal(set)
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil {
		return ordinal < start+int(set.Status.CurrentReplicas)
	}
	partition := 0
	if ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	return ordinal < start+partition
}

// newVersionedPod builds ordinal's pod at the revision it should have.
func newVersionedPod(rv *revisionView, ordinal int) *corev1.Pod {
	if usesCurrentRevision(rv.set, ordinal) {
		pod := newPod(rv.currentSet, ordinal)
		pod.Labels[appsv1.StatefulSetRevisionLabel] = rv.currentRevision
		return pod
	}
	pod := newPod(rv.updateSet, ordinal)
	pod.Labels[appsv1.StatefulSetRevisionLabel] = rv.updateRevision
	return pod
}

func podRevision(pod *corev1.Pod) string {
	return pod.Labels[appsv1.StatefulSetRevisionLabel]
}
