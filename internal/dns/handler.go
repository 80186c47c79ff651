package dns

import (
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// dnsSchemaVersion is the spec version answered at dns-version.<zone> TXT.
const dnsSchemaVersion = "1.1.0"

// maxCNAMEChase bounds following ExternalName targets inside the zone, so a
// loop of ExternalName Services cannot spin.
const maxCNAMEChase = 8

var _ dns.Handler = (*Server)(nil)

// ServeDNS answers one query: the cluster zone from memory, a reverse name
// from the Service and endpoint index, anything else through the upstreams.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	tcp := isTCP(w)
	m := s.reply(r, tcp)
	finish(r, m, tcp)
	// A write error means the client went away; there is nobody to tell.
	_ = w.WriteMsg(m)
}

func isTCP(w dns.ResponseWriter) bool {
	_, ok := w.RemoteAddr().(*net.TCPAddr)
	return ok
}

func (s *Server) reply(r *dns.Msg, tcp bool) *dns.Msg {
	if r.Opcode != dns.OpcodeQuery {
		return new(dns.Msg).SetRcode(r, dns.RcodeNotImplemented)
	}
	if len(r.Question) != 1 {
		return new(dns.Msg).SetRcode(r, dns.RcodeFormatError)
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	switch {
	case s.inZone(name):
		return s.replyZone(r, name)
	case q.Qtype == dns.TypePTR && isReverse(name):
		// Like the default Corefile's "fallthrough in-addr.arpa ip6.arpa":
		// addresses we do not know are the upstreams' to answer.
		if ptrs := s.table.reverse(name, nil); len(ptrs) > 0 {
			m := new(dns.Msg).SetReply(r)
			m.Authoritative, m.RecursionAvailable = true, true
			m.Answer = preserveCase(ptrs, name, q.Name)
			return m
		}
	}
	return s.fwd.forward(r, tcp)
}

// inZone reports whether a lower-case FQDN is the zone or below it. It is
// a suffix check on label boundaries rather than dns.IsSubDomain, which
// splits both names into new slices on every query.
func (s *Server) inZone(name string) bool {
	if !strings.HasSuffix(name, s.zone) {
		return false
	}
	rest := len(name) - len(s.zone)
	return rest == 0 || name[rest-1] == '.'
}

func isReverse(name string) bool {
	return strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.")
}

func (s *Server) replyZone(r *dns.Msg, name string) *dns.Msg {
	q := r.Question[0]
	answer, extra, rcode := s.lookupZone(name, q.Qtype, 0)
	m := new(dns.Msg).SetReply(r)
	m.Authoritative, m.RecursionAvailable = true, true
	if rcode == dns.RcodeNameError && !s.Ready() {
		// An incomplete table must not make clients cache a negative.
		m.Rcode = dns.RcodeServerFailure
		m.Authoritative = false
		return m
	}
	m.Rcode = rcode
	m.Answer = preserveCase(answer, name, q.Name)
	m.Extra = extra
	if len(answer) == 0 {
		// NXDOMAIN and NODATA carry the SOA, whose minimum is the negative
		// caching TTL (RFC 2308).
		m.Ns = []dns.RR{s.soa()}
	}
	return m
}

// preserveCase answers under the spelling the client asked, since some
// resolvers (0x20 randomisation) compare it exactly. Records are shared,
// so only a mixed-case query pays for copies.
func preserveCase(rrs []dns.RR, lower, asked string) []dns.RR {
	if lower == asked {
		return rrs
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		if rr.Header().Name == lower {
			rr = dns.Copy(rr)
			rr.Header().Name = asked
		}
		out[i] = rr
	}
	return out
}

// lookupZone resolves a lower-case name inside the zone. An empty answer
// with RcodeSuccess is NODATA: the name exists, not with this type.
func (s *Server) lookupZone(name string, qtype uint16, depth int) (answer, extra []dns.RR, rcode int) {
	rel := strings.TrimSuffix(strings.TrimSuffix(name, s.zone), ".")
	switch {
	case rel == "":
		if qtype == dns.TypeNS {
			return s.apex(qtype), s.nsAddrs, dns.RcodeSuccess
		}
		return s.apex(qtype), nil, dns.RcodeSuccess
	case rel == "dns-version":
		if qtype == dns.TypeTXT {
			txt := &dns.TXT{Hdr: s.hdr(name, dns.TypeTXT), Txt: []string{dnsSchemaVersion}}
			return []dns.RR{txt}, nil, dns.RcodeSuccess
		}
		return nil, nil, dns.RcodeSuccess
	case rel == "ns.dns":
		return filterType(s.nsAddrs, qtype), nil, dns.RcodeSuccess
	case rel == "svc", rel == "pod", rel == "dns":
		return nil, nil, dns.RcodeSuccess
	case strings.HasSuffix(rel, ".pod"):
		return s.pod(name, strings.TrimSuffix(rel, ".pod"), qtype)
	case strings.HasSuffix(rel, ".svc"):
		if ns := strings.TrimSuffix(rel, ".svc"); !strings.Contains(ns, ".") {
			return nil, nil, s.namespaceRcode(ns)
		}
		return s.service(name, qtype, depth)
	}
	return nil, nil, dns.RcodeNameError
}

func (s *Server) apex(qtype uint16) []dns.RR {
	switch qtype {
	case dns.TypeSOA:
		return []dns.RR{s.soa()}
	case dns.TypeNS:
		return []dns.RR{&dns.NS{Hdr: s.hdr(s.zone, dns.TypeNS), Ns: "ns.dns." + s.zone}}
	}
	return nil
}

// soa mirrors CoreDNS's: the serial is the time of the last change and
// every timer that matters to caches is the record TTL.
func (s *Server) soa() *dns.SOA {
	return &dns.SOA{
		Hdr:     s.hdr(s.zone, dns.TypeSOA),
		Ns:      "ns.dns." + s.zone,
		Mbox:    "hostmaster." + s.zone,
		Serial:  s.table.serial(),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  s.ttl,
	}
}

func filterType(rrs []dns.RR, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out
}

func (s *Server) namespaceRcode(ns string) int {
	if _, exists, err := s.nsStore.GetByKey(ns); err == nil && exists {
		return dns.RcodeSuccess
	}
	return dns.RcodeNameError
}

// pod answers a-b-c-d.<ns>.pod.<zone> the way CoreDNS's "pods insecure"
// does: the address is parsed from the name and not checked against pods.
func (s *Server) pod(name, rel string, qtype uint16) ([]dns.RR, []dns.RR, int) {
	label, ns, ok := strings.Cut(rel, ".")
	if !ok || strings.Contains(ns, ".") {
		return nil, nil, dns.RcodeNameError
	}
	if rc := s.namespaceRcode(ns); rc != dns.RcodeSuccess {
		return nil, nil, rc
	}
	addr, ok := podAddr(label)
	if !ok {
		return nil, nil, dns.RcodeNameError
	}
	switch {
	case qtype == dns.TypeA && addr.Is4():
		return []dns.RR{&dns.A{Hdr: s.hdr(name, dns.TypeA), A: addr.AsSlice()}}, nil, dns.RcodeSuccess
	case qtype == dns.TypeAAAA && addr.Is6():
		return []dns.RR{&dns.AAAA{Hdr: s.hdr(name, dns.TypeAAAA), AAAA: addr.AsSlice()}}, nil, dns.RcodeSuccess
	}
	return nil, nil, dns.RcodeSuccess
}

// podAddr reverses the dashed form: three dashes and no "--" is IPv4,
// anything else is tried as IPv6 ("fd00--1" is fd00::1).
func podAddr(label string) (netip.Addr, bool) {
	var text string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		text = strings.ReplaceAll(label, "-", ".")
	} else {
		text = strings.ReplaceAll(label, "-", ":")
	}
	addr, err := netip.ParseAddr(text)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

func (s *Server) service(name string, qtype uint16, depth int) ([]dns.RR, []dns.RR, int) {
	e := s.table.lookup(name)
	if e == nil {
		return nil, nil, dns.RcodeNameError
	}
	if e.cname != nil {
		return s.chase(e.cname, qtype, depth), nil, dns.RcodeSuccess
	}
	switch qtype {
	case dns.TypeA:
		return e.a, nil, dns.RcodeSuccess
	case dns.TypeAAAA:
		return e.aaaa, nil, dns.RcodeSuccess
	case dns.TypeSRV:
		return e.srv, e.srvExtra, dns.RcodeSuccess
	}
	return nil, nil, dns.RcodeSuccess
}

// chase answers an ExternalName: the CNAME, followed (for address queries)
// by the target's records, from the zone or the upstreams, as CoreDNS
// does, so stub resolvers need no second query. A target that does not
// resolve still leaves the CNAME for the client to follow.
func (s *Server) chase(cname *dns.CNAME, qtype uint16, depth int) []dns.RR {
	out := []dns.RR{cname}
	if qtype == dns.TypeCNAME || depth >= maxCNAMEChase {
		return out
	}
	target := cname.Target
	if s.inZone(strings.ToLower(target)) {
		more, _, _ := s.lookupZone(target, qtype, depth+1)
		return append(out, more...)
	}
	if qtype != dns.TypeA && qtype != dns.TypeAAAA {
		return out
	}
	if reply := s.fwd.resolve(target, qtype); reply != nil {
		out = append(out, reply.Answer...)
	}
	return out
}

// finish applies the transport's size: EDNS0 clients get up to what they
// advertise (capped at maxUDPSize), others the classic 512 bytes; what
// does not fit is dropped with TC set so the client retries over TCP.
func finish(r, m *dns.Msg, tcp bool) {
	size := dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		size = min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPSize)
		if m.IsEdns0() == nil {
			m.SetEdns0(maxUDPSize, opt.Do())
		}
	}
	if tcp {
		m.Compress = true
		return
	}
	m.Truncate(size)
}
