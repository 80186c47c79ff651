package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestMountsObject(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
		{Name: "c", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "projected-sec"}}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "projected-cm"}}},
		}}}},
	}}}
	for _, tc := range []struct {
		kind, name string
		want       bool
	}{
		{"ConfigMap", "cm", true},
		{"Secret", "cm", false},
		{"Secret", "sec", true},
		{"ConfigMap", "sec", false},
		{"Secret", "projected-sec", true},
		{"ConfigMap", "projected-cm", true},
		{"ConfigMap", "projected-sec", false},
		{"ConfigMap", "other", false},
	} {
		if got := mountsObject(pod, tc.kind, tc.name); got != tc.want {
			t.Errorf("mountsObject(%s %s) = %v, want %v", tc.kind, tc.name, got, tc.want)
		}
	}
}
