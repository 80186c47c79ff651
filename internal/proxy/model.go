package proxy

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// servicePort is one port of one Service, reduced to what the rules need
// for one IP family. It is built fresh from the informers' caches on every
// sync of its Service, so nothing here is ever mutated.
type servicePort struct {
	// name is "namespace/service/protocol/port", the readable part of every
	// chain name this port owns.
	name       string
	protocol   string // nftables l4proto: tcp, udp, sctp
	port       int32
	clusterIPs []netip.Addr
	nodePort   int32
	lbIPs      []netip.Addr
	// affinity is the ClientIP session affinity timeout; zero means none.
	affinity      time.Duration
	internalLocal bool
	externalLocal bool
	endpoints     []endpoint
}

// endpoint is one backend of a servicePort.
type endpoint struct {
	addr        netip.Addr
	port        int32
	ready       bool
	serving     bool
	terminating bool
	local       bool
}

// usable picks the endpoints traffic may go to, as upstream does: the
// ready ones, or, when none is ready, the ones still serving while
// terminating so that connections keep working through a rollout's tail.
// With localOnly only endpoints on this node count.
func usable(eps []endpoint, localOnly bool) []endpoint {
	var ready, terminating []endpoint
	for _, ep := range eps {
		if localOnly && !ep.local {
			continue
		}
		switch {
		case ep.ready:
			ready = append(ready, ep)
		case ep.serving && ep.terminating:
			terminating = append(terminating, ep)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return terminating
}

// hasServingEndpoints reports whether the port has any endpoint at all that
// could take traffic, on any node. It decides between "reject" (nothing
// anywhere) and "drop" (endpoints exist but policy excludes them here).
func hasServingEndpoints(eps []endpoint) bool {
	return len(usable(eps, false)) > 0
}

// servicePorts turns a Service and its EndpointSlices into the ports the
// proxy programs for one family. Headless and ExternalName services give
// nothing: they are DNS-only, as upstream.
func servicePorts(svc *v1.Service, slices []*discoveryv1.EndpointSlice, fam family, nodeName string) []servicePort {
	if svc.Spec.Type == v1.ServiceTypeExternalName || svc.Spec.ClusterIP == v1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		return nil
	}
	clusterIPs := familyAddrs(svc.Spec.ClusterIPs, fam)
	if len(svc.Spec.ClusterIPs) == 0 {
		clusterIPs = familyAddrs([]string{svc.Spec.ClusterIP}, fam)
	}
	if len(clusterIPs) == 0 {
		return nil
	}
	var lbIPs []string
	if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			lbIPs = append(lbIPs, ing.IP)
		}
	}
	var affinity time.Duration
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		affinity = time.Duration(v1.DefaultClientIPServiceAffinitySeconds) * time.Second
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	external := svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer
	var out []servicePort
	for _, p := range svc.Spec.Ports {
		portName := p.Name
		if portName == "" {
			portName = "p" + strconv.Itoa(int(p.Port))
		}
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		sp := servicePort{
			name:          fmt.Sprintf("%s/%s/%s/%s", svc.Namespace, svc.Name, proto, portName),
			protocol:      proto,
			port:          p.Port,
			clusterIPs:    clusterIPs,
			lbIPs:         familyAddrs(lbIPs, fam),
			affinity:      affinity,
			internalLocal: svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal,
			externalLocal: external && svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal,
			endpoints:     sliceEndpoints(slices, p, fam, nodeName),
		}
		if external {
			sp.nodePort = p.NodePort
		}
		out = append(out, sp)
	}
	return out
}

// sliceEndpoints collects the endpoints of one service port from all the
// Service's slices of the family. An address seen in two slices (as during
// an EndpointSlice controller's reshuffle) counts once.
func sliceEndpoints(slices []*discoveryv1.EndpointSlice, sp v1.ServicePort, fam family, nodeName string) []endpoint {
	seen := map[netip.AddrPort]bool{}
	var eps []endpoint
	for _, s := range slices {
		if s.AddressType != fam.addressType {
			continue
		}
		port, ok := slicePort(s, sp)
		if !ok {
			continue
		}
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				addr, err := netip.ParseAddr(a)
				if err != nil || seen[netip.AddrPortFrom(addr, uint16(port))] {
					continue
				}
				seen[netip.AddrPortFrom(addr, uint16(port))] = true
				eps = append(eps, endpointFrom(addr, port, e.Conditions, e.NodeName, nodeName))
			}
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].addr.Less(eps[j].addr) })
	return eps
}

// slicePort finds the slice's port for a service port: by name, as the
// EndpointSlice controller names slice ports after service ports.
func slicePort(s *discoveryv1.EndpointSlice, sp v1.ServicePort) (int32, bool) {
	for _, p := range s.Ports {
		name, proto := "", v1.ProtocolTCP
		if p.Name != nil {
			name = *p.Name
		}
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		want := sp.Protocol
		if want == "" {
			want = v1.ProtocolTCP
		}
		if name == sp.Name && proto == want && p.Port != nil {
			return *p.Port, true
		}
	}
	return 0, false
}

// endpointFrom applies the EndpointSlice API's defaults: a nil ready means
// ready, a nil serving means the same as ready.
func endpointFrom(addr netip.Addr, port int32, c discoveryv1.EndpointConditions, epNode *string, nodeName string) endpoint {
	ready := c.Ready == nil || *c.Ready
	serving := ready
	if c.Serving != nil {
		serving = *c.Serving
	}
	return endpoint{
		addr:        addr,
		port:        port,
		ready:       ready,
		serving:     serving,
		terminating: c.Terminating != nil && *c.Terminating,
		local:       epNode != nil && *epNode == nodeName,
	}
}

func familyAddrs(ips []string, fam family) []netip.Addr {
	var out []netip.Addr
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err == nil && a.Is4() == fam.v4 {
			out = append(out, a)
		}
	}
	return out
}
