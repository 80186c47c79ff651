package proxy

import (
	"net/netip"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestStaleFlows(t *testing.T) {
	cip, ep1, ep2 := mustAddr("10.96.0.53"), mustAddr("10.244.0.11"), mustAddr("10.244.0.12")
	port := func(eps ...netip.Addr) *objects {
		return &objects{udp: []udpPort{{name: "kube-system/dns/udp/dns", clusterIPs: []netip.Addr{cip}, port: 53, nodePort: 30053, internalEps: eps, externalEps: eps}}}
	}
	for _, tc := range []struct {
		name     string
		old, cur *objects
		want     []flowFilter
	}{
		{"endpoint removed: its answered flows go", port(ep1, ep2), port(ep1), []flowFilter{
			{dst: cip, port: 53, replySrc: ep2}, {port: 30053, replySrc: ep2}}},
		{"first endpoint: rejected flows go", port(), port(ep1), []flowFilter{{dst: cip, port: 53}, {port: 30053}}},
		{"service gone", port(ep1), nil, []flowFilter{{dst: cip, port: 53}, {port: 30053}}},
		{"endpoint added to a served port: nothing", port(ep1), port(ep1, ep2), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := staleFlows(tc.old, tc.cur); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestUDPEndpointRemovalCleansConntrack(t *testing.T) {
	dns := service("kube-system", "dns", "10.96.0.53", []v1.ServicePort{{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353)}})
	s := udpSlice(ep{ip: "10.244.0.11"}, ep{ip: "10.244.0.12"})
	h := newHarness(t, dns, s)
	before := h.ct.filters
	upd := udpSlice(ep{ip: "10.244.0.11"})
	h.updateSlice(upd)
	h.sync()
	if got := h.ct.filters - before; got != 1 {
		t.Errorf("conntrack filters after removing one UDP endpoint: %d, want 1 (cluster IP answered by it)", got)
	}
}

func udpSlice(eps ...ep) *discoveryv1.EndpointSlice {
	s := slice("kube-system", "dns", "dns-1", map[string]int32{"dns": 5353}, eps...)
	s.Ports[0].Protocol = ptr(v1.ProtocolUDP)
	return s
}
