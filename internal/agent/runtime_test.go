package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestContainerRuntimeSettings(t *testing.T) {
	uid, gid, no := int64(1000), int64(2000), false
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &gid},
		Containers: []corev1.Container{{
			Name: "a",
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			Ports:           []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}, {ContainerPort: 81}},
		}, {Name: "plain"}},
	}}
	if r := ContainerResources(&pod.Spec.Containers[0]); r == nil || *r != (Resources{CPURequestMilli: 250, CPULimitMilli: 1000, MemoryLimitBytes: 64 << 20}) {
		t.Errorf("resources = %+v", r)
	}
	if r := ContainerResources(&pod.Spec.Containers[1]); r != nil {
		t.Errorf("resources of a container without any = %+v", r)
	}
	s := ContainerSecurity(pod, &pod.Spec.Containers[0])
	if s == nil || *s.RunAsUser != 1000 || *s.RunAsGroup != 2000 || *s.AllowPrivilegeEscalation || s.CapDrop[0] != "ALL" {
		t.Errorf("security = %+v", s)
	}
	if s := ContainerSecurity(&corev1.Pod{}, &pod.Spec.Containers[1]); s != nil {
		t.Errorf("security without any = %+v", s)
	}
	if p := PodPorts(pod); len(p) != 1 || p[0] != (PortMapping{Protocol: "TCP", ContainerPort: 80, HostPort: 8080}) {
		t.Errorf("ports = %+v", p)
	}
	pod.Spec.HostNetwork = true
	if p := PodPorts(pod); p != nil {
		t.Errorf("host-network ports = %+v", p)
	}
}
