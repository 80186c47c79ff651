package apiserver

import (
	"bytes"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/utils/ptr"
)

func TestWithResourceVersionMatchesReencoding(t *testing.T) {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	_ = appsv1.AddToScheme(s)
	ser := protobuf.NewSerializer(s, s)
	objs := []runtime.Object{
		&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"a": "b"}, UID: "u"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning}},
		&appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: "d", Generation: 3}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}},
		&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}},
	}
	for _, obj := range objs {
		var stored bytes.Buffer
		if err := ser.Encode(obj, &stored); err != nil {
			t.Fatal(err)
		}
		env, msg, err := withResourceVersion(stored.Bytes(), "12345")
		if err != nil {
			t.Fatal(err)
		}
		want := obj.DeepCopyObject()
		want.(metav1.Object).SetResourceVersion("12345")
		got, _, err := ser.Decode(env, nil, nil)
		if err != nil {
			t.Fatalf("%T: decoding spliced envelope: %v", obj, err)
		}
		if !equality.Semantic.DeepEqual(got, want) {
			t.Fatalf("%T: spliced envelope decodes to\n%+v\nwant\n%+v", obj, got, want)
		}
		bare := want.DeepCopyObject()
		if err := bare.(interface{ Unmarshal([]byte) error }).Unmarshal(msg); err != nil {
			t.Fatalf("%T: bare message: %v", obj, err)
		}
		if bare.(metav1.Object).GetResourceVersion() != "12345" {
			t.Fatalf("%T: bare message lacks the version", obj)
		}
	}
	if _, _, err := withResourceVersion([]byte("{}"), "1"); err == nil {
		t.Fatal("JSON accepted as protobuf")
	}
}
