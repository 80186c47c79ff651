package defaulttolerationseconds

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/internal/admission"
)

func secs(s int64) *int64 { return &s }

var (
	notReady300    = corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(300)}
	unreachable300 = corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(300)}
)

func TestAdmit(t *testing.T) {
	own := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(10)}
	noSchedule := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	cases := []struct {
		name string
		have []corev1.Toleration
		want []corev1.Toleration
	}{
		{name: "none", want: []corev1.Toleration{notReady300, unreachable300}},
		{name: "own unreachable kept", have: []corev1.Toleration{own}, want: []corev1.Toleration{own, notReady300}},
		{name: "wildcard tolerates both", have: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			want: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{name: "key without effect tolerates", have: []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists}},
			want: []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists}, unreachable300}},
		{name: "NoSchedule does not count", have: []corev1.Toleration{noSchedule}, want: []corev1.Toleration{noSchedule, notReady300, unreachable300}},
	}
	for _, tc := range cases {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tc.have}}
		err := New().Admit(context.Background(), &admission.Attributes{Operation: admission.Create,
			Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Object: pod})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(pod.Spec.Tolerations) != len(tc.want) {
			t.Fatalf("%s: got %+v", tc.name, pod.Spec.Tolerations)
		}
		for i, w := range tc.want {
			g := pod.Spec.Tolerations[i]
			if g.Key != w.Key || g.Effect != w.Effect || g.Operator != w.Operator ||
				(g.TolerationSeconds == nil) != (w.TolerationSeconds == nil) || (g.TolerationSeconds != nil && *g.TolerationSeconds != *w.TolerationSeconds) {
				t.Errorf("%s: toleration %d = %+v, want %+v", tc.name, i, g, w)
			}
		}
	}
}

func TestAdmitLeavesOthersAlone(t *testing.T) {
	pod := &corev1.Pod{}
	for _, a := range []admission.Attributes{
		{Operation: admission.Create, Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Subresource: "status", Object: pod},
		{Operation: admission.Delete, Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Object: pod},
		{Operation: admission.Create, Resource: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Object: &corev1.ConfigMap{}},
	} {
		if err := New().Admit(context.Background(), &a); err != nil {
			t.Fatal(err)
		}
	}
	if len(pod.Spec.Tolerations) != 0 {
		t.Fatalf("tolerations added outside pod create/update: %+v", pod.Spec.Tolerations)
	}
	err := New().Admit(context.Background(), &admission.Attributes{Operation: admission.Create,
		Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Object: &corev1.ConfigMap{}})
	if err == nil {
		t.Fatal("a non-pod object under pods was accepted")
	}
}

func TestSecondsAreNotShared(t *testing.T) {
	a, b := &corev1.Pod{}, &corev1.Pod{}
	AddDefaultTolerations(a, 300, 300)
	AddDefaultTolerations(b, 300, 300)
	*a.Spec.Tolerations[0].TolerationSeconds = 1
	if *b.Spec.Tolerations[0].TolerationSeconds != 300 || *a.Spec.Tolerations[1].TolerationSeconds != 300 {
		t.Fatal("pods share tolerationSeconds pointers")
	}
}
