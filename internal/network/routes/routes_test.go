package routes

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/internal/network/netnstest"
)

// nodeNS is a namespace with an uplink carrying the default route
// (a stand-in for the node's real one) and a local pod subnet route, so
// route lookups show what wins. RouteGet sends no packets.
func nodeNS(t *testing.T) (*netnstest.NetNS, *netlink.Handle, netlink.Link) {
	t.Helper()
	ns := netnstest.New(t, "rt")
	h, err := netlink.NewHandleAt(ns.Handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	// A veth pair rather than a dummy: the dummy module may not be
	// loaded, and veth is there wherever CNI's bridge plugin works.
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink"}, PeerName: "uplink-peer"}); err != nil {
		t.Fatal(err)
	}
	link, err := h.LinkByName("uplink")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := netlink.ParseAddr("192.0.2.10/24")
	if err := h.AddrAdd(link, addr); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"uplink", "uplink-peer"} {
		l, err := h.LinkByName(name)
		if err == nil {
			err = h.LinkSetUp(l)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*netlink.Route{
		{Dst: mustNet("0.0.0.0/0"), Gw: net.ParseIP("192.0.2.1"), LinkIndex: link.Attrs().Index},
		{Dst: mustNet("10.42.7.0/24"), LinkIndex: link.Attrs().Index, Scope: netlink.SCOPE_LINK},
		// Someone else's route to the service CIDR: must survive Remove.
		{Dst: mustNet("10.43.0.0/16"), LinkIndex: link.Attrs().Index, Scope: netlink.SCOPE_LINK},
	} {
		if err := h.RouteAdd(r); err != nil {
			t.Fatalf("adding %v: %v", r.Dst, err)
		}
	}
	return ns, h, link
}

func mustNet(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// lookup is the type of route and the device the kernel picks for ip.
func lookup(t *testing.T, h *netlink.Handle, ip string) (int, int) {
	t.Helper()
	rs, err := h.RouteGet(net.ParseIP(ip))
	if err != nil {
		// The kernel answers a lookup into a blackhole with EINVAL.
		if strings.Contains(err.Error(), "invalid argument") {
			return unix.RTN_BLACKHOLE, 0
		}
		t.Fatalf("route get %s: %v", ip, err)
	}
	return rs[0].Type, rs[0].LinkIndex
}

func TestBlackholesDropUnclaimedClusterAddresses(t *testing.T) {
	netnstest.RequireRoot(t)
	_, h, link := nodeNS(t)
	b := Blackholes{Handle: h,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16"), netip.MustParsePrefix("fd00:42::/56")},
		Local:    []netip.Prefix{netip.MustParsePrefix("10.43.0.0/16")},
	}
	if typ, _ := lookup(t, h, "10.42.9.9"); typ == unix.RTN_BLACKHOLE {
		t.Fatal("blackholed before Install")
	}
	for range 2 { // idempotent: a restarted agent installs again
		if err := b.Install(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.Installed()
	if err != nil || len(got) != 3 {
		t.Fatalf("Installed = %v, %v; want all three", got, err)
	}
	if typ, _ := lookup(t, h, "10.42.9.9"); typ != unix.RTN_BLACKHOLE {
		t.Errorf("10.42.9.9 (no pod route) routes as type %d, want blackhole", typ)
	}
	// The local pod subnet is more specific and wins.
	if typ, dev := lookup(t, h, "10.42.7.5"); typ != unix.RTN_UNICAST || dev != link.Attrs().Index {
		t.Errorf("10.42.7.5 routes as type %d dev %d, want unicast via uplink", typ, dev)
	}
	// The service range stays on the node, whatever the main table says,
	// so the node's own connections reach the proxy's nat output hook.
	if typ, _ := lookup(t, h, "10.43.0.10"); typ != unix.RTN_LOCAL {
		t.Errorf("10.43.0.10 routes as type %d, want local", typ)
	}

	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if got, err := b.Installed(); err != nil || len(got) != 0 {
		t.Fatalf("after Remove, Installed = %v, %v", got, err)
	}
	if typ, _ := lookup(t, h, "10.43.0.10"); typ != unix.RTN_UNICAST {
		t.Error("Remove deleted someone else's route to the service CIDR")
	}
	if typ, _ := lookup(t, h, "10.42.9.9"); typ == unix.RTN_BLACKHOLE {
		t.Error("still blackholed after Remove")
	}
}

func TestSysctlsInANamespace(t *testing.T) {
	netnstest.RequireRoot(t)
	before, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	ns := netnstest.New(t, "sc")
	var after []byte
	err = ns.Do(func() error {
		if _, err := (Sysctls{IPv6: true}).Apply(); err != nil {
			return err
		}
		after, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(after)) != "1" {
		t.Fatalf("ip_forward in the namespace = %q, want 1", after)
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(before) {
		t.Fatalf("the machine's own ip_forward changed from %q to %q", before, now)
	}
}

func TestSysctlsBridgeNetfilterOnlyWhenLoaded(t *testing.T) {
	root := t.TempDir()
	write := func(key, val string) {
		p := filepath.Join(root, key)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(val), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(key string) string {
		b, _ := os.ReadFile(filepath.Join(root, key))
		return strings.TrimSpace(string(b))
	}
	write("net/ipv4/ip_forward", "0\n")
	rep, err := Sysctls{ProcSys: root}.Apply()
	if err != nil || rep.BridgeNetfilter || read("net/ipv4/ip_forward") != "1" {
		t.Fatalf("without br_netfilter: %+v, %v, ip_forward=%s", rep, err, read("net/ipv4/ip_forward"))
	}
	write("net/bridge/bridge-nf-call-iptables", "0\n")
	write("net/bridge/bridge-nf-call-ip6tables", "0\n")
	rep, err = Sysctls{ProcSys: root}.Apply()
	if err != nil || !rep.BridgeNetfilter || read("net/bridge/bridge-nf-call-iptables") != "1" || read("net/bridge/bridge-nf-call-ip6tables") != "1" {
		t.Fatalf("with br_netfilter: %+v, %v", rep, err)
	}
	if _, err := (Sysctls{ProcSys: root, IPv6: true}).Apply(); err == nil {
		t.Fatal("missing net.ipv6.conf.all.forwarding was not an error")
	}
}
