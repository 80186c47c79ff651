package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateService(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []wantErr
	}{
		{"valid", nil, nil},
		{"ports required", func(s *corev1.Service) { s.Spec.Ports = nil }, []wantErr{{field.ErrorTypeRequired, "spec.ports", ""}}},
		{"headless needs no ports", func(s *corev1.Service) {
			s.Spec.Ports = nil
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "None", []string{"None"}
		}, nil},
		{"names required with several ports", func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Port: 80, Protocol: "TCP", TargetPort: intstr.FromInt32(80)},
				{Name: "b", Port: 81, Protocol: "TCP", TargetPort: intstr.FromString("Bad_Name")}}
		}, []wantErr{
			{field.ErrorTypeRequired, "spec.ports[0].name", ""},
			{field.ErrorTypeInvalid, "spec.ports[1].targetPort", "must contain only alpha-numeric characters"},
		}},
		{"port range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, []wantErr{
			{field.ErrorTypeInvalid, "spec.ports[0].port", "must be between 1 and 65535, inclusive"},
			// targetPort defaults to port, so it is out of range too.
			{field.ErrorTypeInvalid, "spec.ports[0].targetPort", "must be between 1 and 65535, inclusive"},
		}},
		{"type enum", func(s *corev1.Service) { s.Spec.Type = "Magic" }, []wantErr{
			{field.ErrorTypeNotSupported, "spec.type", `"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`},
		}},
		{"node port on ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }, []wantErr{
			{field.ErrorTypeForbidden, "spec.ports[0].nodePort", "may not be used when `type` is 'ClusterIP'"},
		}},
		{"name must be DNS-1035", func(s *corev1.Service) { s.Name = "1web" }, []wantErr{
			{field.ErrorTypeInvalid, "metadata.name", "DNS-1035 label"},
		}},
		{"clusterIPs must follow clusterIP", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.1", []string{"10.0.0.2"}
		}, []wantErr{{field.ErrorTypeInvalid, "spec.clusterIPs", "first value must match `clusterIP`"}}},
		{"bad selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "not valid!"} }, []wantErr{
			{field.ErrorTypeInvalid, "spec.selector", "a valid label must be"},
		}},
		{"external name", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = ""
			s.Spec.InternalTrafficPolicy = nil
		}, []wantErr{{field.ErrorTypeRequired, "spec.externalName", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, validateService(testService("web", tt.mutate)), tt.want)
		})
	}
}

func TestValidateServiceUpdate(t *testing.T) {
	old := testService("web", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.5", []string{"10.0.0.5"} })
	old.ResourceVersion = "1"
	upd := old.DeepCopy()
	upd.Spec.ClusterIP, upd.Spec.ClusterIPs = "10.0.0.6", []string{"10.0.0.6"}
	checkErrs(t, validateServiceUpdate(upd, old), []wantErr{{field.ErrorTypeInvalid, "spec.clusterIPs[0]", "may not change once set"}})

	// The strategy restores a clusterIP the client left out.
	omit := old.DeepCopy()
	omit.Spec.ClusterIP, omit.Spec.ClusterIPs = "", nil
	prepareServiceUpdate(omit, old)
	checkErrs(t, validateServiceUpdate(omit, old), nil)
}

func TestServiceRow(t *testing.T) {
	svc := testService("web", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ClusterIPs = []string{"10.0.0.5"}
		s.Spec.Ports[0].NodePort = 30080
	})
	row := serviceRow(svc)
	want := []any{"web", "NodePort", "10.0.0.5", "<none>", "80:30080/TCP", "<unknown>", "app=web"}
	for i := range want {
		if row[i] != want[i] {
			t.Errorf("cell %d = %v, want %v", i, row[i], want[i])
		}
	}
	lb := testService("lb", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer })
	if got := serviceExternalIP(lb); got != "<pending>" {
		t.Errorf("pending load balancer EXTERNAL-IP = %q", got)
	}
}
