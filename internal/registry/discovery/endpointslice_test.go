package discovery

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ptrTo[T any](v T) *T { return &v }

func newSlice() *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Namespace: "default", ResourceVersion: "1", Generation: 1},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.42.0.5"}, Hostname: ptrTo("web-0"), NodeName: ptrTo("node-1")},
			{Addresses: []string{"10.42.0.6"}},
		},
		Ports: []discoveryv1.EndpointPort{{Port: ptrTo[int32](8080)}},
	}
	DefaultEndpointSlice(s)
	return s
}

func TestDefaults(t *testing.T) {
	s := newSlice()
	if *s.Ports[0].Name != "" || *s.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("port = %+v", s.Ports[0])
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		typ    field.ErrorType
		field  string
		detail string
	}{
		{"valid", func(*discoveryv1.EndpointSlice) {}, "", "", ""},
		{"missing address type", func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }, field.ErrorTypeRequired, "addressType", ""},
		{"deprecated IP type", func(s *discoveryv1.EndpointSlice) { s.AddressType = "IP" }, field.ErrorTypeNotSupported, "addressType", `"FQDN", "IPv4", "IPv6"`},
		{"ipv6 in ipv4 slice", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses[0] = "fd00::1" }, field.ErrorTypeInvalid, "endpoints[0].addresses[0]", "must be a valid IPv4 address"},
		{"loopback", func(s *discoveryv1.EndpointSlice) { s.Endpoints[1].Addresses[0] = "127.0.0.1" }, field.ErrorTypeInvalid, "endpoints[1].addresses[0]", "loopback"},
		{"not an ip", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses[0] = "web" }, field.ErrorTypeInvalid, "endpoints[0].addresses[0]", "IP address"},
		{"no addresses", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil }, field.ErrorTypeRequired, "endpoints[0].addresses", "must contain at least 1 address"},
		{"duplicate port name", func(s *discoveryv1.EndpointSlice) { s.Ports = append(s.Ports, s.Ports[0]) }, field.ErrorTypeDuplicate, "ports[1].name", ""},
		{"bad protocol", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = ptrTo(corev1.Protocol("ICMP")) }, field.ErrorTypeNotSupported, "ports[0].protocol", `"SCTP", "TCP", "UDP"`},
		{"fqdn", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"db.example.com"}}}
		}, "", "", ""},
	}
	v := Resources()[0].Strategy.Validate
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSlice()
			tt.mutate(s)
			errs := v(s)
			if tt.field == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			for _, e := range errs {
				if e.Type == tt.typ && e.Field == tt.field && strings.Contains(e.Detail, tt.detail) {
					return
				}
			}
			t.Errorf("missing %s on %s (%q) in %v", tt.typ, tt.field, tt.detail, errs)
		})
	}
}

func TestUpdate(t *testing.T) {
	r := Resources()[0]
	old := newSlice()
	s := old.DeepCopy()
	s.AddressType = discoveryv1.AddressTypeIPv6
	s.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"fd00::1"}}}
	errs := r.Strategy.ValidateUpdate(s, old)
	if len(errs) != 1 || errs[0].Field != "addressType" || errs[0].Detail != "field is immutable" {
		t.Errorf("errors = %v", errs)
	}

	relabelled := old.DeepCopy()
	relabelled.Labels = map[string]string{"kubernetes.io/service-name": "web"}
	r.Strategy.PrepareForUpdate(relabelled, old)
	if relabelled.Generation != 2 {
		t.Errorf("generation = %d", relabelled.Generation)
	}
}

func TestRow(t *testing.T) {
	s := newSlice()
	for i := 0; i < 3; i++ {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.42.1.1"}})
	}
	s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptrTo("metrics"), Port: ptrTo[int32](9090)})
	row, err := Resources()[0].Strategy.Row(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"web-abc", "IPv4", "8080,9090", "10.42.0.5,10.42.0.6,10.42.1.1 + 2 more...", "<unknown>"}
	if !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
	empty, _ := Resources()[0].Strategy.Row(&discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4})
	if empty[2] != "<unset>" || empty[3] != "<unset>" {
		t.Errorf("empty row = %#v", empty)
	}
}
