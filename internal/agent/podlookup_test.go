package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPodByName(t *testing.T) {
	a := &Agent{cfg: Config{NodeName: "n1"}, pods: NewPodWatch(fake.NewClientset(), "")}
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "here", UID: "u1"}, Spec: corev1.PodSpec{NodeName: "n1"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "there", UID: "u2"}, Spec: corev1.PodSpec{NodeName: "n2"}},
	} {
		if err := a.pods.informer.GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if p, ok := a.PodByName("ns", "here"); !ok || p.UID != "u1" {
		t.Errorf("ns/here = %v, %v", p, ok)
	}
	for _, name := range []string{"there", "missing"} {
		if p, ok := a.PodByName("ns", name); ok {
			t.Errorf("ns/%s = %v, want not found (another node's or none)", name, p.Name)
		}
	}
	if _, ok := a.PodByName("other", "here"); ok {
		t.Error("other/here found")
	}
}
