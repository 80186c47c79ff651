package statefulset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testSet(replicas int32, mut ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	zero := int32(0)
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid", Generation: 2},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: "web-svc",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "c", Image: "img:1"}},
					Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, {Name: "cfg"}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{"tier": "db"}},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &zero},
			},
		},
	}
	for _, m := range mut {
		m(set)
	}
	return set
}

func TestParseName(t *testing.T) {
	cases := []struct {
		name   string
		parent string
		ord    int
	}{
		{"web-0", "web", 0},
		{"web-12", "web", 12},
		{"my-db-2-7", "my-db-2", 7},
		{"web", "", -1},
		{"web-", "", -1},
		{"web-x", "", -1},
		{"web-99999999999", "", -1}, // beyond int32
	}
	for _, c := range cases {
		p, o := parseName(c.name)
		if p != c.parent || o != c.ord {
			t.Errorf("parseName(%q) = %q, %d; want %q, %d", c.name, p, o, c.parent, c.ord)
		}
	}
}

func TestOrdinalRange(t *testing.T) {
	set := testSet(3, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} })
	for ord, want := range map[int]bool{4: false, 5: true, 7: true, 8: false, -1: false} {
		if inRange(set, ord) != want {
			t.Errorf("inRange(start=5, replicas=3, %d) = %v", ord, !want)
		}
	}
	if claimName(set, "data", 6) != "data-web-6" || podName(set, 6) != "web-6" {
		t.Fatal("names")
	}
}

func TestNewPod(t *testing.T) {
	set := testSet(3)
	pod := newPod(set, 2)
	if pod.Name != "web-2" || pod.GenerateName != "" || pod.Namespace != "ns" {
		t.Fatalf("name %q generateName %q ns %q", pod.Name, pod.GenerateName, pod.Namespace)
	}
	if pod.Spec.Hostname != "web-2" || pod.Spec.Subdomain != "web-svc" {
		t.Fatalf("hostname %q subdomain %q", pod.Spec.Hostname, pod.Spec.Subdomain)
	}
	if pod.Labels[appsv1.StatefulSetPodNameLabel] != "web-2" || pod.Labels[appsv1.PodIndexLabel] != "2" || pod.Labels["app"] != "web" {
		t.Fatalf("labels %v", pod.Labels)
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.UID != "set-uid" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Fatalf("owner ref %+v", ref)
	}
	// The claim template replaces the template's volume of the same name;
	// other volumes follow.
	if len(pod.Spec.Volumes) != 2 || pod.Spec.Volumes[0].Name != "data" || pod.Spec.Volumes[0].PersistentVolumeClaim == nil ||
		pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-2" || pod.Spec.Volumes[1].Name != "cfg" {
		t.Fatalf("volumes %+v", pod.Spec.Volumes)
	}
	if !identityMatches(set, pod) || !storageMatches(set, pod) {
		t.Fatal("a new pod does not match its own identity or storage")
	}
	delete(pod.Labels, appsv1.StatefulSetPodNameLabel)
	if identityMatches(set, pod) {
		t.Fatal("a pod without its pod-name label matches")
	}
	if set.Spec.Template.Labels[appsv1.StatefulSetPodNameLabel] != "" || set.Spec.Template.Spec.Volumes[0].EmptyDir == nil {
		t.Fatal("newPod mutated the set's template")
	}
}

func TestClaimsFor(t *testing.T) {
	set := testSet(1)
	claims := claimsFor(set, 4)
	if len(claims) != 1 || claims[0].Name != "data-web-4" || claims[0].Namespace != "ns" {
		t.Fatalf("claims %+v", claims)
	}
	if claims[0].Labels["tier"] != "db" || claims[0].Labels["app"] != "web" {
		t.Fatalf("claim labels %v: want template labels plus selector labels", claims[0].Labels)
	}
	if _, leaked := set.Spec.VolumeClaimTemplates[0].Labels["app"]; leaked {
		t.Fatal("claimsFor mutated the claim template")
	}
}

func TestUsesCurrentRevision(t *testing.T) {
	part := func(n int32) func(*appsv1.StatefulSet) {
		return func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = &n }
	}
	onDelete := func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	}
	start := func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 10} }
	cases := []struct {
		name string
		set  *appsv1.StatefulSet
		ord  int
		want bool
	}{
		{"no partition: everything at update", testSet(3), 0, false},
		{"below partition", testSet(3, part(2)), 1, true},
		{"at partition", testSet(3, part(2)), 2, false},
		{"partition counts from start", testSet(3, part(1), start), 10, true},
		{"partition counts from start, above", testSet(3, part(1), start), 11, false},
		{"OnDelete recreates at update", testSet(3, onDelete), 0, false},
	}
	for _, c := range cases {
		if got := usesCurrentRevision(c.set, c.ord); got != c.want {
			t.Errorf("%s: usesCurrentRevision = %v", c.name, got)
		}
	}
}
