package dns

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// entry holds every record one owner name answers with, built once when the
// Service or its slices change so a query only appends prepared records.
type entry struct {
	a, aaaa []dns.RR
	srv     []dns.RR
	// srvExtra is the additional section of an SRV answer: the targets'
	// addresses, so a client needs no second round trip.
	srvExtra []dns.RR
	cname    *dns.CNAME
}

// ptrItem is one PTR record for a reverse name. Service ClusterIPs take
// precedence over endpoint addresses, as CoreDNS answers them.
type ptrItem struct {
	rr      *dns.PTR
	service bool
}

// serviceRecords is everything one Service contributes to the zone.
type serviceRecords struct {
	names map[string]*entry
	// ptrs maps reverse owner names (x.in-addr.arpa.) to their records.
	ptrs map[string][]ptrItem
}

// endpointAddr is one ready endpoint address with the name CoreDNS would
// give it and the ports of the slice it came from.
type endpointAddr struct {
	host  string
	addr  netip.Addr
	ports []discoveryv1.EndpointPort
}

// builder carries what every record needs while building one Service.
type builder struct {
	ttl uint32
	out *serviceRecords
}

// buildService computes the records of svc from its EndpointSlices. It is a
// pure function of its inputs so the tests can check it without a server.
// It returns nil when the Service contributes no names.
func buildService(svc *corev1.Service, sl []*discoveryv1.EndpointSlice, zone string, ttl uint32) *serviceRecords {
	b := builder{ttl: ttl, out: &serviceRecords{names: map[string]*entry{}, ptrs: map[string][]ptrItem{}}}
	svcName := strings.ToLower(svc.Name + "." + svc.Namespace + ".svc." + zone)

	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// Upstream serves a CNAME only when the target is a name; an IP
		// written as externalName answers nothing.
		target := strings.TrimSuffix(strings.ToLower(svc.Spec.ExternalName), ".")
		if target == "" || !isDomainName(target) {
			return nil
		}
		e := b.entry(svcName)
		e.cname = &dns.CNAME{Hdr: b.hdr(svcName, dns.TypeCNAME), Target: dns.Fqdn(target)}
		return b.out
	}

	eps := readyEndpoints(sl)
	b.endpointNames(svcName, eps)

	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		b.headless(svcName, eps)
	} else if svc.Spec.ClusterIP != "" {
		b.clusterIP(svc, svcName)
	}
	if len(b.out.names) == 0 {
		return nil
	}
	weighSRV(b.out.names)
	for _, e := range b.out.names {
		// Replies share these slices; clipping makes any append (the OPT
		// record goes into Extra) copy instead of writing into them.
		e.a, e.aaaa, e.srv, e.srvExtra = slices.Clip(e.a), slices.Clip(e.aaaa), slices.Clip(e.srv), slices.Clip(e.srvExtra)
	}
	return b.out
}

func isDomainName(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return false
	}
	_, ok := dns.IsDomainName(s)
	return ok
}

func (b *builder) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: b.ttl}
}

func (b *builder) entry(name string) *entry {
	e := b.out.names[name]
	if e == nil {
		e = &entry{}
		b.out.names[name] = e
	}
	return e
}

// addrRR appends an A or AAAA record for addr under name unless present.
func (b *builder) addrRR(e *entry, name string, addr netip.Addr) {
	if addr.Is4() {
		for _, rr := range e.a {
			if netip.AddrFrom4([4]byte(rr.(*dns.A).A.To4())) == addr {
				return
			}
		}
		e.a = append(e.a, &dns.A{Hdr: b.hdr(name, dns.TypeA), A: addr.AsSlice()})
		return
	}
	for _, rr := range e.aaaa {
		if netip.AddrFrom16([16]byte(rr.(*dns.AAAA).AAAA.To16())) == addr {
			return
		}
	}
	e.aaaa = append(e.aaaa, &dns.AAAA{Hdr: b.hdr(name, dns.TypeAAAA), AAAA: addr.AsSlice()})
}

func (b *builder) ptr(addr netip.Addr, target string, service bool) {
	rev, err := dns.ReverseAddr(addr.String())
	if err != nil {
		return
	}
	for _, it := range b.out.ptrs[rev] {
		if it.rr.Ptr == target {
			return
		}
	}
	rr := &dns.PTR{Hdr: b.hdr(rev, dns.TypePTR), Ptr: target}
	b.out.ptrs[rev] = append(b.out.ptrs[rev], ptrItem{rr: rr, service: service})
}

// clusterIP adds the Service's virtual addresses and one SRV record per port
// pointing back at the Service name.
func (b *builder) clusterIP(svc *corev1.Service, svcName string) {
	e := b.entry(svcName)
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		addr = addr.Unmap()
		b.addrRR(e, svcName, addr)
		b.ptr(addr, svcName, true)
	}
	glue := slices.Concat(e.a, e.aaaa)
	for _, p := range svc.Spec.Ports {
		e.srv = appendSRV(e.srv, b.srv(svcName, p.Port))
		e.srvExtra = glue
		if p.Name == "" {
			continue
		}
		pe := b.entry(srvName(p.Name, string(p.Protocol), svcName))
		pe.srv = appendSRV(pe.srv, b.srv(svcName, p.Port))
		pe.srvExtra = glue
	}
}

func (b *builder) srv(target string, port int32) *dns.SRV {
	return &dns.SRV{Hdr: b.hdr("", dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(port), Target: target}
}

// srvName is _port._proto.<service name>, lower case as stored.
func srvName(port, proto, svcName string) string {
	return "_" + strings.ToLower(port) + "._" + strings.ToLower(proto) + "." + svcName
}

// headless answers the Service name with every ready endpoint, and SRV
// records per endpoint and port that target the endpoint's own name.
func (b *builder) headless(svcName string, eps []endpointAddr) {
	if len(eps) == 0 {
		// CoreDNS answers NXDOMAIN for a headless Service without ready
		// endpoints: no name is created.
		return
	}
	e := b.entry(svcName)
	for _, ep := range eps {
		b.addrRR(e, svcName, ep.addr)
		epName := ep.host + "." + svcName
		target := b.out.names[epName]
		glue := slices.Concat(target.a, target.aaaa)
		for _, p := range ep.ports {
			if p.Port == nil {
				continue
			}
			e.srv = appendSRV(e.srv, b.srv(epName, *p.Port))
			e.srvExtra = appendRRs(e.srvExtra, glue)
			if p.Name == nil || *p.Name == "" {
				continue
			}
			proto := string(corev1.ProtocolTCP)
			if p.Protocol != nil {
				proto = string(*p.Protocol)
			}
			pe := b.entry(srvName(*p.Name, proto, svcName))
			pe.srv = appendSRV(pe.srv, b.srv(epName, *p.Port))
			pe.srvExtra = appendRRs(pe.srvExtra, glue)
		}
	}
}

// endpointNames gives every ready endpoint its own name under the Service
// (hostname, or the dashed address), with a PTR back to it. CoreDNS does
// this for every Service with endpoints, not only headless ones.
func (b *builder) endpointNames(svcName string, eps []endpointAddr) {
	var names []string
	for _, ep := range eps {
		name := ep.host + "." + svcName
		e := b.entry(name)
		if len(e.a)+len(e.aaaa) == 0 {
			names = append(names, name)
		}
		b.addrRR(e, name, ep.addr)
		b.ptr(ep.addr, name, false)
		for _, p := range ep.ports {
			if p.Port != nil {
				e.srv = appendSRV(e.srv, b.srv(name, *p.Port))
			}
		}
	}
	for _, name := range names {
		e := b.out.names[name]
		e.srvExtra = slices.Concat(e.a, e.aaaa)
	}
}

func appendSRV(list []dns.RR, rr *dns.SRV) []dns.RR {
	for _, old := range list {
		o := old.(*dns.SRV)
		if o.Port == rr.Port && o.Target == rr.Target {
			return list
		}
	}
	return append(list, rr)
}

func appendRRs(list, add []dns.RR) []dns.RR {
	for _, rr := range add {
		if !slices.Contains(list, rr) {
			list = append(list, rr)
		}
	}
	return list
}

// weighSRV sets owner names and weights once the sets are complete. CoreDNS
// splits a weight of 100 evenly across the records of one priority, so
// three endpoints get 33 each.
func weighSRV(names map[string]*entry) {
	for name, e := range names {
		if len(e.srv) == 0 {
			continue
		}
		w := uint16(100 / len(e.srv))
		for _, rr := range e.srv {
			s := rr.(*dns.SRV)
			s.Hdr.Name = name
			s.Weight = w
		}
	}
}

// readyEndpoints flattens the slices into the addresses DNS publishes:
// ready (or unknown) endpoints, as CoreDNS reads the conditions; the
// EndpointSlice controller already marks every endpoint ready when the
// Service sets publishNotReadyAddresses.
func readyEndpoints(sl []*discoveryv1.EndpointSlice) []endpointAddr {
	var out []endpointAddr
	for _, s := range sl {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				addr, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				addr = addr.Unmap()
				out = append(out, endpointAddr{host: endpointHost(ep.Hostname, addr), addr: addr, ports: s.Ports})
			}
		}
	}
	// Slices come from a map-backed cache; sort so answers are stable.
	slices.SortFunc(out, func(x, y endpointAddr) int {
		if c := strings.Compare(x.host, y.host); c != 0 {
			return c
		}
		return x.addr.Compare(y.addr)
	})
	return out
}

// endpointHost is the endpoint's hostname, or its address with dots or
// colons turned into dashes (CoreDNS's name for endpoints without one).
func endpointHost(hostname *string, addr netip.Addr) string {
	if hostname != nil && *hostname != "" {
		return strings.ToLower(*hostname)
	}
	s := addr.String()
	if addr.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	return strings.ReplaceAll(s, ":", "-")
}
