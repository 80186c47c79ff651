package ingress

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestEndpointAddrs(t *testing.T) {
	yes, no := true, false
	ep := func(ip string, ready, serving, terminating *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready, Serving: serving, Terminating: terminating}}
	}
	slice := func(portName string, port int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		proto := corev1.ProtocolTCP
		return &discoveryv1.EndpointSlice{
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   eps,
			Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
		}
	}
	cases := []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		port   string
		want   []string
	}{
		{"ready, unset and not-ready", []*discoveryv1.EndpointSlice{
			slice("http", 8080, ep("10.0.0.2", &yes, nil, nil), ep("10.0.0.1", nil, nil, nil), ep("10.0.0.3", &no, &no, nil)),
		}, "http", []string{"10.0.0.1:8080", "10.0.0.2:8080"}},
		{"terminating skipped while others are ready", []*discoveryv1.EndpointSlice{
			slice("http", 8080, ep("10.0.0.1", &no, &yes, &yes), ep("10.0.0.2", &yes, &yes, &no)),
		}, "http", []string{"10.0.0.2:8080"}},
		{"serving terminating when nothing is ready", []*discoveryv1.EndpointSlice{
			slice("http", 8080, ep("10.0.0.1", &no, &yes, &yes), ep("10.0.0.2", &no, &no, &yes)),
		}, "http", []string{"10.0.0.1:8080"}},
		{"port chosen by name, duplicates merged", []*discoveryv1.EndpointSlice{
			slice("metrics", 9090, ep("10.0.0.1", nil, nil, nil)),
			slice("http", 8080, ep("10.0.0.1", nil, nil, nil)),
			slice("http", 8080, ep("10.0.0.1", nil, nil, nil)),
		}, "http", []string{"10.0.0.1:8080"}},
		{"no such port", []*discoveryv1.EndpointSlice{slice("http", 8080, ep("10.0.0.1", nil, nil, nil))}, "grpc", nil},
	}
	for _, tc := range cases {
		if got := endpointAddrs(tc.slices, tc.port); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestServicePortName(t *testing.T) {
	svc := service("web", svcPort("http", 80), svcPort("admin", 9000))
	if name, ok := servicePortName(svc, 80, ""); !ok || name != "http" {
		t.Errorf("by number: %q %v", name, ok)
	}
	if name, ok := servicePortName(svc, 0, "admin"); !ok || name != "admin" {
		t.Errorf("by name: %q %v", name, ok)
	}
	if _, ok := servicePortName(svc, 81, ""); ok {
		t.Errorf("unknown port number resolved")
	}
}

func TestPickSkipsEjectedAndTried(t *testing.T) {
	a, b, c := newEndpoint("a:1"), newEndpoint("b:1"), newEndpoint("c:1")
	be := &backend{}
	be.eps.Store(&endpointSet{list: []*endpoint{a, b, c}})
	b.markFailure(time.Now())
	seen := map[*endpoint]int{}
	for range 30 {
		seen[be.pick(nil)]++
	}
	if seen[b] != 0 || seen[a] != 15 || seen[c] != 15 {
		t.Errorf("round robin over healthy endpoints: got a=%d b=%d c=%d", seen[a], seen[b], seen[c])
	}
	if got := be.pick([]*endpoint{a, c}); got != b {
		t.Errorf("all healthy ones tried: got %v, want the ejected one as a last resort", got)
	}
	if got := be.pick([]*endpoint{a, b, c}); got != nil {
		t.Errorf("everything tried: got %v, want nil", got)
	}
}
