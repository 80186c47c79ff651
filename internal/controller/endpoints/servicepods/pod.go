package servicepods

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// IsReady reports whether the pod's Ready condition is True.
func IsReady(pod *corev1.Pod) bool {
	for i := range pod.Status.Conditions {
		if c := &pod.Status.Conditions[i]; c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ReadyCondition returns the pod's Ready condition, or nil.
func ReadyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if c := &pod.Status.Conditions[i]; c.Type == corev1.PodReady {
			return c
		}
	}
	return nil
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// ShouldBeEndpoint reports whether pod belongs in a Service's endpoints at
// all: it has an IP, has not finished (Succeeded/Failed), and, unless
// includeTerminating, is not being deleted. Whether it is ready is a
// separate question the caller answers.
func ShouldBeEndpoint(pod *corev1.Pod, includeTerminating bool) bool {
	if isTerminal(pod) {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// ShouldSetHostname reports whether the endpoint carries the pod's
// hostname: only for the Service named by the pod's subdomain, which is
// how a headless Service gives pods stable DNS names.
func ShouldSetHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && svc.Namespace == pod.Namespace
}

// FindPort resolves a Service port's targetPort on pod. A number is used
// as is; a name is looked up among the container ports of the pod's
// containers and sidecars (init containers that restart always) with the
// same protocol, so the same Service can reach pods that expose "http" on
// different numbers.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	tp := sp.TargetPort
	if tp.Type == intstr.Int {
		if tp.IntVal == 0 {
			// An unset targetPort means the service port (the API server
			// defaults it, but a client may not have).
			return sp.Port, nil
		}
		return tp.IntVal, nil
	}
	name := tp.StrVal
	for i := range pod.Spec.Containers {
		if p, ok := namedPort(pod.Spec.Containers[i].Ports, name, sp.Protocol); ok {
			return p, nil
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			continue
		}
		if p, ok := namedPort(c.Ports, name, sp.Protocol); ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("pod %s/%s has no %s port named %q", pod.Namespace, pod.Name, sp.Protocol, name)
}

func namedPort(ports []corev1.ContainerPort, name string, proto corev1.Protocol) (int32, bool) {
	for _, p := range ports {
		pp := p.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		want := proto
		if want == "" {
			want = corev1.ProtocolTCP
		}
		if p.Name == name && pp == want {
			return p.ContainerPort, true
		}
	}
	return 0, false
}
