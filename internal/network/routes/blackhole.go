package routes

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Protocol marks the routes Skiff installs (`ip route` shows "proto 83"),
// so that they can be told from anyone else's and removed exactly.
const Protocol netlink.RouteProtocol = 83

// Metric is the blackhole routes' metric. Only routes to the very same
// prefix compare metrics, so a high one costs nothing against the
// default route or the more specific pod routes, and it keeps Skiff from
// replacing a route to the same prefix that someone else installed with
// the usual metric 0: theirs wins.
const Metric = 4242

// Blackholes are the node's routes for the cluster's ranges, so that no
// packet for them leaves the machine. Prefixes (the cluster's pod CIDRs)
// get blackhole routes: pod subnets routed somewhere (the local one on
// the bridge, other nodes' through them) are more specific and win, and a
// packet for any other address in these ranges is dropped here instead of
// following the default route out. Local (the service CIDRs) get local
// routes in the local table: the node's own connections to a ClusterIP
// are routed before the service proxy's nat output hook rewrites them,
// and a blackhole there fails them with EINVAL, while a local route keeps
// them on the node for the hook to translate. An address no Service holds
// is dropped by the proxy's rules, or answered by the node itself, never
// sent out.
type Blackholes struct {
	Prefixes []netip.Prefix
	Local    []netip.Prefix
	// Handle is the netlink socket to use; nil means the calling
	// process's own network namespace. Tests pass a handle into a
	// namespace they made.
	Handle *netlink.Handle
}

func (b Blackholes) handle() *netlink.Handle {
	if b.Handle != nil {
		return b.Handle
	}
	return &netlink.Handle{} // the package's default: the current namespace
}

func route(p netip.Prefix) *netlink.Route {
	p = p.Masked()
	family := netlink.FAMILY_V4
	if p.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	return &netlink.Route{
		Dst:      &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Type:     unix.RTN_BLACKHOLE,
		Protocol: Protocol,
		Priority: Metric,
		Table:    unix.RT_TABLE_MAIN,
		Family:   family,
	}
}

// localRoute routes p to the node itself, through lo.
func (b Blackholes) localRoute(p netip.Prefix) (*netlink.Route, error) {
	lo, err := b.handle().LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("finding lo: %w", err)
	}
	r := route(p)
	r.Type, r.Table, r.Scope, r.LinkIndex, r.Priority = unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, netlink.SCOPE_HOST, lo.Attrs().Index, 0
	return r, nil
}

// routes lists every route Install makes.
func (b Blackholes) routes() ([]*netlink.Route, error) {
	var out []*netlink.Route
	for _, p := range b.Prefixes {
		out = append(out, route(p))
	}
	for _, p := range b.Local {
		r, err := b.localRoute(p)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Install adds (or refreshes) a blackhole route for every prefix. It is
// idempotent, so an agent restarting over its own routes just replaces
// them.
func (b Blackholes) Install() error {
	rs, err := b.routes()
	if err != nil {
		return err
	}
	h := b.handle()
	for _, r := range rs {
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("installing route for %s: %w", r.Dst, err)
		}
	}
	return nil
}

// Remove deletes the blackhole routes Install made; routes already gone
// are not an error. It tries every prefix and returns the errors joined.
func (b Blackholes) Remove() error {
	rs, err := b.routes()
	if err != nil {
		return err
	}
	h := b.handle()
	var errs []error
	for _, r := range rs {
		err := h.RouteDel(r)
		if err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("removing route for %s: %w", r.Dst, err))
		}
	}
	return errors.Join(errs...)
}

// Installed lists which of the prefixes currently have Skiff's blackhole
// route, for status reporting and tests.
func (b Blackholes) Installed() ([]netip.Prefix, error) {
	rs, err := b.routes()
	if err != nil {
		return nil, err
	}
	h := b.handle()
	var out []netip.Prefix
	for _, r := range rs {
		found, err := h.RouteListFiltered(r.Family, r,
			netlink.RT_FILTER_DST|netlink.RT_FILTER_TYPE|netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("listing routes for %s: %w", r.Dst, err)
		}
		if len(found) > 0 {
			ones, _ := r.Dst.Mask.Size()
			addr, _ := netip.AddrFromSlice(r.Dst.IP)
			out = append(out, netip.PrefixFrom(addr.Unmap(), ones))
		}
	}
	return out, nil
}
