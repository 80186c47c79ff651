package statefulset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func policy(scaled, deleted appsv1.PersistentVolumeClaimRetentionPolicyType) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenScaled: scaled, WhenDeleted: deleted}
	}
}

const (
	retain = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	del    = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
)

func TestClaimOwners(t *testing.T) {
	cases := []struct {
		scaled, deleted appsv1.PersistentVolumeClaimRetentionPolicyType
		ord             int
		setOwns, podOwn bool
	}{
		{retain, retain, 0, false, false},
		{retain, retain, 5, false, false},
		{retain, del, 0, true, false},
		{retain, del, 5, true, false},
		{del, retain, 0, false, false},
		{del, retain, 5, false, true},
		{del, del, 0, true, false},
		{del, del, 5, false, true},
	}
	for _, c := range cases {
		set := testSet(2, policy(c.scaled, c.deleted))
		s, p := claimOwners(set, c.ord)
		if s != c.setOwns || p != c.podOwn {
			t.Errorf("scaled=%s deleted=%s ordinal %d: set owns %v, pod owns %v; want %v, %v", c.scaled, c.deleted, c.ord, s, p, c.setOwns, c.podOwn)
		}
	}
}

func claimWith(refs ...metav1.OwnerReference) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-web-3", Namespace: "ns", OwnerReferences: refs}}
}

func podRef(name string, uid types.UID) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: uid}}
}

func TestDesiredClaimRefs(t *testing.T) {
	set := testSet(2, policy(del, del)) // ordinals 0, 1 wanted; 3 scaled down
	pod3 := podRef("web-3", "pod3-uid")
	pod1 := podRef("web-1", "pod1-uid")
	setRef := *metav1.NewControllerRef(set, controllerKind)
	pod3Ref := *metav1.NewControllerRef(pod3, podKind)
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "cm"}
	yes := true
	foreign := metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Backup", Name: "b", UID: "b", Controller: &yes}

	// In range: the set owns the claim, other refs kept.
	refs, changed := desiredClaimRefs(claimWith(other), set, pod1)
	if !changed || len(refs) != 2 || refs[1].UID != set.UID || refs[1].Controller == nil || !*refs[1].Controller {
		t.Fatalf("in range: %v %+v", changed, refs)
	}
	// Scaled down: the set's ref moves to the pod.
	refs, changed = desiredClaimRefs(claimWith(setRef), set, pod3)
	if !changed || len(refs) != 1 || refs[0].UID != "pod3-uid" || refs[0].Kind != "Pod" {
		t.Fatalf("scaled down: %v %+v", changed, refs)
	}
	// Already right: no write.
	if _, changed := desiredClaimRefs(claimWith(pod3Ref), set, pod3); changed {
		t.Fatal("an up-to-date claim reads as changed")
	}
	// A non-controller ref to the set is upgraded.
	plain := setRef
	plain.Controller = nil
	if refs, changed := desiredClaimRefs(claimWith(plain), set, pod1); !changed || *refs[0].Controller != true {
		t.Fatalf("non-controller ref not upgraded: %+v", refs)
	}
	// A ref to an earlier pod of the same name: leave it for the collector.
	stale := *metav1.NewControllerRef(podRef("web-3", "old-uid"), podKind)
	if refs, changed := desiredClaimRefs(claimWith(stale), set, pod3); changed || refs[0].UID != "old-uid" {
		t.Fatalf("stale claim touched: %+v", refs)
	}
	// Someone else controls it: only our refs are dropped.
	if refs, changed := desiredClaimRefs(claimWith(foreign, setRef), set, pod1); !changed || len(refs) != 1 || refs[0].UID != "b" {
		t.Fatalf("foreign controller: %v %+v", changed, refs)
	}
	// A pod not yet created cannot be referenced.
	if refs, changed := desiredClaimRefs(claimWith(), set, podRef("web-3", "")); changed || len(refs) != 0 {
		t.Fatalf("uid-less pod referenced: %+v", refs)
	}
	// Retain/Retain strips our refs.
	retainSet := testSet(2, policy(retain, retain))
	if refs, changed := desiredClaimRefs(claimWith(*metav1.NewControllerRef(retainSet, controllerKind)), retainSet, pod1); !changed || len(refs) != 0 {
		t.Fatalf("retain: %v %+v", changed, refs)
	}
}

func TestClaimIsStale(t *testing.T) {
	stale := claimWith(*metav1.NewControllerRef(podRef("web-3", "old-uid"), podKind))
	fresh := podRef("web-3", "")
	if !claimIsStale(stale, testSet(2, policy(del, retain)), fresh) {
		t.Fatal("claim owned by the previous web-3 is not stale under whenScaled=Delete")
	}
	if claimIsStale(stale, testSet(2, policy(retain, retain)), fresh) {
		t.Fatal("under whenScaled=Retain claims are reused, never stale")
	}
	if claimIsStale(claimWith(), testSet(2, policy(del, retain)), fresh) {
		t.Fatal("an unowned claim is stale")
	}
}
