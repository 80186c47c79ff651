package podcontrol

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

var testKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

func testPod(name string, owner *metav1.OwnerReference, selected bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	if selected {
		p.Labels = map[string]string{"app": "x"}
	}
	return p
}

func TestPodClaim(t *testing.T) {
	owner := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ds", UID: "owner"}}
	ours := metav1.NewControllerRef(owner, testKind)
	other := &metav1.OwnerReference{APIVersion: "v1", Kind: "X", Name: "o", UID: "other", Controller: new(bool)}
	*other.Controller = true
	pods := []*corev1.Pod{
		testPod("kept", ours, true),
		testPod("released", ours, false),
		testPod("adopted", nil, true),
		testPod("foreign", other, true),
		testPod("unselected-orphan", nil, false),
	}
	client := fake.NewClientset()
	for _, p := range pods {
		if _, err := client.CoreV1().Pods("ns").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	checks := 0
	claim := PodClaim{
		Client: client, Owner: owner, Kind: testKind,
		Match:    func(p *corev1.Pod) bool { return p.Labels["app"] == "x" },
		CanAdopt: func(context.Context) error { checks++; return nil },
	}
	got, err := claim.Claim(context.Background(), pods)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if len(names) != 2 || names[0] != "kept" || names[1] != "adopted" {
		t.Fatalf("claimed %v, want [kept adopted]", names)
	}
	if checks != 1 {
		t.Errorf("CanAdopt ran %d times, want 1", checks)
	}
	if ref := metav1.GetControllerOf(got[1]); ref == nil || ref.UID != owner.UID {
		t.Errorf("adopted pod's controller = %v, want owner", ref)
	}
	stored, err := client.CoreV1().Pods("ns").Get(context.Background(), "released", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.OwnerReferences) != 0 {
		t.Errorf("released pod still owned: %v", stored.OwnerReferences)
	}
	stored, err = client.CoreV1().Pods("ns").Get(context.Background(), "adopted", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(stored); ref == nil || ref.UID != owner.UID {
		t.Errorf("stored adopted pod's controller = %v, want owner", ref)
	}

	// A failing live check stops adoption and reports why.
	claim.CanAdopt = func(context.Context) error { return errors.New("owner deleted") }
	if _, err := claim.Claim(context.Background(), []*corev1.Pod{testPod("orphan", nil, true)}); err == nil {
		t.Error("Claim adopted although CanAdopt failed")
	}
}
