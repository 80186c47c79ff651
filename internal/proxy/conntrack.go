package proxy

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ConntrackDeleter deletes conntrack entries; *netlink.Handle is one
// (tests pass a handle opened in their namespace).
type ConntrackDeleter interface {
	ConntrackDeleteFilters(table netlink.ConntrackTableType, family netlink.InetFamily, filters ...netlink.CustomConntrackFilter) (uint, error)
}

// udpPort is what conntrack cleanup needs to know about one UDP service
// port. UDP has no connection end, so a conntrack entry made for a flow
// keeps sending its packets where they first went, even after the rules
// change; upstream deletes those entries, and so does the proxy.
type udpPort struct {
	name        string
	clusterIPs  []netip.Addr
	lbIPs       []netip.Addr
	port        int32
	nodePort    int32
	internalEps []netip.Addr
	externalEps []netip.Addr
}

func newUDPPort(sp *servicePort, internalEps, externalEps []endpoint) udpPort {
	u := udpPort{name: sp.name, clusterIPs: sp.clusterIPs, port: sp.port, internalEps: epAddrs(internalEps)}
	if sp.nodePort != 0 || len(sp.lbIPs) > 0 {
		u.lbIPs, u.nodePort, u.externalEps = sp.lbIPs, sp.nodePort, epAddrs(externalEps)
	}
	return u
}

// flowFilter selects UDP conntrack entries: by original destination
// (address optional) and, when set, by the endpoint that answered.
type flowFilter struct {
	dst      netip.Addr
	port     int32
	replySrc netip.Addr
}

func epAddrs(eps []endpoint) []netip.Addr {
	out := make([]netip.Addr, 0, len(eps))
	for _, e := range eps {
		out = append(out, e.addr)
	}
	return out
}

// staleFlows lists the entries to delete after a Service's objects went
// from old to cur: flows answered by an endpoint that is gone, flows to a
// port that had no endpoints (they were rejected and would stay so), and
// flows to ports that no longer exist.
func staleFlows(old, cur *objects) []flowFilter {
	var out []flowFilter
	var oldPorts, curPorts []udpPort
	if old != nil {
		oldPorts = old.udp
	}
	if cur != nil {
		curPorts = cur.udp
	}
	for _, o := range oldPorts {
		i := slices.IndexFunc(curPorts, func(c udpPort) bool { return c.name == o.name })
		if i < 0 {
			out = append(out, destFlows(o, o.clusterIPs, o.lbIPs, o.nodePort, netip.Addr{})...)
			continue
		}
		c := curPorts[i]
		for _, ep := range o.internalEps {
			if !slices.Contains(c.internalEps, ep) {
				out = append(out, destFlows(c, c.clusterIPs, nil, 0, ep)...)
			}
		}
		for _, ep := range o.externalEps {
			if !slices.Contains(c.externalEps, ep) {
				out = append(out, destFlows(c, nil, c.lbIPs, c.nodePort, ep)...)
			}
		}
	}
	for _, c := range curPorts {
		var o udpPort
		if i := slices.IndexFunc(oldPorts, func(p udpPort) bool { return p.name == c.name }); i >= 0 {
			o = oldPorts[i]
		}
		if len(o.internalEps) == 0 && len(c.internalEps) > 0 {
			out = append(out, destFlows(c, c.clusterIPs, nil, 0, netip.Addr{})...)
		}
		if len(o.externalEps) == 0 && len(c.externalEps) > 0 {
			out = append(out, destFlows(c, nil, c.lbIPs, c.nodePort, netip.Addr{})...)
		}
	}
	return out
}

func destFlows(p udpPort, ips, lbIPs []netip.Addr, nodePort int32, replySrc netip.Addr) []flowFilter {
	var out []flowFilter
	for _, ip := range append(append([]netip.Addr{}, ips...), lbIPs...) {
		out = append(out, flowFilter{dst: ip, port: p.port, replySrc: replySrc})
	}
	if nodePort != 0 {
		out = append(out, flowFilter{port: nodePort, replySrc: replySrc})
	}
	return out
}

// deleteFlows removes the entries the filters select, for one family.
func deleteFlows(ct ConntrackDeleter, fam family, flows []flowFilter) error {
	if len(flows) == 0 || ct == nil {
		return nil
	}
	filters := make([]netlink.CustomConntrackFilter, 0, len(flows))
	for _, f := range flows {
		nf := &netlink.ConntrackFilter{}
		err := nf.AddProtocol(unix.IPPROTO_UDP)
		if err == nil {
			err = nf.AddPort(netlink.ConntrackOrigDstPort, uint16(f.port))
		}
		if err == nil && f.dst.IsValid() {
			err = nf.AddIP(netlink.ConntrackOrigDstIP, f.dst.AsSlice())
		}
		if err == nil && f.replySrc.IsValid() {
			err = nf.AddIP(netlink.ConntrackReplySrcIP, f.replySrc.AsSlice())
		}
		if err != nil {
			return fmt.Errorf("building conntrack filter: %w", err)
		}
		filters = append(filters, nf)
	}
	inet := netlink.InetFamily(unix.AF_INET)
	if !fam.v4 {
		inet = netlink.InetFamily(unix.AF_INET6)
	}
	if _, err := ct.ConntrackDeleteFilters(netlink.ConntrackTable, inet, filters...); err != nil {
		return fmt.Errorf("deleting stale UDP conntrack entries: %w", err)
	}
	return nil
}
