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

// Blackholes are the node's blackhole routes for the cluster (pod) and
// service CIDRs. Pod subnets routed somewhere (the local one on the
// bridge, other nodes' through them) are more specific and win; a packet
// for any other address in these ranges, one that no service rule or pod
// claimed, is dropped here instead of following the default route out of
// the machine.
type Blackholes struct {
	Prefixes []netip.Prefix
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

// Install adds (or refreshes) a blackhole route for every prefix. It is
// idempotent, so an agent restarting over its own routes just replaces
// them.
func (b Blackholes) Install() error {
	h := b.handle()
	for _, p := range b.Prefixes {
		if err := h.RouteReplace(route(p)); err != nil {
			return fmt.Errorf("installing blackhole route for %s: %w", p, err)
		}
	}
	return nil
}

// Remove deletes the blackhole routes Install made; routes already gone
// are not an error. It tries every prefix and returns the errors joined.
func (b Blackholes) Remove() error {
	h := b.handle()
	var errs []error
	for _, p := range b.Prefixes {
		err := h.RouteDel(route(p))
		if err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("removing blackhole route for %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// Installed lists which of the prefixes currently have Skiff's blackhole
// route, for status reporting and tests.
func (b Blackholes) Installed() ([]netip.Prefix, error) {
	h := b.handle()
	var out []netip.Prefix
	for _, p := range b.Prefixes {
		r := route(p)
		found, err := h.RouteListFiltered(r.Family, r,
			netlink.RT_FILTER_DST|netlink.RT_FILTER_TYPE|netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("listing routes for %s: %w", p, err)
		}
		if len(found) > 0 {
			out = append(out, p.Masked())
		}
	}
	return out, nil
}
